"""Convolutions: a conv with optional weight norm, causal conv, polyphase upsampling (the
discriminator's grouped strided conv is in grouped_conv.py).

All tensors are channels-last: [batch, time, channels] (or [batch, time, freq, channels]).

Every conv's parameters are made by `conv_params`, which holds the two recipe choices in one
place (`ConvStyle`): the init ("torch": PyTorch's default conv kernel init, uniform
+-1/sqrt(fan_in), as EnCodec, DAC and audiolm-pytorch get it, with zero biases; "lecun":
lecun_normal kernel, zero bias) and weight normalization (kernel = scale * v / ||v||, the norm over every axis but the
output channels, scale initialized to ||v|| as torch.nn.utils.weight_norm does, so the function
at init is the same with or without it).

An XLA:CPU speed kernel lives here, with the same parameters and function as the plain lax form
(tests/test_speed_kernels.py): `conv_nd`, whose backward convs are written in the canonical
layout that XLA:CPU only produces itself in the entry computation (inside the train step's
`lax.cond` a kernel gradient otherwise ran ~30x slower). On GPU/TPU the plain lax form is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning


class ConvStyle(NamedTuple):
    """How convs are initialized and parametrized, and the activation between them (hashable: a
    Flax module attribute)."""

    init: str = "torch"  # "torch" | "lecun"
    weight_norm: bool = True
    activation: str = "elu"  # "elu" (the paper's) | "snake" (DAC's)


INITS = ("torch", "lecun")


def conv_params(module: nn.Module, shape: Sequence[int], style: ConvStyle,
                dtype=None) -> tuple[jax.Array, jax.Array]:
    """Creates `kernel` [*window, in_per_group, out], `bias` [out] (and `scale` [out] with weight
    norm) on `module`; returns the effective (kernel, bias), cast to `dtype` if given."""
    ndim = len(shape) - 2
    if style.init == "torch":
        kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
        # Zero biases, not PyTorch's uniform ones: those add up to a DC offset that puts the
        # untrained decoder's output ~15 dB above its input; with zero biases it starts ~50 dB
        # below, and the reconstruction loss only has to grow it.
        bias_init = nn.initializers.zeros_init()
    elif style.init == "lecun":
        kernel_init, bias_init = nn.initializers.lecun_normal(), nn.initializers.zeros_init()
    else:
        raise ValueError(f"unknown conv init {style.init!r}; expected one of {INITS}")
    kernel = module.param("kernel", partitioning.conv_kernel(ndim, kernel_init), tuple(shape))
    bias = module.param("bias", partitioning.bias(bias_init), (shape[-1],))
    if style.weight_norm:
        axes = tuple(range(len(shape) - 1))
        norm = lambda v: jnp.sqrt(jnp.sum(jnp.square(v), axis=axes) + 1e-12)
        scale = module.param("scale", nn.with_logical_partitioning(
            lambda key, s: norm(kernel), ("conv_out",)), (shape[-1],))
        kernel = kernel * (scale / norm(kernel))
    if dtype is not None:
        kernel, bias = kernel.astype(dtype), bias.astype(dtype)
    return kernel, bias


_CONV_IMPLEMENTATION: contextvars.ContextVar = contextvars.ContextVar("conv_implementation",
                                                                      default=None)


@contextlib.contextmanager
def conv_implementation(fn):
    """While tracing inside this block, 1-D float32 convs without padding (every conv of a
    streaming step) run as `fn(x, kernel, bias, stride, dilation, **fused)` instead of XLA's
    conv, where `fused` may carry the causal conv's input activation, stream context and
    residual (CausalConv1d). If `fn` has a `residual_quantize(x, codebooks, sqnorms) -> codes`
    the RVQ's search at a static depth runs through it. How an inference step swaps in kernels
    of its own (sscodec.codec.native_conv). Not for training: `fn` need not be differentiable."""
    token = _CONV_IMPLEMENTATION.set(fn)
    try:
        yield
    finally:
        _CONV_IMPLEMENTATION.reset(token)


def current_conv_implementation():
    """The function set by an enclosing `conv_implementation` block, or None."""
    return _CONV_IMPLEMENTATION.get()


def channels_last_dims(ndim: int) -> tuple[str, str, str]:
    """lax dimension numbers of a channels-last conv: input, kernel, output."""
    spatial = "HW"[:ndim] if ndim <= 2 else "DHW"
    return ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")


def _conv(x, w, strides, padding, lhs_dilation=None, rhs_dilation=None):
    return jax.lax.conv_general_dilated(
        x, w, window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=channels_last_dims(x.ndim - 2))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_nd(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...],
            padding: tuple[tuple[int, int], ...], dilation: tuple[int, ...]) -> jax.Array:
    """Channels-last conv (x [N, *spatial, Cin], kernel [*window, Cin, Cout]) whose backward
    convs are written in XLA:CPU's canonical form (NHWC input, HWIO kernel, NHWC output).

    The forward is plain `lax.conv_general_dilated`. JAX's own transposes give the kernel
    gradient as a conv with the batch in the feature position (and the input gradient with an
    "OI" kernel); XLA:CPU rewrites those into canonical, Eigen-backed convs only in the entry
    computation (its ConvCanonicalization pass skips nested computations), so inside a
    `lax.cond` branch, such as the train step's GAN half, a kernel gradient fell back to a naive
    loop and ran ~30x slower. Here the transposes are explicit, so the backward convs are
    canonical wherever they are compiled. Same maths as JAX's rules (tests/test_speed_kernels.py).
    """
    return _conv(x, kernel, strides, padding, rhs_dilation=dilation)


def _kernel_grad_conv(x, dy, window, strides, padding, dilation):
    """Kernel gradient as one canonical conv: input channels as the batch, the batch as the
    features, dy as the kernel (dilated by the stride), window stride = the kernel dilation.
    The fast form for 1-D convs (the generator's)."""
    lengths, out_lengths = x.shape[1:-1], dy.shape[1:-1]
    xt = jnp.swapaxes(x, 0, -1)  # [Cin, *spatial, N]
    dyt = jnp.moveaxis(dy, 0, -2)  # [*out, N, Cout]
    dw_pad = []
    for k, d, (lo, hi), n, o, s in zip(window, dilation, padding, lengths, out_lengths, strides):
        slack = n + lo + hi - (o - 1) * s - 1 - (k - 1) * d  # inputs the forward never reached
        dw_pad.append((lo, hi - slack))
    dw = _conv(xt, dyt.astype(x.dtype), dilation, tuple(dw_pad), rhs_dilation=strides)
    return jnp.moveaxis(dw, 0, -2)  # [*window, Cin, Cout]


def _kernel_grad_taps(x, dy, window, strides, padding, dilation):
    """Kernel gradient as one [Cin, N * out] x [N * out, Cout] dot per kernel tap. For 2-D convs
    Eigen's conv form (a kernel as large as the image, a 3x3 output) ran 2-33x slower than this
    (STFT discriminator layers, 4 x 1 s); for 1-D convs the conv form is faster."""
    xp = jax.lax.pad(x, jnp.zeros((), x.dtype),
                     [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in padding] + [(0, 0, 0)])
    out_lengths = dy.shape[1:-1]
    rows = dy.shape[0] * math.prod(out_lengths)
    dyf = dy.reshape(rows, dy.shape[-1]).astype(x.dtype)
    taps = []
    for tap in itertools.product(*(range(k) for k in window)):
        xs = xp[(slice(None),) + tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s
                                       in zip(tap, dilation, out_lengths, strides))]
        taps.append(jax.lax.dot_general(xs.reshape(rows, x.shape[-1]), dyf,
                                        (((0,), (0,)), ((), ()))))
    return jnp.stack(taps).reshape(*window, x.shape[-1], dy.shape[-1])


def _conv_nd_fwd(x, kernel, strides, padding, dilation):
    return conv_nd(x, kernel, strides, padding, dilation), (x, kernel)


def _conv_nd_bwd(strides, padding, dilation, res, dy):
    x, kernel = res
    window = kernel.shape[:-2]
    lengths, out_lengths = x.shape[1:-1], dy.shape[1:-1]
    # Input gradient: dy dilated by the stride, convolved with the spatially flipped kernel
    # with its in/out axes swapped.
    flipped = jnp.swapaxes(jnp.flip(kernel, axis=tuple(range(len(window)))), -1, -2)
    dx_pad = tuple(((k - 1) * d - lo, n - 1 - (o - 1) * s + lo)
                   for k, d, (lo, _), n, o, s in zip(window, dilation, padding, lengths,
                                                     out_lengths, strides))
    dx = _conv(dy, flipped.astype(dy.dtype), (1,) * len(window), dx_pad, lhs_dilation=strides,
               rhs_dilation=dilation)
    if len(window) == 2:
        dw = _kernel_grad_taps(x, dy, window, strides, padding, dilation)
    else:
        dw = _kernel_grad_conv(x, dy, window, strides, padding, dilation)
    return dx.astype(x.dtype), dw.astype(kernel.dtype)


conv_nd.defvjp(_conv_nd_fwd, _conv_nd_bwd)


class Conv(nn.Module):
    """A plain (non-causal) 1-D or 2-D conv, channels-last, built by `conv_params`.

    `padding` is lax's: "SAME", "VALID" or a sequence of (low, high) pairs per spatial axis.
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] | None = None
    padding: str | Sequence[tuple[int, int]] = "SAME"
    kernel_dilation: Sequence[int] | None = None
    style: ConvStyle = ConvStyle()
    dtype: jnp.dtype | None = None

    @nn.compact
    def __call__(self, x: jax.Array, params_only: bool = False, **fused):
        """`fused` (context, activation, residual, skip): what an inference kernel fuses into a
        causal conv (CausalConv1d); only with a conv_implementation. `params_only`: return the
        effective (kernel, bias) for an input like x instead (a kernel fusing several convs)."""
        window = tuple(self.kernel_size)
        ndim = len(window)
        kernel, bias = conv_params(self, window + (x.shape[-1], self.features), self.style,
                                   self.dtype)
        if params_only:
            return kernel, bias
        if self.dtype is not None:
            x = x.astype(self.dtype)
        strides = tuple(self.strides or (1,) * ndim)
        dilation = tuple(self.kernel_dilation or (1,) * ndim)
        padding = self.padding
        if isinstance(padding, str):
            padding = jax.lax.padtype_to_pads(x.shape[1:-1], tuple(
                (k - 1) * d + 1 for k, d in zip(window, dilation)), strides, padding)
        padding = tuple(tuple(int(v) for v in p) for p in padding)
        implementation = _CONV_IMPLEMENTATION.get()
        if (implementation is not None and ndim == 1 and padding == ((0, 0),)
                and x.dtype == jnp.float32):
            return implementation(x, kernel, bias, strides[0], dilation[0], **fused)
        if fused:
            raise ValueError("fused conv arguments need a conv_implementation and a float32 1-D "
                             "conv without padding")
        x = partitioning.batch_sharded(x)
        if jax.default_backend() == "cpu":  # see conv_nd; GPU/TPU match JAX's own transposes
            y = conv_nd(x, kernel, strides, padding, dilation)
        else:
            y = _conv(x, kernel, strides, padding, rhs_dilation=dilation)
        return partitioning.batch_sharded(y + bias)


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
    activation, the stream context (the same "stream" variable as causal_context's: the same
    state, so one stream may mix both paths) and the residual add all go to the kernel."""
    if pad == 0:
        return conv(x, **fused)
    if module.streaming:
        size = pad + stride
        context = module.variable("stream", "context", jnp.zeros,
                                  (x.shape[0], size, x.shape[-1]), x.dtype)
        y, context.value = conv(x, context=context.value, skip=stride, **fused)
        return y
    zeros = jnp.zeros((x.shape[0], pad, x.shape[-1]), x.dtype)
    return conv(x, context=zeros, **fused)[0]


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
        unit), return (kernel, bias, context, skip) for an input like x: the stream context's
        value (zeros offline) and the leading rows to skip; the caller writes the new context
        back with put_variable("stream", "context", ...)."""
        pad = causal_left_padding(self.kernel_size, self.stride, self.dilation)
        make_conv = functools.partial(
            Conv, self.features, (self.kernel_size,), strides=(self.stride,),
            kernel_dilation=(self.dilation,), style=self.style, dtype=self.dtype, name="conv")
        if operands_only:
            kernel, bias = make_conv(padding=[(0, 0)])(x, params_only=True)
            if self.streaming and pad:
                context = self.variable("stream", "context", jnp.zeros,
                                        (x.shape[0], pad + self.stride, x.shape[-1]), x.dtype)
                return kernel, bias, context.value, self.stride
            return kernel, bias, jnp.zeros((x.shape[0], pad, x.shape[-1]), x.dtype), 0
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
