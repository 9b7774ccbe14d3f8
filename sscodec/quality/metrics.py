"""Objective quality metrics for codec evaluation: numpy arrays in, plain floats out.

Every metric compares a mono `reference` with an `estimate` (the decoded audio) at one sample rate;
each resamples (with soxr) to the rate its reference implementation expects:

- ``visqol_audio``: ViSQOL v3 audio mode (MOS-LQO, 1..~4.75), both signals at 48 kHz.
- ``visqol_speech``: ViSQOL v3 speech mode at 16 kHz with the deep-lattice mapper (the C++ default).
- ``pesq``: wideband PESQ (ITU-T P.862.2, MOS-LQO 1.04..4.64) at 16 kHz, via the `pesq` package.
- ``stoi``: STOI (0..1) via `pystoi`, which resamples to 10 kHz itself.
- ``si_sdr``: scale-invariant SDR in dB (Le Roux et al. 2019), capped to +-100 dB.
- ``mel_distance``: exactly the training reconstruction loss, `losses.multiscale_mel_loss`
  (see `mel_distance`), so eval and training report one quantity; 0 for identical signals.

The first three only make sense on speech (`SPEECH_METRICS`). `score` computes any subset and
returns None, with a logged warning, where a metric is undefined for the input (silence, audio
too short): the results go into JSON, so they are never inf or NaN.

Stereo (`score_channels`): every metric on each channel and, for two channels, on the mid
(L + R) / 2 and the side (L - R) / 2 signals, as `METRIC_left`, `METRIC_right`, `METRIC_mid`,
`METRIC_side` (`METRIC_ch0`, ... for more channels), and `METRIC` itself the mean over the
channels. Mid scores what a mono listener hears; side scores the stereo image, which a codec
that collapsed both channels into one would lose (its side is silence). A view that is silent in
the reference (the side of a mono file in both channels) is None for every metric: scores
against silence are undefined or meaningless (ViSQOL gives 4.7 or NaN). `score` itself scores
one mono signal, mixing multi-channel input down, as it always has.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import tempfile
from typing import Iterator, Sequence

import numpy as np
import soxr

from data_pipelines.audio_io import to_mono
from data_pipelines.transforms import fit_length

log = logging.getLogger(__name__)

SPEECH_METRICS = ("visqol_speech", "pesq", "stoi")  # only meaningful on speech
ALL_METRICS = ("visqol_audio", "visqol_speech", "pesq", "stoi", "si_sdr", "mel_distance")
HIGHER_IS_BETTER = {"visqol_audio": True, "visqol_speech": True, "pesq": True, "stoi": True,
                    "si_sdr": True, "mel_distance": False}

SI_SDR_CAP_DB = 100.0


def _mono(x: np.ndarray, name: str) -> np.ndarray:
    """[T] or [T, channels] (mixed down) -> float64 [T]; rejects empty input."""
    x = to_mono(np.asarray(x, np.float64))
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be non-empty [T] or [T, channels] audio, "
                         f"got shape {x.shape}")
    return x


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, est = _mono(reference, "reference"), _mono(estimate, "estimate")
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate differ in length ({len(ref)} vs {len(est)}); "
                         "score() trims or pads the estimate for you")
    return ref, est


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    # Not audio_io.resample: that returns float32, and the scorers get float64.
    return x if rate_in == rate_out else soxr.resample(x, rate_in, rate_out)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of `estimate` against `reference` (both made zero-mean).

    10 log10(|a s|^2 / |a s - e|^2) with a = <e, s> / <s, s>. The noise energy gets a floor of
    1e-10 of the target energy (so identical signals give exactly +100 dB rather than inf) and the
    result is clipped to [-100, 100] dB; a silent (constant) estimate scores -100 dB, the limit
    of a vanishing one. Raises ValueError for a silent reference, where SI-SDR is undefined.
    """
    ref, est = _pair(reference, estimate)
    ref, est = ref - ref.mean(), est - est.mean()
    ref_energy = float(ref @ ref)
    if ref_energy == 0.0:
        raise ValueError("SI-SDR is undefined for a silent reference")
    if not est.any():
        return -SI_SDR_CAP_DB
    target = (est @ ref) / ref_energy * ref
    noise = est - target
    num, den = float(target @ target), float(noise @ noise)
    floor = 10.0 ** (-SI_SDR_CAP_DB / 10.0)
    # tiny keeps log10 finite when the estimate is silent or orthogonal (num = 0).
    value = 10.0 * math.log10((num + np.finfo(np.float64).tiny) /
                              (den + floor * num + np.finfo(np.float64).tiny))
    return float(np.clip(value, -SI_SDR_CAP_DB, SI_SDR_CAP_DB))


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *,
                 windows: Sequence[int] = (64, 128, 256, 512, 1024, 2048), n_mels: int = 64,
                 log_epsilon: float = 1e-3, mel_l1: str = "sum",
                 log_floor: str = "relative") -> float:
    """The training reconstruction loss (`losses.multiscale_mel_loss`, TensorBoard's
    loss/reconstruction), computed by that very function; lower is better, 0 for identical signals.

    sum over window sizes s of mean_t [ ||S_s(x) - S_s(y)||_1 + sqrt(s/2) ||log(S_s(x) + eps) -
    log(S_s(y) + eps)||_2 ] on 64-bin mel magnitude spectrograms with hop s/4, eps relative to the
    reference's loudest bin (see losses.py). Not DAC's mel
    distance: the log term is an sqrt(s/2)-weighted L2 over mel bins, as in the SoundStream paper,
    which makes values large (hundreds to thousands, dominated by quiet passages). Defaults match
    the default config; pass a model's `config.loss.mel_windows`, `mel_bins`, `log_epsilon`, `mel_l1`
    and `log_floor` to
    match its training curve. Compiled once per clip length (an evaluation set has one or few).
    """
    ref, est = _pair(reference, estimate)
    if len(ref) < max(windows):
        raise ValueError(f"mel_distance needs at least {max(windows)} samples, got {len(ref)}")
    return float(_mel_loss()(ref.astype(np.float32), est.astype(np.float32), sample_rate,
                             tuple(windows), n_mels, log_epsilon, mel_l1, log_floor))


@functools.lru_cache(maxsize=None)
def _mel_loss():
    import jax

    from sscodec.nn.losses import multiscale_mel_loss
    return jax.jit(multiscale_mel_loss, static_argnums=(2, 3, 4, 5, 6, 7))


def pesq_wb(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float | None:
    """Wideband PESQ (P.862.2) on both signals resampled to 16 kHz; None (and a warning) where
    PESQ finds no speech or the audio is under 0.25 s."""
    import pesq

    ref, est = _pair(reference, estimate)
    ref, est = _resample(ref, sample_rate, 16000), _resample(est, sample_rate, 16000)
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # pesq divides silence by its 0 peak
            return float(pesq.pesq(16000, ref, est, "wb"))
    except pesq.PesqError as e:
        message = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        log.warning("pesq is undefined here (%s: %s); reporting None", type(e).__name__, message)
        return None


def stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """STOI (0..1, Taal et al. 2011) via `pystoi`, which resamples to 10 kHz itself."""
    import pystoi

    ref, est = _pair(reference, estimate)
    return float(pystoi.stoi(ref, est, sample_rate))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hides what native code writes to fd 2 (TFLite's "INFO: Created TensorFlow Lite XNNPACK
    delegate" banner) but passes on any other line, so real errors stay visible."""
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if line.strip() and not line.startswith("INFO: "):
                    log.warning("visqol: %s", line)


class Visqol:
    """ViSQOL v3 (visqol-python) in audio and speech mode.

    Each mode's `VisqolApi` is created on first use and reused: keep one `Visqol` per process.
    The first audio-mode call JIT-compiles visqol's numba kernels (~10 s on 2 cores with an empty
    numba cache, ~2 s once numba's on-disk cache holds them); after that audio mode costs ~0.1 s
    and speech mode ~0.03 s per second of audio
    (experiments/benchmarks/eval_metrics.py measures both).
    """

    def __init__(self) -> None:
        self._apis: dict[str, object] = {}

    def _api(self, mode: str):
        if mode not in self._apis:
            from visqol.api import VisqolApi
            from visqol.quality_mapper import has_lattice_runtime

            api = VisqolApi()
            if mode == "speech":
                # visqol's polynomial fallback over-predicts speech MOS by 1-2 points: refuse it.
                if not has_lattice_runtime():
                    raise ImportError("ViSQOL speech mode needs the lattice model runtime "
                                      "ai-edge-litert: pip install 'visqol-python[lattice]'")
                with _quiet_stderr():
                    api.create(mode="speech", use_lattice_model=True)
            else:
                api.create(mode="audio")
            self._apis[mode] = api
        return self._apis[mode]

    def result(self, mode: str, reference: np.ndarray, estimate: np.ndarray, sample_rate: int):
        """visqol's whole SimilarityResult in `mode` ("speech" at 16 kHz, "audio" at 48 kHz):
        the MOS and its inputs, e.g. `fvnsim`, each band's mean similarity."""
        rate = {"speech": 16000, "audio": 48000}[mode]
        ref, est = _pair(reference, estimate)
        ref, est = _resample(ref, sample_rate, rate), _resample(est, sample_rate, rate)
        return self._api(mode).measure_from_arrays(ref, est, rate)

    def audio(self, reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
        """ViSQOL audio-mode MOS-LQO (1..~4.75) with both signals resampled to 48 kHz."""
        return float(self.result("audio", reference, estimate, sample_rate).moslqo)

    def speech(self, reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
        """ViSQOL speech-mode MOS-LQO (1..5) at 16 kHz with the deep-lattice quality mapper."""
        return float(self.result("speech", reference, estimate, sample_rate).moslqo)


def check_metrics(names: Sequence[str]) -> None:
    """Raises ValueError naming any metric not in ALL_METRICS."""
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")


STEREO_VIEWS = ("left", "right", "mid", "side")


def channel_views(x: np.ndarray) -> dict[str, np.ndarray]:
    """[T, 2] -> {"left", "right", "mid": (L + R) / 2, "side": (L - R) / 2}; [T, C] with C != 2
    -> {"ch0": ..., "ch1": ..., ...}."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"expected non-empty [T, channels] audio, got shape {x.shape}")
    if x.shape[1] == 2:
        left, right = x[:, 0], x[:, 1]
        return {"left": left, "right": right, "mid": (left + right) / 2, "side": (left - right) / 2}
    return {f"ch{c}": x[:, c] for c in range(x.shape[1])}


def view_names(metric_names: Sequence[str], channels: int) -> list[str]:
    """The per-view keys `score_channels` adds for `channels` channels, metric by metric."""
    views = STEREO_VIEWS if channels == 2 else [f"ch{c}" for c in range(channels)]
    return [f"{m}_{v}" for m in metric_names for v in views]


def score_any(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *, speech: bool,
              visqol: Visqol | None = None,
              metrics: Sequence[str] = ALL_METRICS) -> dict[str, float | None]:
    """`score_channels` for a [T, C] reference, `score` for a [T] one."""
    scorer = score_channels if np.ndim(reference) == 2 else score
    return scorer(reference, estimate, sample_rate, speech=speech, visqol=visqol, metrics=metrics)


def score_channels(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *,
                   speech: bool, visqol: Visqol | None = None,
                   metrics: Sequence[str] = ALL_METRICS) -> dict[str, float | None]:
    """`score` of multi-channel audio: reference [T, C]; estimate [T', C], or mono [T'] (a mono
    codec's output, heard in every channel). For each metric: METRIC_<view> for every view of
    `channel_views` (None throughout for a view silent in the reference) and METRIC, the mean of
    the channels' scores (None if one is undefined)."""
    ref = np.asarray(reference, np.float64)
    est = np.asarray(estimate, np.float64)
    if ref.ndim != 2:
        raise ValueError(f"score_channels takes [T, channels] references, got shape {ref.shape}")
    if est.ndim == 1:
        est = np.repeat(est[:, None], ref.shape[1], axis=1)
    if est.ndim != 2 or est.shape[1] != ref.shape[1]:
        raise ValueError(f"the estimate's shape {est.shape} does not match the reference's "
                         f"{ref.shape[1]} channels")
    if visqol is None and {"visqol_audio", "visqol_speech"} & set(metrics):
        visqol = Visqol()
    est = fit_length(est, len(ref))
    ref_views, est_views = channel_views(ref), channel_views(est)
    # Silent: below -100 dB of the reference's peak (exactly 0 for the side of a mono file).
    floor = 1e-5 * max(float(np.max(np.abs(ref))), 1e-12)
    per_view = {v: score(ref_views[v], est_views[v], sample_rate, speech=speech, visqol=visqol,
                         metrics=metrics) if np.max(np.abs(ref_views[v])) > floor
                else dict.fromkeys(metrics) for v in ref_views}
    channel_keys = list(ref_views)[: ref.shape[1]]  # left, right (or ch0, ch1, ...)
    results: dict[str, float | None] = {}
    for name in metrics:
        values = [per_view[v][name] for v in channel_keys]
        results[name] = None if None in values else float(np.mean(values))
    for name in metrics:
        results.update({f"{name}_{v}": per_view[v][name] for v in ref_views})
    return results


def score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *, speech: bool,
          visqol: Visqol | None = None,
          metrics: Sequence[str] = ALL_METRICS) -> dict[str, float | None]:
    """Every requested metric of `estimate` against `reference`, in the order asked.

    The estimate is trimmed or zero-padded to the reference's length. Speech-only metrics are
    None when `speech` is False; a metric that is undefined for this input (pesq or SI-SDR on
    silence, audio too short for ViSQOL or the mel windows) is None with a logged warning. Pass
    one `visqol` across calls: creating it costs more than a measurement.
    """
    check_metrics(metrics)
    ref = _mono(reference, "reference")
    est = fit_length(_mono(estimate, "estimate"), len(ref))
    if visqol is None and {"visqol_audio", "visqol_speech"} & set(metrics):
        visqol = Visqol()
    compute = {
        "visqol_audio": lambda: visqol.audio(ref, est, sample_rate),
        "visqol_speech": lambda: visqol.speech(ref, est, sample_rate),
        "pesq": lambda: pesq_wb(ref, est, sample_rate),
        "stoi": lambda: stoi(ref, est, sample_rate),
        "si_sdr": lambda: si_sdr(ref, est),
        "mel_distance": lambda: mel_distance(ref, est, sample_rate),
    }
    results: dict[str, float | None] = {}
    for name in metrics:
        value = None
        if speech or name not in SPEECH_METRICS:
            try:
                value = compute[name]()
            except ValueError as e:  # the metric's way of saying "undefined for this input"
                log.warning("%s is undefined here (%s); reporting None", name, e)
            if value is not None and not math.isfinite(value):
                log.warning("%s gave %s; reporting None", name, value)
                value = None
        results[name] = value
    return results
