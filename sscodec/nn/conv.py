"""1-D convolutions: causal conv, polyphase causal upsampling, grouped strided conv.

All tensors are channels-last: [batch, time, channels].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning


def causal_left_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Past-side padding that makes a conv causal and gives ceil(T / stride) outputs.

    Output t then sees inputs up to t * stride + stride - 1: nothing after its own frame.
    """
    return max((kernel_size - 1) * dilation + 1 - stride, 0)


def causal_context(module: nn.Module, x: jax.Array, pad: int, stride: int, streaming: bool):
    """The input of a causal conv, its padding, and how many leading outputs to drop.

    Offline the conv pads `pad` zeros on the past side. Streaming, the chunk is prefixed with the
    inputs of the previous chunk that the conv still needs (zeros before the first), kept in the
    "stream" collection, so chunk by chunk the conv sees exactly what it sees offline. The context
    holds `stride` extra samples and the first output is dropped: without them a one-frame chunk
    gives a conv whose window covers its whole input, which XLA rewrites into a dot that sums in
    another order, and the codes of a chunked stream would no longer match offline bit for bit.
    """
    if not streaming or pad == 0:
        return x, [(pad, 0)], 0
    size = pad + stride
    context = module.variable("stream", "context", jnp.zeros, (x.shape[0], size, x.shape[-1]),
                              x.dtype)
    full = jnp.concatenate([context.value.astype(x.dtype), x], axis=1)
    context.value = full[:, full.shape[1] - size:]
    return full, [(0, 0)], 1


class CausalConv1d(nn.Module):
    """A conv padded on the past side only, so output t depends on no input after frame t."""

    features: int
    kernel_size: int
    stride: int = 1
    dilation: int = 1
    dtype: jnp.dtype | None = None
    streaming: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad = causal_left_padding(self.kernel_size, self.stride, self.dilation)
        x, padding, drop = causal_context(self, x, pad, self.stride, self.streaming)
        y = nn.Conv(self.features, (self.kernel_size,), strides=(self.stride,),
                    kernel_dilation=(self.dilation,), padding=padding, dtype=self.dtype,
                    name="conv", **partitioning.conv())(x)
        return y[:, drop:]


class CausalUpsample1d(nn.Module):
    """Causal upsampling by `stride`, the function class of a transposed conv with kernel 2*stride.

    Polyphase form: a causal stride-1 conv with kernel 2 (output frame t sees input frames t and
    t-1, exactly the taps a kernel-2S transposed conv gives it) producing `stride` phases of
    `features` channels, interleaved by a reshape. On XLA:CPU this trains ~40x faster than
    `lax.conv_transpose`, whose kernel gradient is pathological there (see platform notes).
    """

    features: int
    stride: int
    dtype: jnp.dtype | None = None
    streaming: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, length, _ = x.shape
        x, padding, drop = causal_context(self, x, 1, 1, self.streaming)
        y = nn.Conv(self.features * self.stride, (2,), padding=padding, dtype=self.dtype,
                    name="conv", **partitioning.conv())(x)[:, drop:]
        return y.reshape(batch, length * self.stride, self.features)


def _grouped_conv_patches(x: jax.Array, kernel: jax.Array, stride: int, groups: int,
                          padding: int) -> jax.Array:
    """Grouped strided conv as gathered taps + one einsum (fast weight gradient on XLA:CPU)."""
    k, cin_per_group, cout = kernel.shape
    batch, length, cin = x.shape
    x = jnp.pad(x, ((0, 0), (padding, padding), (0, 0)))
    out_len = (length + 2 * padding - k) // stride + 1
    taps = jnp.stack([x[:, j: j + stride * (out_len - 1) + 1: stride] for j in range(k)], axis=2)
    taps = taps.reshape(batch, out_len, k, groups, cin_per_group)
    w = kernel.reshape(k, cin_per_group, groups, cout // groups)
    y = jnp.einsum("btkgc,kcgo->btgo", taps, w)
    return y.reshape(batch, out_len, cout)


def _grouped_conv_lax(x: jax.Array, kernel: jax.Array, stride: int, groups: int,
                      padding: int) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=(stride,), padding=[(padding, padding)],
        dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=groups)


def resolve_grouped_impl(impl: str) -> str:
    """'auto' -> 'patches' on CPU (fast weight gradient there), 'lax' on accelerators."""
    if impl == "auto":
        return "patches" if jax.default_backend() == "cpu" else "lax"
    return impl


class GroupedConv1d(nn.Module):
    """Non-causal grouped strided conv ('same'-style padding k // 2), two interchangeable kernels.

    Both implementations share one parameter layout ([k, cin / groups, cout], like nn.Conv), so a
    checkpoint trained with one runs with the other.
    """

    features: int
    kernel_size: int
    stride: int = 1
    groups: int = 1
    impl: str = "auto"
    dtype: jnp.dtype | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cin = x.shape[-1]
        if cin % self.groups or self.features % self.groups:
            raise ValueError(f"channels {cin}->{self.features} not divisible by groups {self.groups}")
        kernel = self.param("kernel", partitioning.conv_kernel(),
                            (self.kernel_size, cin // self.groups, self.features))
        bias = self.param("bias", partitioning.bias(), (self.features,))
        if self.dtype is not None:
            x, kernel, bias = x.astype(self.dtype), kernel.astype(self.dtype), bias.astype(self.dtype)
        fn = _grouped_conv_patches if resolve_grouped_impl(self.impl) == "patches" else _grouped_conv_lax
        return fn(x, kernel, self.stride, self.groups, self.kernel_size // 2) + bias
