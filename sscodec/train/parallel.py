"""Device mesh and shardings from the config: one rules table maps logical axes to mesh axes.

The mesh has the config's axes (`data`, `fsdp`, ...) with Auto axis types, so `jit` propagates
shardings and inserts the collectives (GSPMD). Parameters carry logical axis names from their init
(sscodec/nn/partitioning.py, which also keeps activations batch-split while the step is traced);
`config.mesh.rules` turns them into PartitionSpecs. A dimension that
the mesh axes do not divide, or a parameter smaller than `mesh.fsdp_min_size`, stays replicated.
The quantizer statistics are sums over the global batch, so every device ends a step with the same
codebooks whatever the sharding.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
from ml_collections import ConfigDict

from sscodec.nn.partitioning import axes_size

DEFAULT_AXES = ("data", "fsdp")


def resolve_shape(shape: Sequence[int], num_devices: int) -> tuple[int, ...]:
    """Fills the one -1 of `shape` so that the product is `num_devices`; raises if impossible."""
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if num_devices % known:
            raise ValueError(f"mesh shape {tuple(shape)} does not divide {num_devices} devices")
        shape = tuple(num_devices // known if n == -1 else n for n in shape)
    if math.prod(shape) != num_devices:
        raise ValueError(f"mesh shape {tuple(shape)} needs {math.prod(shape)} devices, "
                         f"{num_devices} are there")
    return tuple(shape)


def make_mesh(mesh_config: ConfigDict | None = None, devices: Sequence | None = None) -> Mesh:
    """The mesh of `config.mesh` over all (or the given) devices; multi-slice when dcn_shape > 1.

    Without a mesh config: a 1-D `data` mesh. Axis types are Auto (sharding propagation).
    """
    devices = list(jax.devices() if devices is None else devices)
    if mesh_config is None:
        return Mesh(np.asarray(devices), ("data",), axis_types=(AxisType.Auto,))
    axes = tuple(mesh_config.axes)
    dcn = tuple(mesh_config.dcn_shape)
    slices = math.prod(dcn)
    if len(devices) % slices:
        raise ValueError(f"mesh.dcn_shape {dcn} asks for {slices} slices; {len(devices)} devices")
    ici = resolve_shape(tuple(mesh_config.shape), len(devices) // slices)
    if slices > 1:
        grid = mesh_utils.create_hybrid_device_mesh(ici, dcn, devices)
    else:  # topology-aware device order on TPU/GPU; a plain reshape on CPU
        grid = mesh_utils.create_device_mesh(ici, devices)
    return Mesh(grid, axes, axis_types=(AxisType.Auto,) * len(axes))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_spec(mesh: Mesh, rules: Sequence | None = None) -> P:
    """The batch axis over the mesh axes the rules give `batch` (default: every mesh axis)."""
    if rules is None:
        return P(tuple(mesh.axis_names) if len(mesh.axis_names) > 1 else mesh.axis_names[0])
    return nn.logical_to_mesh_axes(("batch",), rules)


def batch_sharding(mesh: Mesh, rules: Sequence | None = None) -> NamedSharding:
    return NamedSharding(mesh, batch_spec(mesh, rules))


def fit_spec(spec: P, shape: Sequence[int], mesh: Mesh, min_size: int = 0) -> P:
    """`spec` with the dimensions the mesh cannot split evenly (or too small a leaf) replicated."""
    if math.prod(shape) < min_size:
        return P()
    entries = list(spec) + [None] * (len(shape) - len(spec))
    fitted = [e if e is None or dim % axes_size(mesh, e) == 0 else None
              for e, dim in zip(entries, shape)]
    return P(*fitted)


def state_shardings(boxed_abstract_state: Any, mesh: Mesh, rules: Sequence,
                    min_size: int = 0) -> Any:
    """A NamedSharding for every leaf of the (unboxed) state, from the logical names of the boxed
    abstract state (see train/state.py: `abstract_state(..., boxed=True)`)."""
    logical = nn.get_partition_spec(boxed_abstract_state)
    abstract = nn.unbox(boxed_abstract_state)

    def one(spec: P, leaf) -> NamedSharding:
        mesh_spec = nn.logical_to_mesh_axes(tuple(spec), rules) if len(spec) else P()
        return NamedSharding(mesh, fit_spec(mesh_spec, leaf.shape, mesh, min_size))

    return jax.tree.map(one, logical, abstract, is_leaf=lambda x: isinstance(x, P))


def batch_split(mesh: Mesh, rules: Sequence | None = None) -> int:
    """How many ways the batch axis is split."""
    spec = batch_spec(mesh, rules)
    return axes_size(mesh, spec[0]) if len(spec) else 1


def check_batch_size(global_batch: int, mesh: Mesh, rules: Sequence | None = None) -> None:
    n = batch_split(mesh, rules)
    if global_batch % n:
        raise ValueError(f"config.data.batch_size={global_batch} must be divisible by the {n} "
                         f"devices the batch is split over (mesh {dict(mesh.shape)})")


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh,
                 rules: Sequence | None = None) -> dict[str, jax.Array]:
    """This process's slice of the batch -> global arrays sharded over the batch axes."""
    sharding = batch_sharding(mesh, rules)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in local_batch.items()}
