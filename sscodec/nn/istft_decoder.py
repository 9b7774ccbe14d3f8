"""A causal frame-rate decoder with an inverse-STFT head (ours, after Vocos and WavTokenizer).

The paper's decoder upsamples the embeddings by 320 through four strided stages and learns to
draw every sample of the waveform. This one stays at the frame rate (75 Hz at 24 kHz): causal
residual units at the SEANet decoder's bottleneck width, then a pointwise head that predicts one
complex spectrum per frame (a log magnitude and a phase per bin, as Vocos), turned into audio by
an inverse real FFT, a Hann synthesis window and overlap-add.

Why: on 2 CPU cores the SEANet decoder learned a voice's harmonics above ~1 kHz slowly (README,
"Where the limit is"); here a harmonic is one spectral bin to get right, not a waveform shape
that four upsamplers must agree on. All convolutions run at 75 Hz, so the decoder is also cheap.

Causality: frame k covers samples [k * hop, k * hop + n_fft). The samples of frame k's own hop
are final once frame k is made (frames k - overlap + 1 .. k overlap them), so output hop k
depends on embeddings up to k, as in the SEANet decoder: no added latency. The price is that
frame k also draws the start of the next overlap - 1 hops, which later frames then complete;
with overlap 2 (the default) that is the falling half of a window.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn.audio import istft
from sscodec.nn.causal_conv import CausalConv1d
from sscodec.nn.conv import ConvStyle
from sscodec.nn.seanet import activate, residual_stack

# Added to the predicted log magnitudes: the untrained decoder starts ~40 dB quiet (as the
# SEANet decoder with PyTorch init does), so training grows the output rather than shrinking it.
_LOG_MAG_OFFSET = -5.0
_LOG_MAG_MAX = 4.6  # exp(4.6) ~ 100, Vocos's clip of the magnitudes


class IstftDecoder(nn.Module):
    """Embeddings [B, S, D] -> waveform [B, S * hop, out_channels], hop = prod(strides): one
    complex spectrum per frame and audio channel."""

    channels: int  # residual width at the frame rate
    strides: Sequence[int]  # encoder order; only their product (the hop) and count matter here
    overlap: int = 2  # n_fft = overlap * hop
    residual_kernel_size: int = 7
    residual_dilations: Sequence[int] = (1, 3, 9)
    residual_compress: int = 2
    first_kernel_size: int = 7
    dtype: jnp.dtype | None = None
    remat: bool = False
    streaming: bool = False  # keep conv context and the overlap-add tail across calls
    style: ConvStyle = ConvStyle()
    out_channels: int = 1  # audio channels

    @property
    def hop(self) -> int:
        return math.prod(self.strides)

    @nn.compact
    def __call__(self, emb: jax.Array) -> jax.Array:
        conv = partial(CausalConv1d, dtype=self.dtype, streaming=self.streaming, style=self.style)
        x = conv(self.channels, self.first_kernel_size, name="conv_in")(emb)
        # As many residual stacks as the SEANet decoder has upsampling blocks.
        for i in range(len(self.strides)):
            x = residual_stack(x, self.channels, self.residual_dilations,
                               self.residual_kernel_size, self.residual_compress, self.dtype,
                               f"block{i}", self.remat, self.streaming, self.style)
        n_fft = self.overlap * self.hop
        bins = n_fft // 2 + 1
        c = self.out_channels
        head = conv(2 * bins * c, 1, name="head")(activate(x, self.style, "head_act"))
        head = head.astype(jnp.float32)  # the FFT and the magnitudes in float32
        batch, frames = head.shape[:2]
        # [B, S, C * 2 bins] -> [B * C, S, 2 bins]: each channel is one signal to overlap-add.
        head = jnp.moveaxis(head.reshape(batch, frames, c, 2 * bins), 2, 1)
        head = head.reshape(batch * c, frames, 2 * bins)
        log_mag, phase = head[..., :bins], head[..., bins:]
        mag = jnp.exp(jnp.minimum(log_mag + _LOG_MAG_OFFSET, _LOG_MAG_MAX))
        spectrum = jax.lax.complex(mag * jnp.cos(phase), mag * jnp.sin(phase))
        audio = istft(spectrum, self.hop, self.overlap)  # [B * C, (S + overlap - 1) * hop]
        length = frames * self.hop
        if self.streaming:
            # The part of this call's frames that lies past its last hop waits for the next call.
            tail_len = (self.overlap - 1) * self.hop
            tail = self.variable("stream", "tail", jnp.zeros, (batch * c, tail_len), jnp.float32)
            audio = audio.at[:, :tail_len].add(tail.value)
            tail.value = audio[:, length:]
        audio = jnp.moveaxis(audio[:, :length].reshape(batch, c, length), 1, 2)  # [B, T, C]
        return audio.astype(emb.dtype)
