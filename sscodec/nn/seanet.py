"""The causal SEANet encoder and decoder of SoundStream, and FiLM denoise conditioning.

Layout (paper Fig. 3 as transcribed in the reference notes): ELU activations, no normalization,
3 residual units with dilations 1, 3, 9 per block, channels doubling at each downsampling.
`ConvStyle.activation = "snake"` swaps every ELU for DAC's Snake (a learned periodic activation).
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning
from sscodec.nn.causal_conv import CausalConv1d, CausalUpsample1d
from sscodec.nn.conv import ConvStyle, current_conv_implementation


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, alpha learned per channel and initialized to 1 (BigVGAN, DAC).

    A periodic inductive bias: DAC's ablation names it the largest single gain over ELU.
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        alpha = self.param("alpha", partitioning.bias(nn.initializers.ones_init()),
                           (x.shape[-1],)).astype(x.dtype)
        return x + jnp.sin(alpha * x) ** 2 / (alpha + 1e-9)


def activate(x: jax.Array, style: ConvStyle, name: str) -> jax.Array:
    """The style's activation; call inside a compact module (Snake adds a parameter `name`)."""
    if style.activation == "elu":
        return nn.elu(x)
    if style.activation == "snake":
        return Snake(name=name)(x)
    raise ValueError(f"unknown activation {style.activation!r}; expected 'elu' or 'snake'")


def conv_input(x: jax.Array, style: ConvStyle, name: str) -> tuple[jax.Array, str | None]:
    """A conv's input and the activation the conv applies itself (CausalConv1d's `activation`):
    ELU goes to the conv, where an inference kernel fuses it (nn.conv.conv_implementation);
    Snake, which has parameters, is applied here (`name`, in a compact module)."""
    if style.activation == "elu":
        return x, "elu"
    return activate(x, style, name), None


class ResidualUnit(nn.Module):
    """x + Conv1x1(ELU(DilatedConv_k(ELU(x)))), the dilated conv narrowing to channels / compress."""

    channels: int
    dilation: int
    kernel_size: int = 7
    compress: int = 2
    dtype: jnp.dtype | None = None
    streaming: bool = False
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        hidden = max(self.channels // self.compress, 1)
        dilated = CausalConv1d(hidden, self.kernel_size, dilation=self.dilation, dtype=self.dtype,
                               streaming=self.streaming, style=self.style, name="dilated")
        pointwise = CausalConv1d(self.channels, 1, dtype=self.dtype, style=self.style,
                                 name="pointwise")
        fused = getattr(current_conv_implementation(), "residual_unit", None)
        if fused is not None and self.style.activation == "elu" and x.dtype == jnp.float32:
            # the unit as one call of an inference kernel (nn.conv.conv_implementation): the
            # same parameters and stream state as the two convs
            k1, b1, variable, context, skip = dilated(x, operands_only=True)
            k2, b2, *_ = pointwise(jnp.zeros(x.shape[:-1] + (hidden,), x.dtype),
                                   operands_only=True)
            y, new_context = fused(x, context, (k1, b1), (k2, b2), self.dilation, skip)
            if variable is not None:
                variable.value = new_context
            return y
        y = dilated(*conv_input(x, self.style, "dilated_act"))
        return pointwise(*conv_input(y, self.style, "pointwise_act"), residual=x)


def residual_stack(x: jax.Array, channels: int, dilations: Sequence[int], kernel_size: int,
                   compress: int, dtype, prefix: str, remat: bool = False,
                   streaming: bool = False, style: ConvStyle = ConvStyle()) -> jax.Array:
    """Residual units named `{prefix}_res{j}`, one per dilation (called inside a compact module:
    the SEANet encoder and decoder, and the inverse-STFT decoder)."""
    # remat: keep only each unit's input for the backward pass (activation memory of long crops).
    unit = nn.remat(ResidualUnit) if remat else ResidualUnit
    for j, d in enumerate(dilations):
        x = unit(channels, d, kernel_size, compress, dtype, streaming, style,
                 name=f"{prefix}_res{j}")(x)
    return x


class Encoder(nn.Module):
    """Waveform [B, T, C] -> embeddings [B, T / prod(strides), D] (C audio channels: the first
    conv takes them all)."""

    channels: int
    strides: Sequence[int]
    embedding_dim: int
    residual_kernel_size: int = 7
    residual_dilations: Sequence[int] = (1, 3, 9)
    residual_compress: int = 2
    first_kernel_size: int = 7
    bottleneck_kernel_size: int = 3
    dtype: jnp.dtype | None = None
    remat: bool = False
    streaming: bool = False  # keep causal conv context across calls (see causal_conv.causal_context)
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, audio: jax.Array) -> jax.Array:
        conv = partial(CausalConv1d, dtype=self.dtype, streaming=self.streaming, style=self.style)
        x = conv(self.channels, self.first_kernel_size, name="conv_in")(audio)
        ch = self.channels
        for i, s in enumerate(self.strides):
            x = residual_stack(x, ch, self.residual_dilations, self.residual_kernel_size,
                               self.residual_compress, self.dtype, f"block{i}", self.remat,
                               self.streaming, self.style)
            ch *= 2
            x = conv(ch, 2 * s, stride=s, name=f"block{i}_down")(
                *conv_input(x, self.style, f"block{i}_down_act"))
        return conv(self.embedding_dim, self.bottleneck_kernel_size, name="conv_out")(
            *conv_input(x, self.style, "conv_out_act"))


class Decoder(nn.Module):
    """Embeddings [B, S, D] -> waveform [B, S * prod(strides), out_channels]; strides given in
    encoder order."""

    channels: int
    strides: Sequence[int]
    residual_kernel_size: int = 7
    residual_dilations: Sequence[int] = (1, 3, 9)
    residual_compress: int = 2
    first_kernel_size: int = 7
    last_kernel_size: int = 7
    dtype: jnp.dtype | None = None
    remat: bool = False
    streaming: bool = False  # keep causal conv context across calls (see causal_conv.causal_context)
    style: ConvStyle = ConvStyle()
    out_channels: int = 1  # audio channels

    @nn.compact
    def __call__(self, emb: jax.Array) -> jax.Array:
        conv = partial(CausalConv1d, dtype=self.dtype, streaming=self.streaming, style=self.style)
        ch = self.channels * 2 ** len(self.strides)
        x = conv(ch, self.first_kernel_size, name="conv_in")(emb)
        for i, s in enumerate(reversed(tuple(self.strides))):
            ch //= 2
            x = CausalUpsample1d(ch, s, dtype=self.dtype, streaming=self.streaming,
                                 style=self.style, name=f"block{i}_up")(
                *conv_input(x, self.style, f"block{i}_up_act"))
            x = residual_stack(x, ch, self.residual_dilations, self.residual_kernel_size,
                               self.residual_compress, self.dtype, f"block{i}", self.remat,
                               self.streaming, self.style)
        return conv(self.out_channels, self.last_kernel_size, name="conv_out")(
            *conv_input(x, self.style, "conv_out_act"))


class FiLM(nn.Module):
    """a <- gamma * a + beta, with (gamma, beta) a linear function of the one-hot denoise flag.

    Initialized to the identity (gamma = 1, beta = 0) so conditioning starts as a no-op.
    """

    @nn.compact
    def __call__(self, x: jax.Array, denoise: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        onehot = jax.nn.one_hot(denoise.astype(jnp.int32), 2, dtype=x.dtype)  # [B, 2]
        bias_init = lambda key, shape, dtype=jnp.float32: jnp.concatenate(
            [jnp.ones((dim,), dtype), jnp.zeros((dim,), dtype)])
        gb = nn.Dense(2 * dim, name="dense",
                      kernel_init=nn.with_logical_partitioning(nn.initializers.zeros,
                                                               partitioning.DENSE),
                      bias_init=partitioning.bias(bias_init))(onehot)
        gamma, beta = jnp.split(gb[:, None, :], 2, axis=-1)
        return gamma * x + beta
