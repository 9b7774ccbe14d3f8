"""The grouped strided conv of the waveform discriminator (MelGAN's: kernel 41, stride 4, groups),
in three forms with the same parameters and function: "lax" (XLA's grouped conv; what GPU and TPU
use), "patches" (gathered taps and one einsum) and "polyphase" ("auto" on CPU: the strided conv as
a stride-1 conv over the input's phases, with a conv-form kernel gradient), because XLA:CPU runs
the lax form's kernel gradient as a naive loop (tests/test_speed_kernels.py pins the equality).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning
from sscodec.nn.conv import ConvStyle, channels_last_dims, conv_params


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


def _grouped_dims_check(cin: int, cout: int, groups: int) -> None:
    if cin % groups or cout % groups:
        raise ValueError(f"channels {cin}->{cout} not divisible by groups {groups}")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def grouped_conv_valid(x: jax.Array, kernel: jax.Array, groups: int) -> jax.Array:
    """Stride-1 'VALID' grouped conv, x [B, T, Cin], kernel [K, Cin / groups, Cout].

    Forward and input gradient are lax grouped convs (canonical on XLA:CPU). The kernel gradient,
    which JAX writes as a `batch_group_count` conv that XLA:CPU runs as a naive loop (seconds per
    layer), is a canonical grouped conv too: the input channels as its batch, (group, batch) as
    its features and dy as a T'-wide kernel, which outputs the K taps. A group-major im2col with
    one batched dot over the groups measured 4-15x slower (small per-group matrices).
    """
    return jax.lax.conv_general_dilated(x, kernel, (1,), [(0, 0)], dimension_numbers=channels_last_dims(1),
                                        feature_group_count=groups)


def _grouped_conv_valid_fwd(x, kernel, groups):
    return grouped_conv_valid(x, kernel, groups), (x, kernel)


def _grouped_conv_valid_bwd(groups, res, dy):
    x, kernel = res
    k, cpg, cout = kernel.shape
    batch, length, cin = x.shape
    opg = cout // groups
    out_len = dy.shape[1]
    # dx: the transposed conv, a stride-1 grouped conv of dy padded by k - 1 on both sides with
    # the flipped kernel, in and out swapped within each group.
    wt = kernel.reshape(k, cpg, groups, opg).transpose(0, 3, 2, 1)[::-1].reshape(k, opg, cin)
    dx = jax.lax.conv_general_dilated(dy, wt.astype(dy.dtype), (1,), [(k - 1, k - 1)],
                                      dimension_numbers=channels_last_dims(1), feature_group_count=groups)
    # dw: a canonical grouped conv with the input channels as the batch, (group, batch) as the
    # features and dy as a [T', batch, (group, out)] kernel: [cpg, K, (group, out)].
    lhs = x.reshape(batch, length, groups, cpg).transpose(3, 1, 2, 0).reshape(cpg, length, groups * batch)
    rhs = dy.reshape(batch, out_len, groups, opg).transpose(1, 0, 2, 3)
    rhs = rhs.reshape(out_len, batch, groups * opg).astype(lhs.dtype)
    dw = jax.lax.conv_general_dilated(lhs, rhs, (1,), [(0, 0)], dimension_numbers=channels_last_dims(1),
                                      feature_group_count=groups)  # [cpg, K, (group, out)]
    dw = dw.transpose(1, 0, 2)
    return dx.astype(x.dtype), dw.astype(kernel.dtype)


grouped_conv_valid.defvjp(_grouped_conv_valid_fwd, _grouped_conv_valid_bwd)


def _grouped_conv_polyphase(x: jax.Array, kernel: jax.Array, stride: int, groups: int,
                            padding: int) -> jax.Array:
    """Grouped strided conv as a stride-1 grouped conv over the stride's phases.

    With taps j = stride * q + r, y[t] = sum_q sum_r x[stride * (t + q) + r] w[j]: the input
    reshaped to [T / stride, stride * Cin] (channels ordered group, phase, channel so groups stay
    contiguous) and the kernel to [ceil(K / stride), stride * Cin / G, Cout] (zero taps past K)
    make a stride-1 conv (`grouped_conv_valid`). Same function and parameters as the lax form.
    """
    k, cpg, cout = kernel.shape
    batch, length, cin = x.shape
    out_len = (length + 2 * padding - k) // stride + 1
    q = -(-k // stride)
    phases = out_len + q - 1
    right = max(stride * phases - length - padding, 0)  # extra samples meet zero taps
    x = jnp.pad(x, ((0, 0), (padding, right), (0, 0)))[:, : stride * phases]
    x = x.reshape(batch, phases, stride, groups, cpg).transpose(0, 1, 3, 2, 4)
    x = x.reshape(batch, phases, cin * stride)
    w = jnp.pad(kernel, ((0, q * stride - k), (0, 0), (0, 0)))
    w = w.reshape(q, stride * cpg, cout)  # tap r of phase q, channel c -> row r * cpg + c
    return grouped_conv_valid(x, w, groups)


def _grouped_conv_lax(x: jax.Array, kernel: jax.Array, stride: int, groups: int,
                      padding: int) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=(stride,), padding=[(padding, padding)],
        dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=groups)


GROUPED_IMPLS = {"patches": _grouped_conv_patches, "lax": _grouped_conv_lax,
                 "polyphase": _grouped_conv_polyphase}


def resolve_grouped_impl(impl: str) -> str:
    """'auto' -> 'polyphase' on CPU (fast weight gradient there), 'lax' on accelerators."""
    if impl == "auto":
        return "polyphase" if jax.default_backend() == "cpu" else "lax"
    if impl not in GROUPED_IMPLS:
        raise ValueError(f"unknown grouped conv {impl!r}; expected auto or one of {sorted(GROUPED_IMPLS)}")
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
    style: ConvStyle = ConvStyle()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cin = x.shape[-1]
        if cin % self.groups or self.features % self.groups:
            raise ValueError(f"channels {cin}->{self.features} not divisible by groups {self.groups}")
        kernel, bias = conv_params(self, (self.kernel_size, cin // self.groups, self.features),
                                   self.style, self.dtype)
        if self.dtype is not None:
            x = x.astype(self.dtype)
        fn = GROUPED_IMPLS[resolve_grouped_impl(self.impl)]
        # Per device in a partitioned step: GSPMD gathers the batch for a grouped conv's input
        # and kernel gradients (every device would do all of the batch's work).
        return partitioning.per_shard(
            lambda x: fn(x, kernel, self.stride, self.groups, self.kernel_size // 2), x) + bias
