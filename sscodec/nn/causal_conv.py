"""Causal convolutions: a conv padded on the past side only, and polyphase causal upsampling,
channels-last, with their stream context for chunked streaming (`causal_context`) and the fused
form an inference kernel takes (nn.conv.conv_implementation)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn.conv import Conv, ConvStyle, current_conv_implementation


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
    context = _context_variable(module, x, size)
    full = jnp.concatenate([context.value.astype(x.dtype), x], axis=1)
    context.value = full[:, full.shape[1] - size:]
    return full, [(0, 0)], 1


def _context_variable(module: nn.Module, x: jax.Array, size: int):
    """The "stream" variable holding a causal conv's last `size` input rows."""
    return module.variable("stream", "context", jnp.zeros, (x.shape[0], size, x.shape[-1]),
                           x.dtype)


def kernel_context(module: nn.Module, x: jax.Array, pad: int, stride: int):
    """For a kernel that takes a causal conv's context itself: (the "stream" variable to write
    its next context to, or None offline; the context it reads; the leading rows it skips).
    Streaming, the same variable and rows as causal_context's, so one stream may mix both
    paths; offline, `pad` zeros."""
    if module.streaming and pad:
        variable = _context_variable(module, x, pad + stride)
        return variable, variable.value, stride
    return None, jnp.zeros((x.shape[0], pad, x.shape[-1]), x.dtype), 0


ACTIVATIONS = {"elu": nn.elu}  # the parameter-free activations a causal conv applies itself


def _activate(x: jax.Array, activation: str | None) -> jax.Array:
    if activation is None:
        return x
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown conv input activation {activation!r}; expected one of "
                         f"{tuple(ACTIVATIONS)}")
    return ACTIVATIONS[activation](x)


def _fused_causal(module: nn.Module, conv: nn.Module, x: jax.Array, pad: int, stride: int,
                  **fused) -> jax.Array:
    """A causal conv as one call of an inference kernel (conv_implementation): the input
    activation, the stream context (kernel_context) and the residual add all go to the kernel."""
    if pad == 0:
        return conv(x, **fused)
    variable, context, skip = kernel_context(module, x, pad, stride)
    y, new_context = conv(x, context=context, skip=skip, **fused)
    if variable is not None:
        variable.value = new_context
    return y


class CausalConv1d(nn.Module):
    """A conv padded on the past side only, so output t depends on no input after frame t.

    Called as `conv(x, activation=None, residual=None)`: the input activation ("elu") and a
    residual added to the output are the conv's own, so an inference kernel can fuse them (see
    conv_implementation); without one it is activation, conv, add, as written."""

    features: int
    kernel_size: int
    stride: int = 1
    dilation: int = 1
    dtype: jnp.dtype | None = None
    streaming: bool = False
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, x: jax.Array, activation: str | None = None,
                 residual: jax.Array | None = None, operands_only: bool = False):
        """`operands_only`: for a kernel that fuses this conv with others (the SEANet residual
        unit), return (kernel, bias) and kernel_context's (variable, context, skip) for an input
        like x; the caller writes the next context to the variable (None offline)."""
        pad = causal_left_padding(self.kernel_size, self.stride, self.dilation)
        make_conv = functools.partial(
            Conv, self.features, (self.kernel_size,), strides=(self.stride,),
            kernel_dilation=(self.dilation,), style=self.style, dtype=self.dtype, name="conv")
        if operands_only:
            kernel, bias = make_conv(padding=[(0, 0)])(x, params_only=True)
            return (kernel, bias) + kernel_context(self, x, pad, self.stride)
        if current_conv_implementation() is not None and x.dtype == jnp.float32:
            return _fused_causal(self, make_conv(padding=[(0, 0)]), x, pad, self.stride,
                                 activation=activation, residual=residual)
        x, padding, drop = causal_context(self, _activate(x, activation), pad, self.stride,
                                          self.streaming)
        y = make_conv(padding=padding)(x)[:, drop:]
        return y if residual is None else y + residual


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
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, x: jax.Array, activation: str | None = None) -> jax.Array:
        """`activation`: the input's, as in CausalConv1d."""
        batch, length, _ = x.shape
        conv = functools.partial(Conv, self.features * self.stride, (2,), style=self.style,
                                 dtype=self.dtype, name="conv")
        if current_conv_implementation() is not None and x.dtype == jnp.float32:
            y = _fused_causal(self, conv(padding=[(0, 0)]), x, 1, 1, activation=activation,
                              residual=None)
        else:
            x, padding, drop = causal_context(self, _activate(x, activation), 1, 1,
                                              self.streaming)
            y = conv(padding=padding)(x)[:, drop:]
        return y.reshape(batch, length * self.stride, self.features)
