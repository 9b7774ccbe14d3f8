"""Equivalence of the speed kernels in sscodec/nn/conv.py and grouped_conv.py with the plain lax forms they replace:
same outputs and gradients (float32 tolerance) for the same parameters."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from sscodec.nn import conv, grouped_conv


def _lax_conv(x, w, strides, padding, dilation):
    return jax.lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation,
                                        dimension_numbers=conv.channels_last_dims(x.ndim - 2))


def _assert_same_function(f, g, x, w, atol=2e-4, rtol=2e-4):
    """f(x, w) and g(x, w) agree in value and in the gradient (wrt x and w) of a random
    projection of the output."""

    @jax.jit
    def both(x, w):
        out = []
        for fn in (f, g):
            y = fn(x, w)
            proj = jax.random.normal(jax.random.key(7), y.shape)
            out.append((y, *jax.grad(lambda x, w: jnp.sum(fn(x, w) * proj), (0, 1))(x, w)))
        return out

    for a, b in zip(*both(x, w)):
        np.testing.assert_allclose(a, b, atol=atol * float(jnp.max(jnp.abs(b))), rtol=rtol)


@pytest.mark.parametrize("length,window,stride,padding,dilation", [
    (37, 7, 1, (6, 0), 3), (40, 8, 4, (4, 0), 1), (43, 5, 3, (2, 1), 2)])
def test_conv_nd_1d_matches_lax(length, window, stride, padding, dilation):
    x = jax.random.normal(jax.random.key(0), (2, length, 5))
    w = jax.random.normal(jax.random.key(1), (window, 5, 6))
    args = ((stride,), (padding,), (dilation,))
    _assert_same_function(lambda x, w: conv.conv_nd(x, w, *args),
                          lambda x, w: _lax_conv(x, w, *args), x, w)


@pytest.mark.parametrize("window,strides,padding", [
    ((7, 7), (1, 1), ((3, 3), (3, 3))), ((3, 4), (1, 2), ((1, 1), (1, 1))),
    ((4, 4), (2, 2), ((1, 2), (1, 2))), ((1, 1), (2, 2), ((0, 0), (0, 0)))])
def test_conv_nd_2d_matches_lax(window, strides, padding):
    x = jax.random.normal(jax.random.key(0), (2, 11, 20, 3))
    w = jax.random.normal(jax.random.key(1), (*window, 3, 4))
    args = (strides, padding, (1, 1))
    _assert_same_function(lambda x, w: conv.conv_nd(x, w, *args),
                          lambda x, w: _lax_conv(x, w, *args), x, w)


@pytest.mark.parametrize("length,cin,cout,groups", [(403, 16, 64, 4), (97, 32, 32, 32), (50, 8, 8, 1)])
def test_polyphase_grouped_conv_matches_lax(length, cin, cout, groups):
    x = jax.random.normal(jax.random.key(0), (2, length, cin))
    w = jax.random.normal(jax.random.key(1), (41, cin // groups, cout))
    fn = lambda impl: functools.partial(grouped_conv.GROUPED_IMPLS[impl], stride=4, groups=groups, padding=20)
    _assert_same_function(fn("polyphase"), fn("lax"), x, w)


def test_modules_and_params_unchanged():
    """Conv and GroupedConv1d keep their parameter trees; the new kernels change no output."""
    x = jax.random.normal(jax.random.key(0), (2, 64, 8))
    c = conv.Conv(6, (5,), strides=(2,), padding="SAME")
    v = nn.unbox(c.init(jax.random.key(1), x))
    assert {k: p.shape for k, p in v["params"].items()} == {"kernel": (5, 8, 6), "bias": (6,),
                                                             "scale": (6,)}
    kernel = v["params"]["kernel"] * (v["params"]["scale"] / jnp.sqrt(
        jnp.sum(v["params"]["kernel"] ** 2, axis=(0, 1)) + 1e-12))
    ref = jax.lax.conv_general_dilated(x, kernel, (2,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    np.testing.assert_allclose(c.apply(v, x), ref, atol=1e-5)
    g = grouped_conv.GroupedConv1d(16, 41, stride=4, groups=4, impl="polyphase")
    vg = nn.unbox(g.init(jax.random.key(1), x))
    assert vg["params"]["kernel"].shape == (41, 2, 16)
    np.testing.assert_allclose(g.apply(vg, x), grouped_conv.GroupedConv1d(
        16, 41, stride=4, groups=4, impl="lax").apply(vg, x), atol=1e-5)


def test_conv_backward_is_canonical_inside_cond():
    """Inside a lax.cond branch every conv of the gradient is in XLA:CPU's canonical layout
    (NHWC, HWIO): its ConvCanonicalization pass skips nested computations, and non-canonical
    convs there run as naive loops (a kernel gradient ~30x slower)."""
    x = jnp.ones((2, 12, 16, 3))
    w = jnp.ones((3, 4, 3, 4))
    xg, wg = jnp.ones((2, 50, 8)), jnp.ones((41, 2, 8))

    def f(x, w, xg, wg):
        loss = lambda *a: (jnp.sum(conv.conv_nd(a[0], a[1], (1, 2), ((1, 1), (1, 1)), (1, 1)) ** 2)
                           + jnp.sum(grouped_conv._grouped_conv_polyphase(a[2], a[3], 4, 4, 20) ** 2))
        return jax.grad(loss, (0, 1, 2, 3))(x, w, xg, wg)

    g = jax.jit(lambda on, *a: jax.lax.cond(on, f, lambda *a: a, *a))
    hlo = g.lower(jnp.asarray(True), x, w, xg, wg).compile().as_text()
    convs = [line for line in hlo.splitlines() if " convolution(" in line]
    assert len(convs) == 5, convs  # 2-D: fwd, dx (dw is dots); grouped: fwd, dx, dw
    if jax.default_backend() == "cpu":
        canonical = ("dim_labels=b01f_01io->b01f", "dim_labels=b0f_0io->b0f")
        assert all(any(c in line for c in canonical) for line in convs), convs
