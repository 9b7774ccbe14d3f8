"""Logical axis names for every parameter, attached at init (Flax `with_logical_partitioning`).

The names say what an axis *is*; the config's rules table (`config.mesh.rules`) says which mesh
axes each name is sharded over, in one place (see sscodec/train/parallel.py). Modules read plain arrays:
the names only live in the boxed variables that `init` returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Callable, Iterator

import flax.linen as nn
import jax
from jax.sharding import Mesh, PartitionSpec as P

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


# ---------------------------------------------------------------- the batch's split while tracing
# The model's layers ask these while `jit` traces them: under `batch_partitioned` (set by the
# train step's compile) they keep activations split over the batch; elsewhere they do nothing.

def axes_size(mesh: Mesh, entry) -> int:
    """The number of devices a logical axis entry (None, a mesh axis name or a tuple) spans."""
    names = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
    return math.prod(mesh.shape[n] for n in names)


_BATCH_AXES: contextvars.ContextVar = contextvars.ContextVar("sscodec_batch_axes", default=None)


@contextlib.contextmanager
def batch_partitioned(mesh: Mesh, batch_axes) -> Iterator[None]:
    """Trace (jit's `lower`) inside this to let `per_shard` run ops on each device's examples:
    sets `mesh` as JAX's context mesh and records the mesh axes the batch is split over."""
    token = _BATCH_AXES.set(batch_axes)
    try:
        with jax.set_mesh(mesh):
            yield
    finally:
        _BATCH_AXES.reset(token)


def _shard_spec(*xs: jax.Array) -> P | None:
    """The batch's PartitionSpec when tracing under `batch_partitioned` with a batch split that
    divides every x's leading axis; None otherwise (compute unpartitioned)."""
    axes = _BATCH_AXES.get()
    mesh = jax.sharding.get_abstract_mesh()
    if axes is None or mesh.empty:
        return None
    split = axes_size(mesh, axes)
    if split == 1 or any(x.ndim == 0 or x.shape[0] % split for x in xs):
        return None
    return P(axes)


def per_shard(fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """fn(x) with each device applying `fn` to its own examples (x's leading axis is the batch),
    for ops that GSPMD does not partition: given a batch-sharded FFT it all-gathers the batch and
    every device transforms all of it (8 devices: 8x the FLOPs per device). Outside
    `batch_partitioned`, or for a batch its axes do not divide, a plain fn(x)."""
    spec = _shard_spec(x)
    if spec is None:
        return fn(x)
    # check_vma=False: a custom VJP inside (the polyphase grouped conv) returns its kernel
    # gradient per device; shard_map's transpose sums it over devices either way.
    return jax.shard_map(fn, in_specs=spec, out_specs=spec, check_vma=False)(x)


def batch_sharded(x: jax.Array) -> jax.Array:
    """x constrained to be split over the batch only (whole channels on every device) while
    tracing under `batch_partitioned`; x itself elsewhere. On a conv's activations this makes
    FSDP gather the kernel instead of letting GSPMD split the channels and redo work."""
    spec = _shard_spec(x)
    return x if spec is None else jax.lax.with_sharding_constraint(x, spec)
