"""SoundStream's losses: multi-scale mel reconstruction, hinge adversarial, L1 feature matching.

Reductions: the paper sums over time, which makes magnitudes depend on crop length. We average
over frames (and batch, and mel bins for the L1 term) instead, so lambda_rec = 1, lambda_feat = 100
and lambda_adv = 1 keep their balance whatever the crop length. The log term is the (unsquared)
L2 norm over mel bins per frame, weighted by alpha_s = sqrt(s / 2), as written in the paper.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from sscodec.audio import mel_spectrogram

DiscOutputs = Sequence[tuple[jax.Array, Sequence[jax.Array]]]


def _safe_norm(x: jax.Array, axis: int = -1) -> jax.Array:
    """L2 norm with an exact 0 and a zero (not NaN) gradient where x is all zeros."""
    sq = jnp.sum(x * x, axis=axis)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def multiscale_mel_loss(target: jax.Array, estimate: jax.Array, sample_rate: int,
                        windows: Sequence[int] = (64, 128, 256, 512, 1024, 2048),
                        n_mels: int = 64, log_epsilon: float = 1e-5) -> jax.Array:
    """sum_s [ mean |S_s(x) - S_s(x_hat)| + sqrt(s/2) * mean_t ||log S_s(x) - log S_s(x_hat)||_2 ]."""
    total = jnp.zeros((), jnp.float32)
    target, estimate = target.astype(jnp.float32), estimate.astype(jnp.float32)
    for s in windows:
        a = mel_spectrogram(target, sample_rate, s, n_mels)
        b = mel_spectrogram(estimate, sample_rate, s, n_mels)
        l1 = jnp.mean(jnp.abs(a - b))
        log_l2 = jnp.mean(_safe_norm(jnp.log(a + log_epsilon) - jnp.log(b + log_epsilon)))
        total = total + l1 + jnp.sqrt(s / 2.0) * log_l2
    return total


def hinge_discriminator_loss(real: DiscOutputs, fake: DiscOutputs) -> jax.Array:
    """1/K sum_k [ mean_t max(0, 1 - D_k(x)) + mean_t max(0, 1 + D_k(G(x))) ]."""
    terms = [jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
             for (r, _), (f, _) in zip(real, fake)]
    return sum(terms) / len(terms)


def hinge_generator_loss(fake: DiscOutputs) -> jax.Array:
    """1/K sum_k mean_t max(0, 1 - D_k(G(x)))."""
    terms = [jnp.mean(jax.nn.relu(1.0 - f)) for f, _ in fake]
    return sum(terms) / len(terms)


def feature_matching_loss(real: DiscOutputs, fake: DiscOutputs) -> jax.Array:
    """Mean over all discriminators k and layers l of mean |D_k^l(x) - D_k^l(G(x))|."""
    terms = [jnp.mean(jnp.abs(jax.lax.stop_gradient(fr) - ff))
             for (_, feats_r), (_, feats_f) in zip(real, fake)
             for fr, ff in zip(feats_r, feats_f)]
    return sum(terms) / len(terms)
