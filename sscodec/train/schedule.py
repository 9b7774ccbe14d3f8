"""The learning-rate schedule, as a factor of the configured rates at the global step.

The factor multiplies the optimizers' updates inside the train step (for Adam that is exactly a
learning-rate schedule) instead of living in the optax chain, so the optimizer state has the same
structure whatever the schedule: a run can be resumed with another schedule or a longer
`num_steps`, and checkpoints of constant-rate runs still restore.

  "constant" (the paper's): 1 after `optim.warmup_steps` of linear warm-up.
  "cosine" (ours, for short CPU runs): warm-up, then a cosine from 1 down to
  `optim.final_lr_fraction` at `num_steps`. A short run's last steps then average out the
  gradient noise that a constant rate leaves in the weights.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

SCHEDULES = ("constant", "cosine")


def lr_factor(config: ConfigDict, step) -> jnp.ndarray:
    """The factor (float32 scalar) of the configured learning rates at global `step`."""
    o = config.optim
    step = jnp.asarray(step, jnp.float32)
    warmup = jnp.minimum(1.0, (step + 1.0) / max(o.warmup_steps, 1))
    if o.lr_schedule == "constant":
        return warmup
    cosine = optax.cosine_decay_schedule(1.0, max(config.num_steps - o.warmup_steps, 1),
                                         alpha=o.final_lr_fraction)
    return warmup * cosine(jnp.maximum(step - o.warmup_steps, 0.0))
