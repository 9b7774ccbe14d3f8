"""DAC's multi-period and multi-band STFT discriminators: shapes at every period and window,
DAC's parameter count, a gradient through every branch, the config switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.nn import losses
from sscodec.config import ConfigError, init_length, load_config
from sscodec.nn.dac_discriminators import BANDS, MultiPeriodMultiBandDiscriminator
from sscodec.nn.discriminators import build_discriminators
from tests.conftest import TINY

PERIODS, WINDOWS, LENGTH = (2, 3, 5, 7, 11), (2048, 1024, 512), 6000


@pytest.fixture(scope="module")
def disc_and_vars():
    disc = MultiPeriodMultiBandDiscriminator(PERIODS, WINDOWS, mpd_channels=4,
                                             mpd_max_channels=64, mrd_channels=4)
    audio = jnp.asarray(np.random.default_rng(0).standard_normal((2, LENGTH)), jnp.float32)
    return disc, disc.init(jax.random.key(0), audio), audio


def _strided(n: int, times: int) -> int:  # a stride-3 conv of kernel 5 padded 2 each side
    for _ in range(times):
        n = (n - 1) // 3 + 1
    return n


@pytest.mark.slow
def test_output_shapes_at_every_period_and_window(disc_and_vars):
    disc, variables, audio = disc_and_vars
    outputs = disc.apply(variables, audio)
    assert len(outputs) == len(PERIODS) + len(WINDOWS)
    for p, (logits, feats) in zip(PERIODS, outputs):
        rows = -(-LENGTH // p)
        heights = [_strided(rows, i + 1) for i in range(4)] + [_strided(rows, 4)]
        assert [f.shape for f in feats] == [(2, h, p, c) for h, c in
                                            zip(heights, (4, 16, 64, 64, 64))]
        assert logits.shape == (2, heights[-1], p)
    for window, (logits, feats) in zip(WINDOWS, outputs[len(PERIODS):]):
        frames, bins = LENGTH // (window // 4), window // 2 + 1
        assert len(feats) == 5 * len(BANDS)  # five layers per band
        widths = []
        for lo, hi in BANDS:
            band = int(hi * bins) - int(lo * bins)
            sizes = [band, (band + 1) // 2, (band + 3) // 4, (band + 7) // 8, (band + 7) // 8]
            widths.append(sizes[-1])
            assert all(f.shape[:2] == (2, frames) and f.shape[-1] == 4 for f in feats)
        assert logits.shape == (2, frames, sum(widths))


def test_parameter_count_matches_dac():
    # dac.model.discriminator.Discriminator() at DAC's widths (32 channels, 1024 at most), with
    # weight norm: each MPD 4,301,601 + each MRD 5 bands x 46,848 + 289 (conv_post) ... counted by
    # hand from DAC's layer list: MPD convs (5 x 1) 1->32->128->512->1024->1024, post (3 x 1)
    # 1024->1; MRD per band (3 x 9) 2->32, 3 x (3 x 9) 32->32, (3 x 3) 32->32, post (3 x 3) 32->1.
    disc = MultiPeriodMultiBandDiscriminator(PERIODS, WINDOWS)
    params = jax.eval_shape(lambda: disc.init(jax.random.key(0), jnp.zeros((1, 4096))))
    count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))

    def conv(k, cin, cout):  # weight norm: kernel + one scale per output channel + bias
        return k * cin * cout + 2 * cout

    mpd = (conv(5, 1, 32) + conv(5, 32, 128) + conv(5, 128, 512) + conv(5, 512, 1024)
           + conv(5, 1024, 1024) + conv(3, 1024, 1))
    band = conv(27, 2, 32) + 3 * conv(27, 32, 32) + conv(9, 32, 32)
    mrd = 5 * band + conv(9, 32, 1)
    assert count == 5 * mpd + 3 * mrd


@pytest.mark.slow
def test_generator_gets_a_gradient_through_every_branch():
    disc = MultiPeriodMultiBandDiscriminator((2, 3), (256, 128), 2, 8, 2)
    audio = jnp.asarray(np.random.default_rng(0).standard_normal((1, 1024)), jnp.float32)
    variables = disc.init(jax.random.key(0), audio)
    per_branch = lambda x: jnp.stack([jnp.mean(logits) for logits, _ in disc.apply(variables, x)])
    grads = jax.jit(jax.jacrev(per_branch))(audio)  # [branches, 1, T]
    assert grads.shape[0] == 4 and np.all(np.isfinite(grads))
    assert np.all(np.abs(np.asarray(grads)).max(axis=(1, 2)) > 0)


@pytest.mark.slow
def test_config_switch_builds_it():
    config = load_config(TINY, ["--config.discriminator.kind=mpd_mrd",
                                "--config.discriminator.mpd_channels=2",
                                "--config.discriminator.mrd_channels=2",
                                "--config.discriminator.mrd_windows=(512, 256)"])
    discs = build_discriminators(config)
    audio = jnp.zeros((1, init_length(config)), jnp.float32)
    outputs = discs.apply(discs.init(jax.random.key(0), audio), audio)
    assert len(outputs) == 5 + 2
    with pytest.raises(ConfigError, match="discriminator.mpd_periods"):
        load_config(TINY, ["--config.discriminator.kind=mpd_mrd",
                           "--config.discriminator.mpd_periods=(1, 2)"])
