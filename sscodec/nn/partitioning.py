"""Logical axis names for every parameter, attached at init (Flax `with_logical_partitioning`).

The names say what an axis *is*; the config's rules table (`config.mesh.rules`) says which mesh
axes each name is sharded over, in one place (see sscodec/sharding.py). Modules read plain arrays:
the names only live in the boxed variables that `init` returns.
"""

from __future__ import annotations

import flax.linen as nn
import jax

KERNEL_1D = ("width", "conv_in", "conv_out")
KERNEL_2D = ("height", "width", "conv_in", "conv_out")
DENSE = ("dense_in", "dense_out")
BIAS = ("bias",)
CODEBOOK = ("quantizers", "codes", "code_dim")
CODE_STATS = ("quantizers", "codes")

# Every logical name a parameter or the batch can carry; the rules table must cover them all.
LOGICAL_AXES = ("batch",) + tuple(dict.fromkeys(KERNEL_2D + DENSE + BIAS + CODEBOOK))


def conv_kernel(ndim: int = 1, init: jax.nn.initializers.Initializer = nn.initializers.lecun_normal()):
    """A conv kernel initializer carrying the names of a 1-D or 2-D kernel's axes."""
    return nn.with_logical_partitioning(init, KERNEL_1D if ndim == 1 else KERNEL_2D)


def bias(init: jax.nn.initializers.Initializer = nn.initializers.zeros_init()):
    return nn.with_logical_partitioning(init, BIAS)


def conv(ndim: int = 1) -> dict:
    """kernel_init and bias_init keyword arguments for an nn.Conv."""
    return {"kernel_init": conv_kernel(ndim), "bias_init": bias()}
