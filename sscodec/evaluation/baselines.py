"""Classic codecs on the same audio as sscodec: Opus (libopus via PyAV) and codec2 (libcodec2).

Each baseline takes mono float audio at any sample rate and returns a `Coded`: the decoded audio
at the input rate, with the input's length and time-aligned to it, plus the size of what was
sent and the bitrate that size achieves (the paper compares codecs at achieved, not requested,
bitrates).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable

import numpy as np

from data_pipelines.audio_io import resample, to_mono
from data_pipelines.transforms import fit_length

OPUS_KBPS = (6, 9, 12, 18, 24)  # Opus' useful range in the SoundStream paper is 6-24 kbps
OPUS_KBPS_RANGE = (6.0, 510.0)  # what libopus accepts for one channel
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # libopus' native input rates
# Pre-skip aligns Opus output exactly, except in SILK narrowband (what libopus picks at 6-8 kbps,
# TOC configs 0-3): there the decoded speech comes 6 samples at 48 kHz (0.125 ms) late, measured
# by waveform cross-correlation on the embedded speech (MB/WB SILK at 9+ kbps: 0). Left in, it
# costs ~4 dB of SI-SDR at 6 kbps (10.0 -> 6.2 dB on a test clip), so we take it off when most
# packets are SILK NB.
OPUS_SILK_NB_DELAY_48K = 6

CODEC2_MODES = (3200, 2400, 1600, 1400, 1300, 1200, 700)
CODEC2_RATE = 8000
# codec2's decoded speech lags its input by a fixed delay (samples at 8 kHz). Measured by
# cross-correlating log spectrograms (64- and 128-sample windows, hop 1-2) of the input and output
# on the embedded speech corpus, pooled over its 21 files: 154-165 for the 3200..1200 modes (we use
# 160, i.e. 20 ms: two of codec2's 10 ms analysis steps) and 224-228 for 700C (we use 228). The
# waveform correlation cannot tell: a vocoder keeps spectral envelopes, not phase.
# tests/test_baselines.py pins the residual lag.
CODEC2_DELAY = {3200: 160, 2400: 160, 1600: 160, 1400: 160, 1300: 160, 1200: 160, 700: 228}


@dataclasses.dataclass
class Coded:
    """One baseline's round trip of one clip."""

    audio: np.ndarray  # float32 mono at the input sample rate, input length, time-aligned
    num_bytes: int  # size of the coded file (container included)
    kbps: float  # achieved bitrate: num_bytes * 8 / duration / 1000


def _mono(audio: np.ndarray) -> np.ndarray:
    """[T] or [T, channels] (mixed down) -> float32 [T]; rejects empty input."""
    x = to_mono(np.asarray(audio, np.float32))
    if x.ndim != 1:
        raise ValueError(f"audio must be [T] or [T, channels], got shape {x.shape}")
    if x.size == 0:
        raise ValueError("audio is empty")
    return x


def _finish(y: np.ndarray, rate_in: int, rate_out: int, length: int, num_bytes: int) -> Coded:
    """Back to the input rate and exact length (resampling may round the length by a sample)."""
    y = fit_length(resample(np.asarray(y, np.float32), rate_in, rate_out), length)
    return Coded(audio=y, num_bytes=num_bytes, kbps=num_bytes * 8 / (length / rate_out) / 1000)


def opus(audio: np.ndarray, sample_rate: int, kbps: float) -> Coded:
    """Opus (libopus through PyAV, default VBR "audio" application, 20 ms frames) at target
    `kbps`, in an in-memory Ogg file whose whole size (headers included) sets the achieved rate.

    Rates libopus takes natively (8, 12, 16, 24, 48 kHz) go in as they are, others are resampled
    to 48 kHz. The decoder runs at 48 kHz and honours the pre-skip and the end trim, so the
    output is aligned sample for sample with the input (after `OPUS_SILK_NB_DELAY_48K`).
    """
    import av

    lo, hi = OPUS_KBPS_RANGE
    if not lo <= kbps <= hi:
        raise ValueError(f"Opus bitrate must be within {lo:g}..{hi:g} kbps, got {kbps:g}")
    x = _mono(audio)
    length = len(x)
    rate = sample_rate if sample_rate in _OPUS_RATES else 48000
    x = resample(x, sample_rate, rate).astype(np.float32)

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = round(kbps * 1000)
        stream.codec_context.format = "flt"  # not the default s16: no extra quantization
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        configs = []
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            configs.append(bytes(packet)[0] >> 3)  # the TOC byte's mode/bandwidth config
            container.mux(packet)
    data = buffer.getvalue()

    with av.open(io.BytesIO(data), "r") as container:
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        out_rate = container.streams.audio[0].sample_rate
    if sum(c < 4 for c in configs) > len(configs) / 2:
        decoded = decoded[round(OPUS_SILK_NB_DELAY_48K * out_rate / 48000):]
    return _finish(decoded, out_rate, sample_rate, length, len(data))


def codec2(audio: np.ndarray, sample_rate: int, mode: int = 3200) -> Coded:
    """codec2 (libcodec2 via pycodec2) in `mode` bits/s at 8 kHz, 16-bit PCM in and out.

    Raw codec2 frames have no container, so num_bytes is frames x bytes_per_frame (a mode whose
    frame is not a whole number of bytes, e.g. 1300 and 700C, costs its rounded-up bytes). The
    input is zero-padded by the decoder delay `CODEC2_DELAY[mode]` plus up to a frame, and the
    delay is cut from the output's start so it lines up with the input. The bytes are
    deterministic but the decoded audio is not: libcodec2's decoder draws random phases from a
    process-wide generator (codec2_rand), so repeated calls differ slightly (ViSQOL by ~0.04).
    """
    import pycodec2

    if mode not in CODEC2_MODES:
        raise ValueError(f"codec2 mode must be one of {CODEC2_MODES}, got {mode}")
    x = _mono(audio)
    length = len(x)
    pcm = np.clip(np.round(resample(x, sample_rate, CODEC2_RATE) * 32767), -32768, 32767)
    c2 = pycodec2.Codec2(mode)
    step, delay = c2.samples_per_frame(), CODEC2_DELAY[mode]
    n = -(-(len(pcm) + delay) // step) * step
    pcm = np.pad(pcm.astype(np.int16), (0, n - len(pcm)))
    frames = [c2.encode(pcm[i: i + step]) for i in range(0, n, step)]
    decoded = np.concatenate([c2.decode(f) for f in frames]).astype(np.float32) / 32768
    num_bytes = sum(len(f) for f in frames)
    return _finish(decoded[delay:], CODEC2_RATE, sample_rate, length, num_bytes)


BASELINES: dict[str, Callable[..., Coded]] = {"opus": opus, "codec2": codec2}
