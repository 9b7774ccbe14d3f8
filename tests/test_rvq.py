"""Residual vector quantizer: stages, round trip, dropout, k-means init, dead codes, EMA."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.nn.rvq import ResidualVectorQuantizer, replacement_frames
from sscodec.nn.soundstream import build_generator

DIM, CODES, STAGES = 8, 16, 4


def make_rvq(**kw):
    return ResidualVectorQuantizer(num_quantizers=STAGES, codebook_size=CODES, dim=DIM, **kw)


def structured_data(seed=0, frames=2048):
    """Hierarchical clusters: coarse + 0.1 * medium + 0.01 * fine centers + tiny noise."""
    rng = np.random.default_rng(seed)
    levels = [rng.normal(size=(CODES, DIM)) * s for s in (1.0, 0.1, 0.01)]
    idx = rng.integers(0, CODES, size=(3, frames))
    x = sum(level[i] for level, i in zip(levels, idx)) + rng.normal(size=(frames, DIM)) * 1e-4
    return jnp.asarray(x[None], jnp.float32), levels


def train_call(rvq, variables, x, key=0, n_q=None):
    (q, aux), mutated = rvq.apply(variables, x, n_q, train=True, mutable=["quantizer"],
                                  rngs={"quantizer": jax.random.key(key)})
    return q, aux, {**variables, **mutated}


def init_call(rvq, variables, x, key=0):
    _, mutated = rvq.apply(variables, x, method="initialize_codebooks", mutable=["quantizer"],
                           rngs={"quantizer": jax.random.key(key)})
    return {**variables, **mutated}


@pytest.fixture(scope="module")
def initialized():
    rvq = make_rvq()
    x, levels = structured_data()
    variables = nn.unbox(rvq.init({"params": jax.random.key(0)}, x))
    assert not bool(variables["quantizer"]["initialized"])
    variables = init_call(rvq, variables, x)
    return rvq, variables, x, levels


def test_train_step_leaves_codebook_init_to_its_own_program(initialized):
    """A training call on fresh codebooks does no k-means: they stay uninitialized, and the
    codes this batch hits too rarely to pass the dead-code threshold (usage starts at 0) are
    replaced by batch frames."""
    rvq, _, x, _ = initialized
    fresh = nn.unbox(rvq.init({"params": jax.random.key(0)}, x))
    _, aux, after = train_call(rvq, fresh, x)
    assert not bool(after["quantizer"]["initialized"])
    assert float(aux["dead_codes_replaced"]) >= 0.5
    frames = np.asarray(x[0])
    first = np.asarray(after["quantizer"]["codebook"][0])  # later stages hold residual frames
    exact = np.linalg.norm(frames[None] - first[:, None], axis=-1).min(axis=1) < 1e-5
    assert exact.sum() >= CODES // 2


def test_kmeans_puts_centroids_on_the_data(initialized):
    rvq, variables, x, levels = initialized
    assert bool(variables["quantizer"]["initialized"])
    first = np.asarray(variables["quantizer"]["codebook"][0])
    # all but at most one first-stage centroid sit on a coarse cluster (whose spread is ~0.1;
    # 10 Lloyd iterations from k-means++ seeds may leave one between two clusters)
    dist = np.linalg.norm(first[:, None] - levels[0][None], axis=-1)
    assert (dist.min(axis=1) < 0.5).sum() >= CODES - 1
    assert len(set(dist.argmin(axis=1))) >= 13  # and they cover most clusters


def test_each_stage_lowers_the_residual_and_codes_decode_back(initialized):
    rvq, variables, x, _ = initialized
    codes = rvq.apply(variables, x, method="encode")
    assert codes.shape == (1, x.shape[1], STAGES)
    errors = [float(jnp.mean(jnp.square(x))) if k == 0 else float(jnp.mean(jnp.square(
        x - rvq.apply(variables, codes[..., :k], method="decode")))) for k in range(STAGES + 1)]
    assert all(b < 0.5 * a for a, b in zip(errors, errors[1:])), errors
    q, aux = rvq.apply(variables, x)  # eval pass with all stages
    np.testing.assert_array_equal(aux["codes"], codes)
    np.testing.assert_allclose(q, rvq.apply(variables, codes, method="decode"), atol=1e-5)


def test_per_example_depth_masks_later_stages(initialized):
    rvq, variables, x, _ = initialized
    batch = jnp.reshape(x[:, :2000], (4, 500, DIM))
    n_q = jnp.array([1, 2, 3, 4])
    q, aux = rvq.apply(variables, batch, n_q)
    for b in range(4):
        expect = rvq.apply(variables, aux["codes"][b:b + 1, :, : int(n_q[b])], method="decode")
        np.testing.assert_allclose(q[b:b + 1], expect, atol=1e-5)


def test_straight_through_gradient_is_identity(initialized):
    rvq, variables, x, _ = initialized
    g = jax.grad(lambda x: jnp.sum(rvq.apply(variables, x)[0] * 3.0))(x)
    np.testing.assert_allclose(g, 3.0 * np.ones_like(x), atol=1e-6)


def test_dead_code_is_replaced_by_a_batch_frame(initialized):
    rvq, variables, x, _ = initialized
    cb = variables["quantizer"]["codebook"].at[0, 3].set(1e3)
    cs = variables["quantizer"]["cluster_size"].at[0, 3].set(0.0)
    v = {**variables, "quantizer": {**variables["quantizer"], "codebook": cb, "cluster_size": cs}}
    _, _, v = train_call(rvq, v, x, key=5)
    entry = np.asarray(v["quantizer"]["codebook"][0, 3])
    frames = np.asarray(x[0])
    assert np.linalg.norm(frames - entry, axis=-1).min() < 1e-5
    assert float(v["quantizer"]["cluster_size"][0, 3]) >= rvq.dead_code_threshold


def test_replacement_frame_of_code_j_comes_from_example_j_mod_batch():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 50, DIM)), jnp.float32)
    picked = np.asarray(replacement_frames(x, jax.random.key(4), 16))
    assert picked.shape == (16, DIM)
    for j, frame in enumerate(picked):
        dist = np.linalg.norm(np.asarray(x) - frame, axis=-1)  # [3, 50]
        assert dist[j % 3].min() == 0.0 and dist.min(axis=1).tolist().count(0.0) == 1
    positions = {int(np.linalg.norm(np.asarray(x[j % 3]) - f, axis=-1).argmin())
                 for j, f in enumerate(picked)}
    assert len(positions) > 8  # drawn positions, not one fixed frame per example


def test_ema_moves_codebook_toward_assigned_mean():
    rvq = make_rvq(ema_decay=0.9)
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(1, 512, DIM)), jnp.float32)
    variables = init_call(rvq, nn.unbox(rvq.init({"params": jax.random.key(0)}, x)), x)
    # make every code look alive so no replacement interferes, then shift the data
    qv = dict(variables["quantizer"])
    qv["cluster_size"] = jnp.full_like(qv["cluster_size"], 100.0)
    qv["embed_sum"] = qv["codebook"] * 100.0
    variables = {**variables, "quantizer": qv}
    shifted = x + 0.5
    codes = np.asarray(rvq.apply(variables, shifted, method="encode")[0, :, 0])
    before = np.asarray(qv["codebook"][0])
    _, _, after_vars = train_call(rvq, variables, shifted)
    after = np.asarray(after_vars["quantizer"]["codebook"][0])
    moved = 0
    for k in np.unique(codes):
        mean = np.asarray(shifted[0])[codes == k].mean(0)
        assert np.linalg.norm(after[k] - mean) < np.linalg.norm(before[k] - mean)
        moved += 1
    assert moved >= 4
    # exact EMA for one code: (0.9 * 100 * c + 0.1 * sum) / smoothed(0.9 * 100 + 0.1 * n)
    k = int(np.bincount(codes).argmax())
    n_k = (codes == k).sum()
    cs = 0.9 * 100.0 + 0.1 * np.bincount(codes, minlength=CODES)
    total = cs.sum()
    smoothed = (cs + rvq.epsilon) / (total + CODES * rvq.epsilon) * total
    expect = (0.9 * 100.0 * before[k] + 0.1 * np.asarray(shifted[0])[codes == k].sum(0)) / smoothed[k]
    np.testing.assert_allclose(after[k], expect, rtol=1e-4, atol=1e-4)
    assert n_k > 0


def test_quantizer_dropout_draws_depth_per_example(tiny_config):
    gen = build_generator(tiny_config)
    x = jax.random.normal(jax.random.key(0), (32, 3200)) * 0.1
    variables = nn.unbox(gen.init({"params": jax.random.key(0)}, x[:1]))
    (_, aux), _ = gen.apply(variables, x, train=True, mutable=["quantizer"],
                            rngs={"dropout": jax.random.key(1), "quantizer": jax.random.key(2)})
    n_q = np.asarray(aux["n_q"])
    assert n_q.shape == (32,)
    assert n_q.min() >= 1 and n_q.max() <= tiny_config.quantizer.num_quantizers
    assert len(set(n_q.tolist())) > 1  # drawn per example, not per batch
    (_, aux_eval) = gen.apply(variables, x, train=False, n_q=2)
    assert set(np.asarray(aux_eval["n_q"]).tolist()) == {2}


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.0, 0.5])
def test_quantizer_dropout_share_keeps_the_rest_at_full_depth(tiny_config, share):
    """DAC's dropout on a share of the examples: share 0 trains every example at all N_q; at 0.5
    about half the examples draw a depth (and 1/N_q of those draw the full one anyway)."""
    config = tiny_config.copy_and_resolve_references()
    config.quantizer.dropout_share = share
    gen = build_generator(config)
    x = jax.random.normal(jax.random.key(0), (256, 640)) * 0.1
    variables = nn.unbox(gen.init({"params": jax.random.key(0)}, x[:1]))
    (_, aux), _ = gen.apply(variables, x, train=True, mutable=["quantizer"],
                            rngs={"dropout": jax.random.key(1), "quantizer": jax.random.key(2)})
    num = config.quantizer.num_quantizers
    full = float(np.mean(np.asarray(aux["n_q"]) == num))
    expected = 1.0 - share + share / num
    assert abs(full - expected) < 0.1, (full, expected)


def test_usage_and_replacement_metrics(initialized):
    rvq, variables, x, _ = initialized
    _, aux = rvq.apply(variables, x)
    assert 0.8 <= float(aux["codebook_usage"]) <= 1.0  # structured data uses most codes
    assert float(aux["dead_codes_replaced"]) == 0.0  # nothing is replaced outside training
    few = x[:, :4]  # 4 frames can hit at most 4 of 16 codes per stage
    _, aux = rvq.apply(variables, few)
    assert float(aux["codebook_usage"]) <= 4 / CODES
    qv = {**variables["quantizer"],
          "cluster_size": jnp.full_like(variables["quantizer"]["cluster_size"], 2.01)}
    _, aux, _ = train_call(rvq, {**variables, "quantizer": qv}, few)
    # codes the 4 frames miss decay to 0.99 * 2.01 < 2 and are replaced
    assert float(aux["dead_codes_replaced"]) >= 1 - 4 / CODES


def test_traced_depth_and_stored_norms_give_the_static_codes(initialized):
    """What an exported bundle runs: one function for every n_q, codebook norms precomputed."""
    rvq, variables, x = initialized[:3]
    full = rvq.apply(variables, x, method=ResidualVectorQuantizer.encode)
    stored = dict(variables)
    codebook = variables["quantizer"]["codebook"]
    stored["quantizer"] = {**variables["quantizer"],
                           "codebook_sqnorm": jnp.sum(codebook * codebook, -1)}
    encode = jax.jit(lambda v, x, n: rvq.apply(v, x, n, method=ResidualVectorQuantizer.encode))
    for n_q in (1, 3, STAGES):
        codes = np.asarray(encode(stored, x, jnp.int32(n_q)))
        np.testing.assert_array_equal(codes[..., :n_q], np.asarray(full)[..., :n_q])
        assert codes.shape == full.shape and not codes[..., n_q:].any()
