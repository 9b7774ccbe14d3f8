"""Convolutions: a conv with optional weight norm, and the hook through which an inference step
swaps in kernels of its own (`conv_implementation`). The causal conv and the polyphase upsampler
are in causal_conv.py, the discriminator's grouped strided conv in grouped_conv.py.

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
