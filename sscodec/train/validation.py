"""Validation while training (`train.eval_every`): quality metrics on fixed held-out clips.

At start the main process picks `train.eval_clips` clips once, deterministically (a shuffle seeded
by `config.seed`; speech-labelled items first, then unlabelled ones, then music; noise never;
unreadable, silent or too-short items skipped), with the same readers and -3 dBFS peak
normalization as `sscodec eval` (sscodec.quality.eval_data). At every eval step it codes them with the
current generator parameters and codebooks at the bitrates of `train.eval_kbps` (by default the
lowest, n_q = 1, and the highest, n_q = N_q) with one jitted function (one compile per depth),
scores each clip with sscodec.quality.metrics and averages over the clips:

    eval/mel@0.45kbps, eval/visqol_speech@0.45kbps, eval/pesq@0.45kbps, ..., eval/pesq@1.8kbps

(the kbps of `kbps_for_num_quantizers`, written with :g), plus `eval/failed_scores` and
`perf/eval_seconds`. A multi-channel model (`model.channels` > 1) codes [T, C] clips (mono files
duplicated into every channel) and each score is the mean of the channels' scores. "mel" is the paper-form reconstruction loss with the config's mel settings
(lower is better; the paper's form whatever `loss.mel_loss` trains with, so recipes compare); the speech metrics (visqol_speech, pesq, stoi) skip clips labelled music. A
score that fails on a clip (PESQ's "no utterances detected", a NaN from ViSQOL on a silent
decode, any exception) is left out of that metric's average, logged and counted in
`eval/failed_scores`; a metric that fails on every clip is left out of the results.

Multi-host: `run_eval` must be called by every process at the same steps. It gathers the
generator parameters and quantizer state to host memory on all processes (a collective for
arrays sharded over several processes), then only the main process, which holds the
`Validator`, reconstructs on its own default device: no sharded computation runs on one process.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from data_pipelines.sources import open_source
from sscodec.quality import eval_data, metrics
from sscodec.nn import losses
from sscodec.config import kbps_for_num_quantizers, num_quantizers_for_kbps, samples_per_frame
from sscodec.train.reporting import MetricWriter, reconstruct_fn
from sscodec.train.state import eval_params_key

log = logging.getLogger(__name__)

METRICS = ("mel", "visqol_speech", "pesq", "stoi", "visqol_audio", "si_sdr")  # as config.validate
SPEECH_ONLY = frozenset(("visqol_speech", "pesq", "stoi"))
# Order of preference for clips by their kind; other kinds (noise) are never used.
KIND_RANK = {"speech": 0, "": 1, "music": 2}
TB_AUDIO_CLIPS = 4  # clips whose reconstructions go to TensorBoard at each eval (~0.4 MB each)
POSTFIX_ORDER = ("pesq", "visqol_speech", "visqol_audio", "stoi", "si_sdr", "mel")


@dataclasses.dataclass
class EvalClip:
    name: str
    audio: np.ndarray  # float32 [T] (or [T, C]), whole frames, peak -3 dBFS
    speech: bool  # speech metrics are scored on it (anything not labelled music)


def select_clips(spec: str, count: int, seconds: float, sample_rate: int, frame_size: int, *,
                 seed: int = 0, data_dir: str = "", min_samples: int = 0,
                 channels: int = 1) -> list[EvalClip]:
    """The first `count` usable items of `spec` ("" = the embedded corpus) in a seeded order,
    speech first: the first `seconds` of each, cut to whole frames and peak-normalized
    ([T, channels] when channels > 1)."""
    spec = spec or "embedded"
    source = open_source(spec, data_dir=data_dir)
    order = np.random.default_rng(seed).permutation(len(source))
    candidates = sorted((int(i) for i in order if source.kind(int(i)) in KIND_RANK),
                        key=lambda i: KIND_RANK[source.kind(i)])  # stable: keeps the seeded order
    clips: list[EvalClip] = []
    skipped: list[tuple[str, str]] = []
    for i in candidates:
        if len(clips) == count:
            break
        read = eval_data._read_clips(source, [i], seconds, sample_rate, skipped, channels)
        if not read:
            continue  # unreadable, non-finite, silent or under 0.5 s (listed in `skipped`)
        name, x = read[0]
        x = x[: len(x) // frame_size * frame_size]
        if len(x) < max(min_samples, frame_size):
            skipped.append((name, f"shorter than {min_samples} samples"))
            continue
        (x,) = eval_data._peak_normalize(x)
        kind = source.kind(i)
        clips.append(EvalClip(f"{kind or 'audio'}_{name}", x, speech=kind != "music"))
    if skipped:
        log.warning("eval: skipped %d unusable item(s) of %s: %s", len(skipped), spec,
                    "; ".join(f"{n} ({r})" for n, r in skipped[:5]))
    if not clips:
        raise FileNotFoundError(f"train.eval_data: no usable speech, music or unlabelled clips "
                                f"in {spec!r}")
    if len(clips) < count:
        log.warning("eval: only %d usable clip(s) in %s (train.eval_clips=%d)", len(clips), spec,
                    count)
    return clips


class Validator:
    """Codes the fixed clips at the validation bitrates and scores them (main process)."""

    def __init__(self, config: ConfigDict, generator, clips: Sequence[EvalClip]):
        if not clips:
            raise ValueError("Validator needs at least one clip")
        self.sample_rate = config.sample_rate
        self.depths = validation_depths(config)
        self.kbps = {n: kbps_for_num_quantizers(config, n) for n in self.depths}
        self.metric_names = tuple(config.train.eval_metrics)
        unknown = sorted(set(self.metric_names) - set(METRICS))
        if unknown:
            raise ValueError(f"train.eval_metrics: unknown {unknown}; known: {', '.join(METRICS)}")
        self.clips = list(clips)
        length = max(len(c.audio) for c in self.clips)
        # zero-padded, one shape: [clips, T] or [clips, T, C]
        self._batch = np.zeros((len(self.clips), length) + self.clips[0].audio.shape[1:],
                               np.float32)
        for k, clip in enumerate(self.clips):
            self._batch[k, : len(clip.audio)] = clip.audio
        self._fn = reconstruct_fn(generator) if generator is not None else None
        loss = config.loss  # the training reconstruction loss exactly
        windows, bins = ((config.train.eval_mel_windows, config.train.eval_mel_bins)
                         if config.train.eval_mel_windows else (loss.mel_windows, loss.mel_bins))
        self._mel = {"windows": tuple(windows), "n_mels": losses.mel_bins_per_window(windows, bins),
                     "log_epsilon": loss.log_epsilon, "mel_l1": loss.mel_l1,
                     "log_floor": loss.log_floor}
        self._visqol = metrics.Visqol()
        self._inputs_written = False
        self.failures: collections.Counter = collections.Counter()  # metric key -> clips, whole run
        self._check_dependencies()
        if SPEECH_ONLY & set(self.metric_names) and not any(c.speech for c in self.clips):
            log.warning("eval: no speech clips, so %s are not scored",
                        ", ".join(sorted(SPEECH_ONLY & set(self.metric_names))))

    @classmethod
    def from_config(cls, config: ConfigDict, generator) -> "Validator":
        t = config.train
        clips = select_clips(t.eval_data, t.eval_clips, t.eval_seconds, config.sample_rate,
                             samples_per_frame(config), seed=config.seed,
                             data_dir=config.data.data_dir,
                             min_samples=max(config.loss.mel_windows),
                             channels=config.model.channels)
        log.info("eval: %d clip(s) of %s every %d steps at %s kbps: %s", len(clips),
                 t.eval_data or "embedded", t.eval_every,
                 " and ".join(f"{kbps_for_num_quantizers(config, n):g}"
                              for n in validation_depths(config)),
                 ", ".join(c.name for c in clips))
        return cls(config, generator, clips)

    def _check_dependencies(self) -> None:
        """Fails at start (not hours later at the first eval) if a metric's package is missing."""
        for name in self.metric_names:
            if name in ("visqol_speech", "visqol_audio"):
                self._visqol._api(name.split("_")[1])  # loads the model once; reused by every call
            elif name == "pesq":
                import pesq  # noqa: F401
            elif name == "stoi":
                import pystoi  # noqa: F401

    def key(self, metric: str, n_q: int) -> str:
        return f"eval/{metric}@{self.kbps[n_q]:g}kbps"

    def _score_one(self, metric: str, ref: np.ndarray, est: np.ndarray) -> float | None:
        if ref.ndim == 2:  # [T, C]: the mean of the channels' scores (None if one is undefined)
            values = [self._score_one(metric, ref[:, c], est[:, c]) for c in range(ref.shape[1])]
            return None if None in values else float(np.mean(values))
        rate = self.sample_rate
        if metric == "mel":
            return metrics.mel_distance(ref, est, rate, **self._mel)
        if metric == "visqol_speech":
            return self._visqol.speech(ref, est, rate)
        if metric == "visqol_audio":
            return self._visqol.audio(ref, est, rate)
        if metric == "pesq":
            return metrics.pesq_wb(ref, est, rate)  # None where PESQ finds no speech
        if metric == "stoi":
            return metrics.stoi(ref, est, rate)
        if metric == "si_sdr":
            return metrics.si_sdr(ref, est)
        raise ValueError(f"unknown eval metric {metric!r}")

    def reconstruct(self, params: Mapping) -> dict[int, np.ndarray]:
        """{n_q: [clips, T] (or [clips, T, C]) output} for each validation depth, from host or device params
        ({"gen_params", "quantizer"})."""
        params = jax.device_put({"gen_params": params["gen_params"],
                                 "quantizer": params["quantizer"]})
        batch = jnp.asarray(self._batch)
        return {n: np.asarray(self._fn(params["gen_params"], params["quantizer"], batch, n),
                              np.float32)  # bfloat16 compute gives bfloat16 audio
                for n in self.depths}

    def score(self, reconstructions: Mapping[int, np.ndarray],
              step: int | None = None) -> dict[str, float]:
        """The metrics averaged over the clips they could be computed on, and
        `eval/failed_scores`: how many (clip, metric, bitrate) scores failed and were skipped."""
        sums: dict[str, float] = collections.defaultdict(float)
        counts: dict[str, int] = collections.defaultdict(int)
        failed = 0
        for n_q, out in reconstructions.items():
            for k, clip in enumerate(self.clips):
                ref = clip.audio
                est = np.asarray(out[k, : len(ref)], np.float64)
                for metric in self.metric_names:
                    if metric in SPEECH_ONLY and not clip.speech:
                        continue
                    key = self.key(metric, n_q)
                    try:
                        value = self._score_one(metric, ref, est)
                        problem = "undefined" if value is None else f"gave {value}"
                    except Exception as e:  # noqa: BLE001: a metric must never stop training
                        value, problem = None, f"{type(e).__name__}: {e}"
                    if value is None or not math.isfinite(value):
                        failed += 1
                        self.failures[key] += 1
                        log.warning("eval%s: %s %s on clip %s; skipped",
                                    "" if step is None else f" at step {step}", key, problem,
                                    clip.name)
                        continue
                    sums[key] += value
                    counts[key] += 1
        results = {key: sums[key] / counts[key] for key in sums}
        results["eval/failed_scores"] = float(failed)
        return results

    def write_audio(self, writer: MetricWriter, step: int,
                    reconstructions: Mapping[int, np.ndarray]) -> None:
        """The first TB_AUDIO_CLIPS clips' reconstructions (and, once, their inputs)."""
        shown = self.clips[:TB_AUDIO_CLIPS]
        if not self._inputs_written:
            for clip in shown:
                writer.audio(f"eval_audio/{clip.name}/input", clip.audio, step, self.sample_rate)
            self._inputs_written = True
        for n_q, out in reconstructions.items():
            for k, clip in enumerate(shown):
                writer.audio(f"eval_audio/{clip.name}/{self.kbps[n_q]:g}kbps",
                             out[k, : len(clip.audio)], step, self.sample_rate)

    def __call__(self, step: int, params: Mapping, writer: MetricWriter | None = None,
                 started: float | None = None) -> dict[str, float]:
        """Reconstructs, writes the audio to TensorBoard, scores; returns the metrics with
        `perf/eval_seconds` (from `started`, a perf_counter time, if given)."""
        t0 = time.perf_counter() if started is None else started
        reconstructions = self.reconstruct(params)
        if writer is not None:
            self.write_audio(writer, step, reconstructions)
        results = self.score(reconstructions, step)
        results["perf/eval_seconds"] = time.perf_counter() - t0
        log.info("%s", self.summary(step, results))
        return results

    def summary(self, step: int, results: Mapping[str, float]) -> str:
        parts = []
        for n_q in self.depths:
            scores = [f"{m} {results[self.key(m, n_q)]:.3g}" for m in self.metric_names
                      if self.key(m, n_q) in results]
            parts.append(f"{self.kbps[n_q]:g} kbps: {', '.join(scores) or 'no scores'}")
        failed = int(results.get("eval/failed_scores", 0))
        return (f"eval at step {step} ({len(self.clips)} clips, "
                f"{results.get('perf/eval_seconds', 0.0):.1f} s"
                + (f", {failed} failed scores skipped" if failed else "") + "): "
                + " | ".join(parts))

    def postfix(self, results: Mapping[str, float]) -> dict[str, str]:
        """One headline score for the progress bar: the best-known metric at the top bitrate."""
        top = self.depths[-1]
        for metric in POSTFIX_ORDER:
            key = self.key(metric, top)
            if metric in self.metric_names and key in results:
                return {f"{metric}@{self.kbps[top]:g}": f"{results[key]:.3g}"}
        return {}


def validation_depths(config: ConfigDict) -> list[int]:
    """The n_q values validation codes at: those of `train.eval_kbps`, else 1 and N_q."""
    if config.train.eval_kbps:
        return sorted({num_quantizers_for_kbps(config, k) for k in config.train.eval_kbps})
    return sorted({1, config.quantizer.num_quantizers})


def due(config: ConfigDict, done: int) -> bool:
    """Whether step `done` evaluates: every `train.eval_every` steps and at the final step."""
    every = config.train.eval_every
    return every > 0 and (done % every == 0 or done == config.num_steps)


def fetch_params(state: Mapping) -> dict:
    """The generator parameters and quantizer state as host numpy arrays on every process.

    A collective when the arrays span several processes: every process must call it at the same
    step. Every leaf of the training state lives on a global sharding (see state.create_state).
    """
    tree = {"gen_params": state[eval_params_key(state)], "quantizer": state["quantizer"]}
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)


def run_eval(validator: Validator | None, state: Mapping, step: int,
             writer: MetricWriter | None) -> dict[str, float]:
    """Called by every process at eval steps: gathers the parameters everywhere, then scores on
    the process that holds the validator (the main one); {} elsewhere."""
    # Steps dispatch asynchronously: finish the queued ones first, or their compute would be
    # booked as eval time (and the training rate would read 100x too high).
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    params = fetch_params(state)
    if validator is None:
        return {}
    return validator(step, params, writer, started=t0)
