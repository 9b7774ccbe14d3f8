"""EnCodec's MS-STFT discriminator: shapes at every scale, encodec's parameter count, the switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.nn import losses
from sscodec.config import ConfigError, init_length, load_config
from sscodec.nn.discriminators import build_discriminators
from sscodec.nn.ms_stft_discriminator import MultiScaleSTFTDiscriminator
from tests.conftest import ROOT

WINDOWS = (2048, 1024, 512, 256, 128)


@pytest.fixture(scope="module")
def disc_and_vars():
    disc = MultiScaleSTFTDiscriminator(WINDOWS, channels=32)
    audio = jnp.asarray(np.random.default_rng(0).standard_normal((2, 12000)), jnp.float32)
    return disc, disc.init(jax.random.key(0), audio), audio


@pytest.mark.slow
def test_output_shapes_at_every_scale(disc_and_vars):
    disc, variables, audio = disc_and_vars
    outputs = disc.apply(variables, audio)
    assert len(outputs) == len(WINDOWS)
    for window, (logits, feats) in zip(WINDOWS, outputs):
        frames, bins = 12000 // (window // 4), window // 2 + 1
        # (3, 9) conv, three frequency-strided (stride 2) convs, a (3, 3) conv: five feature maps.
        widths = [bins, (bins + 1) // 2, (bins + 3) // 4, (bins + 7) // 8, (bins + 7) // 8]
        assert [f.shape for f in feats] == [(2, frames, w, 32) for w in widths]
        assert logits.shape == (2, frames, widths[-1])


def test_parameter_count_matches_encodec(disc_and_vars):
    # encodec.msstftd.MultiScaleSTFTDiscriminator(filters=32) with these five windows, counted
    # with torch 2.13 / encodec 0.1.1: 472,330 (its first conv per scale has no weight norm).
    _, variables, _ = disc_and_vars
    assert sum(p.size for p in jax.tree.leaves(variables)) == 472_330


def test_generator_gets_a_gradient_through_every_scale(disc_and_vars):
    disc, variables, audio = disc_and_vars
    grad = jax.jit(jax.grad(lambda x: losses.hinge_generator_loss(disc.apply(variables, x))))(audio)
    assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0


@pytest.mark.slow
def test_config_switch_builds_it():
    config = load_config(f"{ROOT}/experiments/tiny.py",
                         ["--config.discriminator.kind=ms_stft",
                          "--config.discriminator.ms_stft_channels=4"])
    discs = build_discriminators(config)
    audio = jnp.zeros((1, init_length(config)), jnp.float32)
    outputs = discs.apply(discs.init(jax.random.key(0), audio), audio)
    assert len(outputs) == len(config.discriminator.ms_stft_windows)
    with pytest.raises(ConfigError, match="discriminator.kind"):
        load_config(f"{ROOT}/experiments/tiny.py", ["--config.discriminator.kind=msd"])
