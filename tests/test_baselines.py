"""sscodec.evaluation.baselines on embedded speech: achieved bitrates, lengths, time alignment, and quality
that rises with the Opus bitrate."""

import os

import numpy as np
import pytest
import soundfile as sf
import soxr

from sscodec.evaluation import baselines

from sscodec.quality import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
RATE = 24000
OPUS_TEST_KBPS = (6, 12, 24)


def _clip(name: str, start_s: float, seconds: float) -> np.ndarray:
    x, rate = sf.read(os.path.join(SPEECH, name), dtype="float32")
    assert rate == RATE
    return x[int(start_s * rate): int((start_s + seconds) * rate)]


@pytest.fixture(scope="module")
def speech():
    """4 s of human speech."""
    return _clip("asterisk_allison_02.flac", 1.0, 4.0)


@pytest.fixture(scope="module")
def opus_coded(speech):
    return {kbps: baselines.opus(speech, RATE, kbps) for kbps in OPUS_TEST_KBPS}


def _waveform_lag(ref: np.ndarray, est: np.ndarray, max_lag: int) -> int:
    """Lag (samples, positive = est late) of the cross-correlation peak within +-max_lag."""
    n = len(ref) + len(est)
    c = np.fft.irfft(np.fft.rfft(est, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.arange(-max_lag, max_lag + 1)
    return int(lags[np.argmax(c[lags])])


def _log_spectrogram(x: np.ndarray, window: int = 256, hop: int = 6) -> np.ndarray:
    """[bins, frames] log magnitude, each bin's mean over time removed."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), window)[::hop]
    s = np.log(np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) + 1e-4).T
    return s - s.mean(axis=1, keepdims=True)


def _envelope_lag(pairs: list[tuple[np.ndarray, np.ndarray]], max_lag: int, hop: int = 6) -> int:
    """Lag (samples, positive = est late) that best lines up log spectrograms, summed over pairs.

    codec2 is a vocoder: it keeps spectral envelopes but not phase, so the waveform correlation
    is weak (~0.1) and its peak wanders; log spectrograms line up. One 3 s clip still scatters
    by about +-4 ms, hence the pooling over clips.
    """
    total = 0.0
    for ref, est in pairs:
        a, b = _log_spectrogram(ref, hop=hop), _log_spectrogram(est, hop=hop)
        n = 1 << (2 * a.shape[1]).bit_length()  # a power of two: fast, and no wrap-around
        c = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n).sum(axis=0)
        total = total + c / (np.linalg.norm(a) * np.linalg.norm(b))
    lags = np.arange(-(max_lag // hop), max_lag // hop + 1)
    return int(lags[np.argmax(total[lags])] * hop)


def test_registry():
    assert baselines.BASELINES == {"opus": baselines.opus, "codec2": baselines.codec2}
    assert baselines.OPUS_KBPS == (6, 9, 12, 18, 24)


def test_opus_achieves_about_the_requested_bitrate(speech, opus_coded):
    for kbps, coded in opus_coded.items():
        assert coded.kbps == pytest.approx(coded.num_bytes * 8 / 4.0 / 1000)
        assert coded.kbps == pytest.approx(kbps, rel=0.25), kbps


def test_opus_output_is_aligned_and_the_same_length(speech, opus_coded):
    for kbps, coded in opus_coded.items():
        assert coded.audio.shape == speech.shape and coded.audio.dtype == np.float32
        assert _waveform_lag(speech, coded.audio, 2000) == 0, kbps
        # Opus keeps the waveform, so the aligned correlation is strong (not a vacuous peak).
        assert np.corrcoef(speech, coded.audio)[0, 1] > 0.6, kbps


def test_opus_quality_rises_with_bitrate(speech, opus_coded):
    visqol = metrics.Visqol()
    si_sdr = [metrics.si_sdr(speech, opus_coded[k].audio) for k in OPUS_TEST_KBPS]
    mos = [visqol.speech(speech, opus_coded[k].audio, RATE) for k in OPUS_TEST_KBPS]
    assert si_sdr[0] < si_sdr[1] < si_sdr[2], si_sdr
    assert mos[0] < mos[1] < mos[2], mos


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_opus_at_other_sample_rates(speech, rate):
    x = soxr.resample(speech, RATE, rate).astype(np.float32)
    coded = baselines.opus(x, rate, 12)
    assert coded.audio.shape == x.shape
    assert _waveform_lag(x, coded.audio, 2000) == 0
    assert coded.kbps == pytest.approx(12, rel=0.25)


def test_opus_rejects_bitrates_outside_its_range(speech):
    for kbps in (0, 5.9, 511):
        with pytest.raises(ValueError, match=r"6\.\.510 kbps"):
            baselines.opus(speech, RATE, kbps)


def test_codec2_3200_bitrate_and_length(speech):
    coded = baselines.codec2(speech, RATE)
    assert coded.audio.shape == speech.shape and coded.audio.dtype == np.float32
    # 8 bytes per 20 ms frame; the delay padding adds at most two frames to 4 s.
    assert coded.num_bytes % 8 == 0
    assert coded.kbps == pytest.approx(3.2, rel=0.02)
    assert np.sqrt(np.mean(coded.audio ** 2)) > 0.3 * np.sqrt(np.mean(speech ** 2))  # not silent


@pytest.mark.parametrize("mode", [3200, 700])
def test_codec2_output_is_time_aligned(mode):
    clips = [_clip(name, 0.5, 3.0) for name in (
        "asterisk_allison_01.flac", "espeak_en-gb-scotland_f4.flac", "espeak_en-us_klatt3.flac")]
    pairs = [(x, baselines.codec2(x, RATE, mode).audio) for x in clips]
    # Tolerance 5 ms: a quarter of the 20 ms delay, and half of one 10 ms analysis step.
    assert abs(_envelope_lag(pairs, 900)) <= 120
    # The detector does see a delay of the size we compensate (3 samples at 24 kHz per 8 kHz one).
    delay = 3 * baselines.CODEC2_DELAY[mode]
    late = [(x, np.concatenate([np.zeros(delay, np.float32), y[:-delay]])) for x, y in pairs]
    assert abs(_envelope_lag(late, 900) - delay) <= 120


@pytest.mark.parametrize("mode", [2400, 1600, 1300, 1200, 700])
def test_codec2_other_modes(speech, mode):
    import pycodec2

    c2 = pycodec2.Codec2(mode)
    coded = baselines.codec2(speech, RATE, mode)
    assert coded.audio.shape == speech.shape
    frame_s = c2.samples_per_frame() / baselines.CODEC2_RATE
    assert coded.num_bytes % c2.bytes_per_frame() == 0
    assert coded.kbps == pytest.approx(c2.bytes_per_frame() * 8 / frame_s / 1000, rel=0.03)
    with pytest.raises(ValueError, match="codec2 mode must be one of"):
        baselines.codec2(speech, RATE, 3000)


def test_input_checks(speech):
    for fn in (lambda x: baselines.opus(x, RATE, 12), lambda x: baselines.codec2(x, RATE)):
        with pytest.raises(ValueError, match="empty"):
            fn(np.zeros(0, np.float32))
        with pytest.raises(ValueError, match=r"\[T\] or \[T, channels\]"):
            fn(np.zeros((2, 2, 100), np.float32))
    stereo = np.stack([speech, 0.5 * speech[::-1]], axis=1)  # [T, channels], mixed down
    mixed = baselines.opus(stereo, RATE, 12)
    np.testing.assert_array_equal(mixed.audio, baselines.opus(stereo.mean(axis=1), RATE, 12).audio)
    # codec2's decoder draws noise from a process-wide generator, so compare sizes, not samples.
    assert baselines.codec2(stereo, RATE).num_bytes == baselines.codec2(speech, RATE).num_bytes
