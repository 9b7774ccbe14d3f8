"""sscodec.quality.metrics on real audio from the embedded corpus: best scores for identical signals,
monotone in noise, and the same numbers as the reference packages and the training loss."""

import logging
import math
import os

import numpy as np
import pytest
import soundfile as sf
import soxr

from sscodec.quality import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data_pipelines", "embedded")
RATE = 24000
SNRS_DB = (30, 20, 10)  # pink noise; below ~10 dB PESQ and ViSQOL speech sit at their floor


def _clip(path: str, start_s: float, seconds: float = 3.0) -> np.ndarray:
    x, rate = sf.read(os.path.join(CORPUS, path), dtype="float32")
    assert rate == RATE
    return x[int(start_s * rate): int((start_s + seconds) * rate)]


@pytest.fixture(scope="module")
def speech():
    return _clip("speech/asterisk_allison_01.flac", 1.0)


@pytest.fixture(scope="module")
def music():
    return _clip("music/piano_waltz_fmaj.flac", 2.0)


@pytest.fixture(scope="module")
def visqol():
    return metrics.Visqol()


def _noisy(x: np.ndarray, snr_db: float) -> np.ndarray:
    noise = _clip("noise/pink.flac", 0.0, len(x) / RATE)
    gain = np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return (x + gain * noise).astype(np.float32)


@pytest.fixture(scope="module")
def speech_scores(speech, visqol):
    """score() of the clean speech and of the speech at each of SNRS_DB, computed once."""
    return [metrics.score(speech, speech, RATE, speech=True, visqol=visqol)] + [
        metrics.score(speech, _noisy(speech, snr), RATE, speech=True, visqol=visqol)
        for snr in SNRS_DB]


def test_identical_signals_score_best(speech_scores):
    best = speech_scores[0]
    assert set(best) == set(metrics.ALL_METRICS)
    assert best["visqol_audio"] > 4.7  # audio mode tops out near 4.75
    assert best["visqol_speech"] > 4.5
    assert best["pesq"] == pytest.approx(4.64, abs=0.01)
    assert best["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert best["si_sdr"] == metrics.SI_SDR_CAP_DB
    assert best["mel_distance"] == 0.0


def test_more_noise_scores_worse(speech_scores):
    for name in metrics.ALL_METRICS:
        values = [s[name] for s in speech_scores]  # clean, then SNRS_DB from high to low
        sign = 1 if metrics.HIGHER_IS_BETTER[name] else -1
        assert all(sign * (a - b) > 0 for a, b in zip(values, values[1:])), (name, values)
    # White-ish noise is near orthogonal to the speech: SI-SDR is the SNR.
    assert [s["si_sdr"] for s in speech_scores[1:]] == pytest.approx(SNRS_DB, abs=0.1)


def test_music_scores_are_monotone_and_skip_speech_metrics(music, visqol):
    scores = [metrics.score(music, _noisy(music, snr), RATE, speech=False, visqol=visqol)
              for snr in SNRS_DB]
    for s in scores:
        assert all(s[name] is None for name in metrics.SPEECH_METRICS)
        assert all(isinstance(s[n], float) and math.isfinite(s[n])
                   for n in metrics.ALL_METRICS if n not in metrics.SPEECH_METRICS)
    for name in ("visqol_audio", "si_sdr"):
        assert scores[0][name] > scores[1][name] > scores[2][name], name
    assert scores[0]["mel_distance"] < scores[1]["mel_distance"] < scores[2]["mel_distance"]


def test_si_sdr_closed_form_and_invariances(speech):
    rng = np.random.default_rng(0)
    s = speech.astype(np.float64) - speech.mean()
    n = rng.standard_normal(len(s))
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s  # orthogonal to s, so the optimal scale is exactly a
    n *= 0.3 * np.linalg.norm(s) / np.linalg.norm(n)
    a = 0.7
    expected = 10 * np.log10(np.sum((a * s) ** 2) / np.sum(n ** 2))
    assert metrics.si_sdr(s, a * s + n) == pytest.approx(expected, abs=1e-6)
    assert metrics.si_sdr(s, -2.5 * (a * s + n)) == pytest.approx(expected, abs=1e-6)
    assert metrics.si_sdr(s, a * s + n + 0.1) == pytest.approx(expected, abs=1e-6)  # DC removed
    assert metrics.si_sdr(s + 0.1, a * s + n) == pytest.approx(expected, abs=1e-6)
    assert metrics.si_sdr(s, np.zeros_like(s)) == -metrics.SI_SDR_CAP_DB
    with pytest.raises(ValueError, match="silent reference"):
        metrics.si_sdr(np.zeros_like(s), s)


def test_pesq_and_stoi_equal_the_reference_packages(speech):
    import pesq
    import pystoi

    degraded = _noisy(speech, 20)
    ref16, deg16 = (soxr.resample(x.astype(np.float64), RATE, 16000) for x in (speech, degraded))
    assert metrics.pesq_wb(speech, degraded, RATE) == pesq.pesq(16000, ref16, deg16, "wb")
    assert metrics.stoi(speech, degraded, RATE) == pytest.approx(
        pystoi.stoi(speech.astype(np.float64), degraded.astype(np.float64), RATE), abs=1e-9)


def test_pesq_on_silence_is_none_with_a_warning(speech, caplog):
    silence = np.zeros_like(speech)
    with caplog.at_level(logging.WARNING, logger="sscodec.quality.metrics"):
        assert metrics.pesq_wb(silence, silence, RATE) is None
    assert "NoUtterancesError" in caplog.text


def test_visqol_equals_the_file_api(speech, visqol, tmp_path):
    """Our array path (soxr to 48 / 16 kHz) scores what ViSQOL's own WAV-file path scores on
    the same samples, and speech mode uses the lattice mapper, not the polynomial fallback."""
    from visqol.api import VisqolApi

    degraded = _noisy(speech, 20)
    for mode, rate, ours in (("audio", 48000, visqol.audio), ("speech", 16000, visqol.speech)):
        paths = []
        for name, x in (("ref", speech), ("deg", degraded)):
            paths.append(str(tmp_path / f"{name}_{mode}.wav"))
            sf.write(paths[-1], soxr.resample(x.astype(np.float64), RATE, rate), rate,
                     subtype="DOUBLE")
        api = VisqolApi()
        api.create(mode=mode, use_lattice_model=True if mode == "speech" else None)
        expected = api.measure(*paths).moslqo
        assert ours(speech, degraded, RATE) == pytest.approx(expected, abs=1e-9), mode
    polynomial = VisqolApi()
    polynomial.create(mode="speech", use_lattice_model=False)
    assert abs(polynomial.measure(*paths).moslqo - expected) > 0.05  # the two mappers differ


def test_mel_distance_is_the_training_loss(speech):
    import jax

    from sscodec.nn import losses

    degraded = _noisy(speech, 20)
    loss = jax.jit(losses.multiscale_mel_loss, static_argnums=(2, 3))
    for windows in ((64, 128, 256, 512, 1024, 2048), (64, 128, 256, 512, 1024)):
        ours = metrics.mel_distance(speech, degraded, RATE, windows=windows)
        assert ours == pytest.approx(float(loss(speech, degraded, RATE, windows)), rel=1e-3)
    with pytest.raises(ValueError, match="at least 2048 samples"):
        metrics.mel_distance(speech[:1000], speech[:1000], RATE)


def test_score_trims_or_pads_the_estimate(speech):
    cheap = ("si_sdr", "mel_distance")
    degraded = _noisy(speech, 20)
    exact = metrics.score(speech, degraded, RATE, speech=True, metrics=cheap)
    longer = np.concatenate([degraded, np.ones(1000, np.float32)])
    assert metrics.score(speech, longer, RATE, speech=True, metrics=cheap) == exact
    shorter = degraded[:-1000]
    padded = metrics.score(speech, np.pad(shorter, (0, 1000)), RATE, speech=True, metrics=cheap)
    assert metrics.score(speech, shorter, RATE, speech=True, metrics=cheap) == padded
    assert padded != exact
    assert list(metrics.score(speech, degraded, RATE, speech=False, metrics=("pesq", "si_sdr"))) \
        == ["pesq", "si_sdr"]
    with pytest.raises(ValueError, match="unknown metrics"):
        metrics.score(speech, degraded, RATE, speech=True, metrics=("snr",))


def test_score_on_silence_is_finite_or_none(speech, visqol, caplog):
    silence = np.zeros_like(speech)
    with caplog.at_level(logging.WARNING, logger="sscodec.quality.metrics"):
        result = metrics.score(silence, speech, RATE, speech=True, visqol=visqol,
                               metrics=("pesq", "stoi", "si_sdr", "mel_distance"))
    assert result["pesq"] is None and result["si_sdr"] is None
    assert "si_sdr is undefined" in caplog.text
    assert all(v is None or math.isfinite(v) for v in result.values())
    assert result["mel_distance"] > 0
