"""Generator shapes, frame rate, end-to-end causality, receptive field, conv implementations."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.config import samples_per_frame
from sscodec.train.info import encoder_receptive_field, model_info
from sscodec.nn.causal_conv import CausalUpsample1d
from sscodec.nn.grouped_conv import GroupedConv1d
from sscodec.nn.soundstream import build_generator


@pytest.fixture(scope="module", params=["none", "encoder", "decoder"])
def codec(request, tiny_config):
    config = tiny_config.copy_and_resolve_references()
    config.model.film = request.param
    # Codebooks are untrained N(0, 1) here; with the quiet default init every encoder frame would
    # pick the same code and the output would not depend on the input. lecun_normal keeps the
    # encoder's output at the codebooks' scale, so causality is visible end to end.
    config.model.conv_init, config.model.weight_norm = "lecun", False
    gen = build_generator(config)
    variables = nn.unbox(gen.init({"params": jax.random.key(0)}, jnp.zeros((1, 3200))))
    apply = jax.jit(lambda v, x, d: gen.apply(v, x, d, train=False)[0])
    encode = jax.jit(lambda v, x, d: gen.apply(v, x, None, d, method="encode"))
    return config, gen, variables, apply, encode


@pytest.mark.slow
def test_shapes_and_frame_rate(codec):
    config, gen, variables, apply, encode = codec
    m = samples_per_frame(config)
    assert m == 320 and config.sample_rate / m == 75
    x = jax.random.normal(jax.random.key(1), (3, 10 * m + 17)) * 0.1
    denoise = jnp.array([0, 1, 0])
    y = apply(variables, x, denoise)
    assert y.shape == x.shape and y.dtype == jnp.float32
    codes = encode(variables, x, denoise)
    assert codes.shape == (3, 11, config.quantizer.num_quantizers) and codes.dtype == jnp.int32
    assert int(codes.min()) >= 0 and int(codes.max()) < config.quantizer.codebook_size
    audio = gen.apply(variables, codes, denoise, method="decode")
    assert audio.shape == (3, 11 * m)


def test_end_to_end_causality(codec):
    """Changing samples from t on changes no output sample before t's frame, nor earlier codes."""
    config, gen, variables, apply, encode = codec
    m = samples_per_frame(config)
    x = jax.random.normal(jax.random.key(2), (1, 16 * m)) * 0.3
    t = 7 * m + 123
    x2 = x.at[:, t:].set(jax.random.normal(jax.random.key(3), (1, 16 * m - t)))
    d = jnp.zeros((1,), jnp.int32)
    y, y2 = np.asarray(apply(variables, x, d)), np.asarray(apply(variables, x2, d))
    boundary = (t // m) * m
    np.testing.assert_allclose(y[:, :boundary], y2[:, :boundary], atol=1e-6, rtol=0)
    # The change does reach the output (relative: the untrained decoder starts ~50 dB down).
    assert np.abs(y[:, boundary:] - y2[:, boundary:]).max() > 1e-2 * np.abs(y).max()
    c, c2 = np.asarray(encode(variables, x, d)), np.asarray(encode(variables, x2, d))
    np.testing.assert_array_equal(c[:, : t // m], c2[:, : t // m])


def test_receptive_field_matches_gradient(tiny_config):
    """The analytic receptive field equals the span of the encoder output's input gradient."""
    gen = build_generator(tiny_config)
    m = samples_per_frame(tiny_config)
    length = 24 * m
    variables = nn.unbox(gen.init({"params": jax.random.key(0)}, jnp.zeros((1, length))))
    frame = 20

    def one_output(x):
        emb = gen.apply(variables, x, method="embed")
        return emb[0, frame].sum()

    grad = jax.grad(one_output)(jax.random.normal(jax.random.key(1), (1, length)))[0]
    nonzero = np.nonzero(np.abs(np.asarray(grad)) > 0)[0]
    assert nonzero.max() == (frame + 1) * m - 1  # sees its own frame, nothing after
    assert nonzero.max() - nonzero.min() + 1 == encoder_receptive_field(tiny_config)


def test_paper_generator_size(paper_config):
    """The paper model lands within 10% of Table I's 8.4 M parameters."""
    info = model_info(paper_config)
    assert abs(info["parameters"]["generator_trainable"] / 8.4e6 - 1) < 0.10
    assert info["latency_ms"] == pytest.approx(13.333, abs=1e-3)


def test_polyphase_upsample_is_causal_and_shaped():
    up = CausalUpsample1d(features=3, stride=4)
    x = jax.random.normal(jax.random.key(0), (2, 10, 5))
    v = nn.unbox(up.init(jax.random.key(1), x))
    y = up.apply(v, x)
    assert y.shape == (2, 40, 3)
    y2 = up.apply(v, x.at[:, 6:].set(0.0))
    np.testing.assert_allclose(y[:, :24], y2[:, :24], atol=1e-6)
    assert np.abs(np.asarray(y[:, 24:] - y2[:, 24:])).max() > 0


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_grouped_conv_implementations_agree(groups):
    x = jax.random.normal(jax.random.key(0), (2, 403, 16))
    patches = GroupedConv1d(64, 41, stride=4, groups=groups, impl="patches")
    lax_conv = GroupedConv1d(64, 41, stride=4, groups=groups, impl="lax")
    v = nn.unbox(patches.init(jax.random.key(1), x))
    a, b = patches.apply(v, x), lax_conv.apply(v, x)
    assert a.shape == b.shape == (2, 101, 64)
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    ga = jax.grad(lambda p: patches.apply(p, x).sum())(v)
    gb = jax.grad(lambda p: lax_conv.apply(p, x).sum())(v)
    np.testing.assert_allclose(ga["params"]["kernel"], gb["params"]["kernel"], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_snake_activation_is_learned_and_periodic(tiny_config):
    """model.activation="snake": one alpha per channel at every ELU site, starting at 1, each with
    a gradient (so training moves it); Snake(x) - x is periodic in x with period pi / alpha."""
    from sscodec.nn.seanet import Snake

    config = tiny_config.copy_and_resolve_references()
    config.model.activation = "snake"
    gen = build_generator(config)
    x = jax.random.normal(jax.random.key(0), (1, 3200)) * 0.1
    variables = nn.unbox(gen.init({"params": jax.random.key(1)}, x))
    params = variables["params"]
    alphas = {jax.tree_util.keystr(p): a for p, a in jax.tree_util.tree_leaves_with_path(params)
              if "alpha" in jax.tree_util.keystr(p)}
    blocks = len(config.model.strides)
    units = len(config.model.residual_dilations)
    # Per side: 2 per residual unit, 1 per resampling, 1 before conv_out.
    assert len(alphas) == 2 * blocks * (2 * units + 1) + 2
    assert all(np.all(np.asarray(a) == 1.0) for a in alphas.values())

    def loss(p):
        return jnp.sum(gen.apply({**variables, "params": p}, x, train=False)[0] ** 2)

    grads = jax.grad(loss)(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        if "alpha" in jax.tree_util.keystr(path):
            assert np.abs(np.asarray(g)).max() > 0, jax.tree_util.keystr(path)

    snake = Snake()
    v = snake.init(jax.random.key(0), jnp.zeros((4, 3)))
    v = jax.tree_util.tree_map(lambda a: a * 2.0, nn.unbox(v))  # alpha = 2
    t = jnp.linspace(-3, 3, 12).reshape(4, 3)
    np.testing.assert_allclose(snake.apply(v, t + jnp.pi / 2) - (t + jnp.pi / 2),
                               snake.apply(v, t) - t, atol=1e-5)
