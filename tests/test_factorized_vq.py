"""Factorized codes (quantizer.codes="factorized", DAC's): unit-norm codes by cosine lookup,
codebooks learned by gradient, encode/decode agreeing with the training pass, the bundle's table."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.config import ConfigError, load_config
from sscodec.nn.factorized_vq import FactorizedResidualVQ, l2_normalize
from sscodec.nn.soundstream import build_generator
from tests.conftest import TINY

DIM, CODES, STAGES, CODE_DIM = 16, 32, 3, 4


@pytest.fixture(scope="module")
def vq_and_vars():
    vq = FactorizedResidualVQ(STAGES, CODES, DIM, CODE_DIM)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 50, DIM)), jnp.float32)
    return vq, nn.unbox(vq.init(jax.random.key(0), x)), x


def test_lookup_gives_unit_norm_codes_of_highest_cosine(vq_and_vars):
    vq, variables, x = vq_and_vars
    z = l2_normalize(jnp.asarray(np.random.default_rng(1).standard_normal((64, CODE_DIM)),
                                 jnp.float32))
    idx, code = vq.apply(variables, z, 0, method=lambda m, z, i: m._lookup(z, i))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(code), axis=-1), 1.0, atol=1e-5)
    codebook = np.asarray(variables["params"]["codebook"][0])
    cosine = np.asarray(z) @ (codebook / np.linalg.norm(codebook, axis=-1, keepdims=True)).T
    np.testing.assert_array_equal(np.asarray(idx), cosine.argmax(-1))
    # Scaling a codebook row leaves the lookup unchanged: only directions count.
    scaled = jax.tree.map(lambda a: a, variables)
    scaled["params"]["codebook"] = variables["params"]["codebook"] * 7.0
    idx2, code2 = vq.apply(scaled, z, 0, method=lambda m, z, i: m._lookup(z, i))
    np.testing.assert_array_equal(np.asarray(idx), np.asarray(idx2))
    np.testing.assert_allclose(np.asarray(code), np.asarray(code2), atol=1e-6)


def test_training_pass_matches_encode_decode(vq_and_vars):
    vq, variables, x = vq_and_vars
    quantized, aux = vq.apply(variables, x, train=True)
    codes = vq.apply(variables, x, method="encode")
    np.testing.assert_array_equal(np.asarray(aux["codes"]), np.asarray(codes))
    decoded = vq.apply(variables, codes, method="decode")
    np.testing.assert_allclose(np.asarray(quantized), np.asarray(decoded), atol=1e-5)
    # A traced depth gives the first n_q columns and zeros after them.
    codes2 = jax.jit(lambda v, x, n: vq.apply(v, x, n, method="encode"))(variables, x, 2)
    np.testing.assert_array_equal(np.asarray(codes2[..., :2]), np.asarray(codes[..., :2]))
    assert not np.any(np.asarray(codes2[..., 2:]))
    assert aux["perplexity"].shape == (STAGES,) and float(aux["commit_loss"]) > 0


def test_codebooks_and_projections_learn_by_gradient(vq_and_vars):
    vq, variables, x = vq_and_vars

    def loss(params):
        quantized, aux = vq.apply({**variables, "params": params}, x, train=True)
        return jnp.mean(jnp.square(quantized - x)) + aux["commit_loss"]

    grads = jax.grad(loss)(variables["params"])
    for name in ("codebook", "in_kernel", "out_kernel"):
        assert float(jnp.abs(grads[name]).max()) > 0, name
    # The straight-through estimate reaches the input.
    dx = jax.grad(lambda x: jnp.sum(vq.apply(variables, x, train=True)[0]))(x)
    assert float(jnp.abs(dx).max()) > 0


def test_dropout_masks_later_stages(vq_and_vars):
    vq, variables, x = vq_and_vars
    one = vq.apply(variables, x, jnp.array([1, 1]), train=True)[0]
    codes = vq.apply(variables, x, 1, method="encode")
    np.testing.assert_allclose(np.asarray(one), np.asarray(vq.apply(variables, codes,
                                                                    method="decode")), atol=1e-5)


def test_config_switch_builds_it_and_checks_code_dim():
    config = load_config(TINY, ["--config.quantizer.codes=factorized",
                                "--config.quantizer.code_dim=4"])
    generator = build_generator(config)
    assert isinstance(generator.quantizer, FactorizedResidualVQ)
    assert generator.quantizer.code_dim == 4
    with pytest.raises(ConfigError, match="quantizer.codes"):
        load_config(TINY, ["--config.quantizer.codes=fsq"])
    with pytest.raises(ConfigError, match="quantizer.code_dim"):
        load_config(TINY, ["--config.quantizer.codes=factorized",
                           "--config.quantizer.code_dim=0"])


@pytest.mark.slow
def test_exported_bundle_codes_and_decodes_like_the_model_offline_and_streaming(tmp_path):
    """The bundle's encoder and its summed decoder-side table give the module's own codes and
    audio; streaming gives the offline codes."""
    from sscodec.codec import Codec
    from sscodec.codec.export import inference_config, initial_weights, write_bundle
    config = inference_config(load_config(TINY, ["--config.quantizer.codes=factorized",
                                                 "--config.quantizer.code_dim=4"]))
    weights = initial_weights(config, seed=1)
    write_bundle(config, weights, str(tmp_path / "bundle"))
    codec = Codec.load(str(tmp_path / "bundle"))
    rate = codec.sample_rate
    audio = (0.3 * np.sin(np.linspace(0, 900, rate // 2))
             * np.random.default_rng(0).uniform(0.5, 1, rate // 2)).astype(np.float32)
    codes = codec.encode(audio, rate)
    generator = build_generator(config)
    variables = {"params": weights["params"], "quantizer": weights["quantizer"]}
    padded = np.zeros((1, codes.shape[0] * codec.frame_size), np.float32)
    padded[0, :len(audio)] = audio
    expected = np.asarray(generator.apply(variables, padded, method="encode"))[0]
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_allclose(
        codec.decode(codes)[:len(audio)], np.asarray(generator.apply(variables, expected[None],
                                                        method="decode"))[0, :len(audio)],
        atol=2e-5)
    encoder = codec.stream_encoder()
    streamed = np.concatenate([encoder.push(audio[i: i + 700]) for i in range(0, len(audio), 700)]
                              + [encoder.flush()])
    np.testing.assert_array_equal(streamed, codes)
