"""Device mesh and shardings: state replicated, batch split over the `data` axis.

`jit` inserts the collectives: the quantizer statistics and gradients are sums over the sharded
batch axis, so every device ends each step with the same parameters and codebooks.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D `data` mesh over all (or the given) devices, with Auto axis types (GSPMD style)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def state_shardings(abstract_state: Any, mesh: Mesh) -> Any:
    """A sharding for every leaf of the state (replicated for now)."""
    return jax.tree.map(lambda _: replicated(mesh), abstract_state)


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if global_batch % n:
        raise ValueError(f"config.data.batch_size={global_batch} must be divisible by the "
                         f"{n} devices of the mesh")


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's slice of the batch -> global arrays sharded over `data`."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in local_batch.items()}
