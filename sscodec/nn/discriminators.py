"""SoundStream's discriminators: 3-scale waveform (MelGAN-style) and the STFT discriminator.

`discriminator.kind = "ms_stft"` swaps them for EnCodec's (ms_stft_discriminator.py), "mpd_mrd"
for DAC's (dac_discriminators.py).

Each discriminator returns (logits [B, T_k], features: list of intermediate activations) so the
losses can compute hinge terms on the logits and L1 feature matching on the features.

Multi-channel audio ([B, T, C], `model.channels` > 1) is judged jointly, as EnCodec's MS-STFT
discriminator does for its stereo model: every discriminator takes the C channels as input
channels of its first conv (the waveform's C, or 2C real and imaginary STFT planes), so it can
see what differs between the channels (the stereo image, phase between them), which channels
folded into the batch would hide. Only the first conv's input dimension grows; mono ([B, T])
runs as before.
The paper states no normalization for them; `discriminator.weight_norm` (our default, as MelGAN,
EnCodec and DAC) reparametrizes every conv with weight norm (see conv.ConvStyle).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn
from ml_collections import ConfigDict, FrozenConfigDict

from sscodec.nn.audio import stft_features
from sscodec.nn.conv import Conv, ConvStyle
from sscodec.nn.grouped_conv import GroupedConv1d
from sscodec.nn.dac_discriminators import MultiPeriodMultiBandDiscriminator
from sscodec.nn.ms_stft_discriminator import MultiScaleSTFTDiscriminator

LEAK = 0.2


class WaveDiscriminator(nn.Module):
    """One scale: conv k15 -> grouped strided convs (k41, s4, channels x4) -> conv k5 -> conv k3."""

    channels: int = 16
    max_channels: int = 1024
    groups: Sequence[int] = (4, 16, 64, 256)
    grouped_impl: str = "auto"
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        x = audio[..., None] if audio.ndim == 2 else audio  # [B, T, C]
        feats = []
        conv = lambda *a, **k: Conv(*a, style=self.style, dtype=self.dtype, **k)
        x = nn.leaky_relu(conv(self.channels, (15,), padding=[(7, 7)])(x), LEAK)
        feats.append(x)
        ch = self.channels
        for g in self.groups:
            ch_out = min(ch * 4, self.max_channels)
            g = min(g, ch, ch_out)  # keep groups dividing both sides for small configs
            while ch % g or ch_out % g:
                g //= 2
            x = GroupedConv1d(ch_out, 41, stride=4, groups=g, impl=self.grouped_impl,
                              dtype=self.dtype, style=self.style)(x)
            x = nn.leaky_relu(x, LEAK)
            feats.append(x)
            ch = ch_out
        x = nn.leaky_relu(conv(ch, (5,), padding=[(2, 2)])(x), LEAK)
        feats.append(x)
        logits = conv(1, (3,), padding=[(1, 1)])(x)[..., 0]
        return logits, feats


class MultiScaleWaveDiscriminator(nn.Module):
    """The wave discriminator on the signal and its 2x, 4x, ... average-pooled versions."""

    scales: int = 3
    channels: int = 16
    max_channels: int = 1024
    groups: Sequence[int] = (4, 16, 64, 256)
    grouped_impl: str = "auto"
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        outputs = []
        x = audio
        for i in range(self.scales):
            if i > 0:  # average pool k4 s2 (MelGAN), padding 1 on each side
                pooled = nn.avg_pool(x[..., None] if x.ndim == 2 else x, (4,), strides=(2,),
                                     padding=((1, 1),), count_include_pad=False)
                x = pooled[..., 0] if x.ndim == 2 else pooled
            outputs.append(WaveDiscriminator(self.channels, self.max_channels, tuple(self.groups),
                                             self.grouped_impl, self.dtype, self.style,
                                             name=f"scale{i}")(x))
        return outputs


class STFTResidualBlock(nn.Module):
    """Conv 3x3 (N) -> Conv (s_t+2)x(s_f+2) stride (s_t, s_f) (out), plus a strided 1x1 skip."""

    channels: int
    out_channels: int
    stride: tuple[int, int]
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        st, sf = self.stride
        conv = lambda *a, **k: Conv(*a, style=self.style, dtype=self.dtype, **k)
        y = nn.leaky_relu(conv(self.channels, (3, 3))(x), LEAK)
        y = conv(self.out_channels, (st + 2, sf + 2), strides=(st, sf))(y)
        skip = conv(self.out_channels, (1, 1), strides=(st, sf), name="skip")(x)
        return nn.leaky_relu(y + skip, LEAK)


class STFTDiscriminator(nn.Module):
    """Complex STFT (real, imaginary as 2 channels per audio channel) -> 7x7 conv -> 6 residual blocks -> 1 x F/64 conv."""

    channels: int = 32
    window: int = 1024
    hop: int = 256
    dtype: jnp.dtype | None = None
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array):
        # [B, frames, F, 2C], the Nyquist bin dropped
        x = stft_features(audio, self.window, self.hop, self.window)[:, :, : self.window // 2]
        if self.dtype is not None:
            x = x.astype(self.dtype)
        c = self.channels
        conv = lambda *a, **k: Conv(*a, style=self.style, dtype=self.dtype, **k)
        x = conv(c, (7, 7))(x)
        feats = [x]
        widths = [(c, 2 * c), (2 * c, 4 * c), (4 * c, 4 * c), (4 * c, 8 * c), (8 * c, 8 * c),
                  (8 * c, 16 * c)]
        for i, (mid, out) in enumerate(widths):
            x = STFTResidualBlock(mid, out, (1, 2) if i % 2 == 0 else (2, 2), self.dtype,
                                  self.style)(x)
            feats.append(x)
        freq = x.shape[2]
        logits = conv(1, (1, freq), padding="VALID")(x)[..., 0, 0]
        return logits, feats


class Discriminators(nn.Module):
    """All discriminators of `config.kind`; returns [(logits, features)], one per discriminator:
    "soundstream": the STFT discriminator first, then the wave scales; "ms_stft": EnCodec's scales;
    "mpd_mrd": DAC's periods, then its windows."""

    config: ConfigDict
    dtype: jnp.dtype | None = None  # compute dtype (parameters stay float32)

    @nn.compact
    def __call__(self, audio: jax.Array):
        d = self.config
        style = ConvStyle(d.conv_init, d.weight_norm)
        if d.kind == "ms_stft":
            return MultiScaleSTFTDiscriminator(tuple(d.ms_stft_windows), d.ms_stft_channels,
                                               self.dtype, style, name="ms_stft")(audio)
        if d.kind == "mpd_mrd":
            return MultiPeriodMultiBandDiscriminator(
                tuple(d.mpd_periods), tuple(d.mrd_windows), d.mpd_channels, d.mpd_max_channels,
                d.mrd_channels, self.dtype, style, name="mpd_mrd")(audio)
        stft_out = STFTDiscriminator(d.stft_channels, d.stft_window, d.stft_hop, self.dtype,
                                     style, name="stft")(audio)
        wave_out = MultiScaleWaveDiscriminator(d.wave_scales, d.wave_channels, d.wave_max_channels,
                                               tuple(d.wave_groups), d.grouped_conv, self.dtype,
                                               style, name="wave")(audio)
        return [stft_out] + wave_out


def build_discriminators(config: ConfigDict, dtype=None) -> Discriminators:
    return Discriminators(FrozenConfigDict(config.discriminator), dtype)
