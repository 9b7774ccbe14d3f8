"""Ahead-of-time compilation of the sharded train step for a TPU topology that is not present.

`compile_for_topology(config, "v5e:16x16")` builds the topology's devices with libtpu (which
compiles for TPUs on any machine, as maxtext's train_compile.py does), lays the config's mesh over
them, and compiles the train step from shapes alone: no parameter or batch is ever allocated. The
report gives the per-chip memory XLA plans for (arguments, outputs, temporaries, code), the FLOPs
per step and whether the program fits the chip's HBM, before anyone books the pod.
"""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from sscodec import platforms
from sscodec.config import audio_shape
from sscodec.train import parallel
from sscodec.train.state import abstract_state, build_models, crop_length, shardings_for
from sscodec.train.step import lower_train_step

# HBM per chip, GiB (public spec sheets).
HBM_GIB = {"v4": 32, "v5e": 16, "v5litepod": 16, "v5p": 95, "v6e": 32, "v5": 95}


def chip_family(topology: str) -> str:
    return topology.split(":", 1)[0].lower()


def topology_devices(topology: str, num_slices: int = 1,
                     chips_per_host_bounds: tuple[int, int, int] = (2, 2, 1)) -> list:
    """The devices of `topology` (e.g. 'v5e:4x4', 'v4:2x2x2') as libtpu describes them."""
    from jax.experimental import topologies
    platforms.quiet_libtpu()
    try:
        topo = topologies.get_topology_desc(
            platform="tpu", topology_name=topology, chip_config_name="default",
            chips_per_host_bounds=chips_per_host_bounds, num_slices=num_slices)
    except Exception as e:  # libtpu missing or an unknown topology name
        if "lockfile" in str(e):
            raise ValueError("another process holds libtpu's lockfile /tmp/libtpu_lockfile (on a "
                             "TPU VM: a running or killed TPU job; stop it, or remove the file "
                             "if no process uses the TPU)") from None
        raise ValueError(f"cannot describe TPU topology {topology!r} ({type(e).__name__}: {e}); "
                         "names look like v5e:4x4, v4:2x2x2, v5p:2x2x2, v6e:8x8 and need the "
                         "libtpu package") from None
    return list(topo.devices)


def compile_for_topology(config: ConfigDict, topology: str, num_slices: int = 1,
                         keep_hlo: bool = False) -> dict[str, Any]:
    """Compiles the train step for `topology` and reports memory per chip, FLOPs and fit
    (`keep_hlo`: the compiled HLO text too, under "hlo")."""
    config = config.copy_and_resolve_references()
    if config.discriminator.grouped_conv == "auto":
        config.discriminator.grouped_conv = "lax"  # what "auto" picks on TPU
    devices = topology_devices(topology, num_slices)
    mesh = parallel.make_mesh(config.mesh, devices)
    rules = tuple(config.mesh.rules)
    parallel.check_batch_size(config.data.batch_size, mesh, rules)
    models = build_models(config)

    t0 = time.perf_counter()
    shardings = shardings_for(models, config, mesh)
    state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                         abstract_state(models, config), shardings)
    b, length = config.data.batch_size, crop_length(config)
    batch_sh = parallel.batch_sharding(mesh, rules)
    audio = jax.ShapeDtypeStruct(audio_shape(config, b, length), jnp.float32, sharding=batch_sh)
    batch = {"input": audio, "target": audio,
             "denoise": jax.ShapeDtypeStruct((b,), jnp.int32, sharding=batch_sh)}
    compiled = lower_train_step(config, models, state, batch).compile()
    seconds = time.perf_counter() - t0

    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
    gib = 2 ** 30
    per_chip = {
        "arguments_gib": memory.argument_size_in_bytes / gib,
        "outputs_gib": memory.output_size_in_bytes / gib,
        "aliased_gib": memory.alias_size_in_bytes / gib,
        "temporaries_gib": memory.temp_size_in_bytes / gib,
        "code_gib": memory.generated_code_size_in_bytes / gib,
    }
    total = (per_chip["arguments_gib"] + per_chip["outputs_gib"] - per_chip["aliased_gib"]
             + per_chip["temporaries_gib"] + per_chip["code_gib"])
    hbm = HBM_GIB.get(chip_family(topology))
    flops = float(cost.get("flops", math.nan))
    return {
        "topology": topology, "num_slices": num_slices, "chips": len(devices),
        "mesh": dict(mesh.shape), "global_batch": b, "crop_seconds": length / config.sample_rate,
        "compute_dtype": config.train.compute_dtype, "compile_s": seconds,
        "memory_per_chip": {**per_chip, "total_gib": total}, "hbm_per_chip_gib": hbm,
        "fits": None if hbm is None else total <= hbm,
        "flops_per_step_per_chip": flops,
        "flops_per_step": flops * len(devices),
        **({"hlo": compiled.as_text()} if keep_hlo else {}),
    }


def format_report(report: dict[str, Any]) -> str:
    m = report["memory_per_chip"]
    fits = {True: "fits", False: "DOES NOT FIT", None: "unknown HBM size"}[report["fits"]]
    return "\n".join([
        f"{report['topology']} x {report['num_slices']} slice(s): {report['chips']} chips, "
        f"mesh {report['mesh']}, global batch {report['global_batch']} x "
        f"{report['crop_seconds']:g} s, {report['compute_dtype']}; compiled in "
        f"{report['compile_s']:.1f} s",
        f"  per chip: arguments {m['arguments_gib']:.3f} GiB, outputs {m['outputs_gib']:.3f} "
        f"(aliased {m['aliased_gib']:.3f}), temporaries {m['temporaries_gib']:.3f}, code "
        f"{m['code_gib']:.3f}: total {m['total_gib']:.3f} GiB of "
        f"{report['hbm_per_chip_gib'] or '?'} GiB HBM -> {fits}",
        f"  FLOPs per step: {report['flops_per_step']:.3e} "
        f"({report['flops_per_step_per_chip']:.3e} per chip)",
    ])
