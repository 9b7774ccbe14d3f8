"""Spectral helpers in jax.numpy: STFT and inverse STFT, mel filterbanks, mel spectrograms.

The mel filterbank answers the paper's open question on small windows: a 64-bin mel scale over
0..12 kHz has filters ~60 Hz wide at the bottom, narrower than the bin spacing of a 64- or
128-sample FFT, so some filters would be empty. We zero-pad the FFT (the window, and thus the time
resolution, stays s) to the smallest power of two for which every filter covers at least one FFT
bin: `mel_fft_size`. At 24 kHz and 64 bins that is 512 for s = 64..256 and s itself from 512 up.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from sscodec.nn import partitioning


def hann(window: int) -> np.ndarray:
    """Periodic Hann window."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)).astype(np.float32)


def frame(x: jax.Array, window: int, hop: int) -> jax.Array:
    """[..., T] -> [..., n_frames, window] with n_frames = 1 + (T - window) // hop (no padding)."""
    n = 1 + (x.shape[-1] - window) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(window)[None, :]
    return x[..., idx]


def stft(x: jax.Array, window: int, hop: int, n_fft: int | None = None) -> jax.Array:
    """Complex STFT [..., frames, n_fft // 2 + 1] of x [..., T] with a Hann window.

    The signal is zero-padded by window - hop on the past side so frame t ends at sample
    (t + 1) * hop and the frame count is T // hop. In a partitioned train step each device
    transforms its own examples (`partitioning.per_shard`: GSPMD would gather the batch for the FFT).
    """
    n_fft = n_fft or window

    def transform(x):
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(window - hop, 0)])
        frames = frame(x, window, hop) * hann(window)
        return jnp.fft.rfft(frames, n=n_fft, axis=-1)

    return partitioning.per_shard(transform, x)


def stft_features(audio: jax.Array, window: int, hop: int, n_fft: int | None = None,
                  scale: float = 1.0) -> jax.Array:
    """The STFT divided by `scale` as real features for the discriminators: [B, T] ->
    [B, frames, F, 2] (real and imaginary parts); [B, T, C] -> [B, frames, F, 2C] (channel c's
    real and imaginary parts at 2c and 2c + 1), so a discriminator's first conv sees every
    channel at once."""
    mono = audio.ndim == 2
    spec = stft(audio if mono else jnp.moveaxis(audio, -1, 1), window, hop, n_fft)
    if scale != 1.0:
        spec = spec / scale
    if mono:
        return jnp.stack([spec.real, spec.imag], axis=-1)
    x = jnp.stack([spec.real, spec.imag], axis=-1)  # [B, C, frames, F, 2]
    x = jnp.moveaxis(x, 1, 3)  # [B, frames, F, C, 2]
    return x.reshape(*x.shape[:3], -1)


def overlap_add(frames: jax.Array, hop: int) -> jax.Array:
    """[B, S, n_fft] windowed frames, frame k placed at k * hop -> [B, (S + overlap - 1) * hop]."""
    batch, count, n_fft = frames.shape
    overlap = n_fft // hop
    parts = frames.reshape(batch, count, overlap, hop)
    out = sum(jnp.pad(parts[:, :, j], ((0, 0), (j, overlap - 1 - j), (0, 0)))
              for j in range(overlap))
    return out.reshape(batch, (count + overlap - 1) * hop)


def istft(spectrum: jax.Array, hop: int, overlap: int) -> jax.Array:
    """Complex spectra [B, S, n_fft / 2 + 1], n_fft = overlap * hop, frame k starting at sample
    k * hop -> audio [B, (S + overlap - 1) * hop]: inverse real FFT, periodic Hann window,
    overlap-add, scaled so that the windows sum to one (a bin of value n_fft / 2 * e^(i phi_k)
    with phases advancing coherently gives a unit-amplitude sinusoid)."""
    n_fft = overlap * hop
    # Periodic Hann windows at hop n_fft / overlap sum to overlap / 2.
    frames = jnp.fft.irfft(spectrum, n=n_fft, axis=-1) * hann(n_fft) * (2.0 / overlap)
    return overlap_add(frames, hop)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular HTK-mel filters, [n_fft // 2 + 1, n_mels], peak 1 (no area normalization)."""
    fmax = fmax or sample_rate / 2
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower) / (center - lower)
    down = (upper - freqs[:, None]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def mel_fft_size(sample_rate: int, window: int, n_mels: int) -> int:
    """Smallest power-of-two FFT >= window for which no mel filter is empty."""
    n_fft = window
    while (mel_filterbank(sample_rate, n_fft, n_mels).max(axis=0) <= 0).any():
        n_fft *= 2
        if n_fft > 1 << 16:
            raise ValueError(f"{n_mels} mel bins cannot be resolved at {sample_rate} Hz")
    return n_fft


def mel_spectrogram(x: jax.Array, sample_rate: int, window: int, n_mels: int) -> jax.Array:
    """Magnitude mel spectrogram [..., frames, n_mels], window s, hop s / 4."""
    n_fft = mel_fft_size(sample_rate, window, n_mels)
    spec = stft(x, window, window // 4, n_fft)
    # sqrt(|z|^2 + tiny) rather than abs(z): abs has a NaN gradient at exact zeros (silent frames).
    spec = jnp.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-12)
    return spec @ mel_filterbank(sample_rate, n_fft, n_mels)
