"""DAC's discriminators: HiFi-GAN's multi-period (MPD) and a multi-band multi-resolution STFT (MRD).

Kumar et al. 2023 (DAC, arXiv 2306.06546, §3.4), as descript-audio-codec's `dac/model/discriminator.py`:

- **MPD** (one per period p, DAC's 2, 3, 5, 7, 11): the waveform, reflect-padded to a multiple of
  p, is folded to [T / p, p] and run through (5, 1) convs with stride (3, 1) (channels
  32 -> 128 -> 512 -> 1024, then 1024 at stride 1) and a (3, 1) conv to logits: each column sees
  every p-th sample, which exposes periodic (pitch) structure.
- **MRD** (one per window, DAC's 2048, 1024, 512; hop = window / 4): the complex STFT (real and
  imaginary as two channels) is split along frequency into five bands (0-10, 10-25, 25-50,
  50-75, 75-100% of the bins); each band has its own stack, a (3, 9) conv, three (3, 9) convs
  with stride 2 in frequency and a (3, 3) conv, 32 channels; the bands are joined along frequency
  for a shared (3, 3) conv to logits. Separate weights per band let the high bands, which carry
  little energy, get their own detectors.

Every conv but the last is followed by LeakyReLU(0.1) and kept as a feature map. As DAC, the input
is made zero-mean and peak-normalized to 0.8 first. Multi-channel audio [B, T, C] is judged jointly
(C input channels of the MPD's first conv, 2C STFT planes of the MRD's); the peak is taken over all
channels, so the level difference between them is kept. `channels` scales the widths (DAC: 32); the
widest MPD layers are capped at `max_channels` (DAC: 1024). Outputs as discriminators.py: a list of
(logits, features), the periods first, then the windows.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn.audio import stft_features
from sscodec.nn.conv import Conv, ConvStyle

LEAK = 0.1
BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))


def _normalize(audio: jax.Array) -> jax.Array:
    """DAC's preprocessing: remove the mean, scale the peak to 0.8 ([B, T], or [B, T, C]: each
    channel's mean, one peak over the channels)."""
    x = audio - jnp.mean(audio, axis=1, keepdims=True)
    axes = tuple(range(1, x.ndim))
    return 0.8 * x / (jnp.max(jnp.abs(x), axis=axes, keepdims=True) + 1e-9)


class PeriodDiscriminator(nn.Module):
    """One MPD period (see the module docstring)."""

    period: int
    channels: int = 32
    max_channels: int = 1024
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        p = self.period
        x = audio[..., None] if audio.ndim == 2 else audio  # [B, T, C]
        pad = (-x.shape[1]) % p
        x = jnp.pad(x, ((0, 0), (0, pad), (0, 0)), mode="reflect") if pad else x
        x = x.reshape(x.shape[0], -1, p, x.shape[-1])  # [B, T / p, p, C]: time runs down the columns
        c, cap = self.channels, self.max_channels
        widths = (c, 4 * c, 16 * c, 32 * c, 32 * c)
        feats = []
        for i, width in enumerate(widths):
            stride = (3, 1) if i < len(widths) - 1 else (1, 1)
            x = Conv(min(width, cap), (5, 1), strides=stride, padding=((2, 2), (0, 0)),
                     style=self.style, dtype=self.dtype)(x)
            x = nn.leaky_relu(x, LEAK)
            feats.append(x)
        logits = Conv(1, (3, 1), padding=((1, 1), (0, 0)), style=self.style, dtype=self.dtype,
                      name="post")(x)
        return logits[..., 0], feats


class BandSTFTDiscriminator(nn.Module):
    """One MRD window: a conv stack per frequency band, joined for the last conv."""

    window: int = 1024
    channels: int = 32
    bands: Sequence[tuple[float, float]] = BANDS
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        x = stft_features(audio, self.window, self.window // 4)  # [B, frames, F, 2C]
        if self.dtype is not None:
            x = x.astype(self.dtype)
        bins = x.shape[2]
        c = self.channels
        conv = lambda *a, **k: Conv(*a, style=self.style, dtype=self.dtype, **k)
        feats, outputs = [], []
        for b, (lo, hi) in enumerate(self.bands):
            y = x[:, :, int(lo * bins): int(hi * bins)]
            layers = [((3, 9), (1, 1))] + [((3, 9), (1, 2))] * 3 + [((3, 3), (1, 1))]
            for i, (kernel, stride) in enumerate(layers):
                pad = tuple(((k - 1) // 2,) * 2 for k in kernel)
                y = nn.leaky_relu(conv(c, kernel, strides=stride, padding=pad,
                                       name=f"band{b}_conv{i}")(y), LEAK)
                feats.append(y)
            outputs.append(y)
        joined = jnp.concatenate(outputs, axis=2)
        logits = conv(1, (3, 3), padding=((1, 1), (1, 1)), name="post")(joined)
        return logits[..., 0], feats


class MultiPeriodMultiBandDiscriminator(nn.Module):
    """DAC's discriminator set: a PeriodDiscriminator per period, a BandSTFTDiscriminator per window."""

    periods: Sequence[int] = (2, 3, 5, 7, 11)
    windows: Sequence[int] = (2048, 1024, 512)
    mpd_channels: int = 32
    mpd_max_channels: int = 1024
    mrd_channels: int = 32
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        x = _normalize(audio)
        out = [PeriodDiscriminator(p, self.mpd_channels, self.mpd_max_channels, self.dtype,
                                   self.style, name=f"period{p}")(x) for p in self.periods]
        out += [BandSTFTDiscriminator(w, self.mrd_channels, BANDS, self.dtype, self.style,
                                      name=f"window{w}")(x) for w in self.windows]
        return out
