"""The loss balancer: each loss family's gradient at the generator's output gets a fixed share.

EnCodec (arXiv 2210.13438, App. A.4; audiocraft's `Balancer`): instead of summing weighted losses,
take each loss's gradient with respect to the reconstruction, divide it by an exponential moving
average of its norm, scale it by its share of a unit total, and backpropagate the sum through the
generator once. The weights then mean "this loss gets this share of the update" whatever the
losses' scales, which is what the paper's lambdas (1, 100, 1) stopped meaning once our reductions
changed the terms' magnitudes: at init the reconstruction gradient was ~900x the others.

The EMA state is a plain pytree in the train state: {"norm_sums": [F], "weight": []}, a
bias-corrected average (audiocraft's `averager`): mean = norm_sums / weight.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

FAMILIES = ("reconstruction", "adversarial", "feature")


def init_balancer_state() -> dict:
    return {"norm_sums": jnp.zeros((len(FAMILIES),), jnp.float32),
            "weight": jnp.zeros((len(FAMILIES),), jnp.float32)}


def per_example_norm(grad: jax.Array) -> jax.Array:
    """Mean over the batch of each example's gradient L2 norm (audiocraft's per_batch_item)."""
    flat = grad.reshape(grad.shape[0], -1)
    return jnp.mean(jnp.sqrt(jnp.sum(flat * flat, -1) + 1e-30))


def balance(grads: Sequence[jax.Array], active: Sequence[jax.Array], shares: Sequence[float],
            state: dict, decay: float, eps: float = 1e-12) -> tuple[jax.Array, dict, dict]:
    """Combines per-family output gradients into one.

    grads: one gradient per family (same shape as the reconstruction); active: a 0/1 scalar per
    family (an inactive family, e.g. the GAN before `adversarial_start_step`, neither contributes
    nor updates its average). Shares are renormalized over the active families.
    Returns (combined gradient, new state, metrics: each family's raw output-gradient norm).
    """
    norms = jnp.stack([per_example_norm(g) for g in grads])
    on = jnp.stack([jnp.asarray(a, jnp.float32) for a in active])
    sums = jnp.where(on > 0, decay * state["norm_sums"] + norms, state["norm_sums"])
    weight = jnp.where(on > 0, decay * state["weight"] + 1.0, state["weight"])
    average = sums / jnp.maximum(weight, 1e-12)
    share = jnp.asarray(shares, jnp.float32) * on
    share = share / jnp.maximum(share.sum(), 1e-12)
    scales = share / (average + eps)
    combined = sum(s * g for s, g in zip(scales, grads))
    metrics = {f"grad_out/{name}": norms[i] for i, name in enumerate(FAMILIES)}
    return combined, {"norm_sums": sums, "weight": weight}, metrics
