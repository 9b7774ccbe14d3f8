"""Mesh shapes, sharding rules and the config keys behind them (no devices needed)."""

import os

import flax.linen as nn
import jax
import pytest
from jax.sharding import AbstractMesh, PartitionSpec as P

from sscodec.train import parallel
from sscodec.config import ConfigError, apply_overrides, default_config, validate
from sscodec.train.runtime import _multi_process_env


def test_mesh_shape_fills_the_free_axis_and_rejects_impossible_shapes():
    assert parallel.resolve_shape((-1, 2), 8) == (4, 2)
    assert parallel.resolve_shape((2, 4), 8) == (2, 4)
    with pytest.raises(ValueError, match="does not divide"):
        parallel.resolve_shape((-1, 3), 8)
    with pytest.raises(ValueError, match="needs 6 devices"):
        parallel.resolve_shape((2, 3), 8)


def test_rules_shard_big_kernels_over_fsdp_and_keep_the_rest_replicated():
    mesh = AbstractMesh((2, 4), ("data", "fsdp"))
    rules = default_config().mesh.rules
    spec = nn.logical_to_mesh_axes(("width", "conv_in", "conv_out"), rules)
    assert spec == P(None, None, "fsdp")
    assert parallel.fit_spec(spec, (7, 256, 512), mesh) == P(None, None, "fsdp")
    assert parallel.fit_spec(spec, (7, 256, 6), mesh) == P(None, None, None)  # 6 % 4 != 0
    assert parallel.fit_spec(spec, (7, 4, 8), mesh, min_size=1024) == P()  # too small to shard
    assert parallel.batch_spec(mesh, rules) == P(("data", "fsdp"))
    assert parallel.batch_split(mesh, rules) == 8
    with pytest.raises(ValueError, match="divisible by the 8 devices"):
        parallel.check_batch_size(12, mesh, rules)


def test_every_parameter_carries_logical_names():
    from sscodec.train.state import abstract_state, build_models
    config = default_config()
    for key, value in (("model.encoder_channels", 2), ("model.decoder_channels", 2),
                       ("discriminator.stft_channels", 2), ("discriminator.wave_channels", 2)):
        apply_overrides(config, [f"{key}={value}"])
    boxed = abstract_state(build_models(config), config, boxed=True)
    for name in ("gen_params", "disc_params", "quantizer"):
        leaves = jax.tree.leaves(boxed[name], is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
        assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves), name
    moments = jax.tree.leaves(boxed["gen_opt"], is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert sum(isinstance(x, nn.LogicallyPartitioned) for x in moments) >= 2 * len(
        jax.tree.leaves(nn.unbox(boxed["gen_params"])))


def test_mesh_config_errors_name_the_key():
    for override, key in (("mesh.shape=(-1, -1)", "mesh.shape"), ("mesh.shape=(2,)", "mesh.shape"),
                          ("mesh.rules=(('batch', 'dat'),)", "mesh.rules[0]"),
                          ("mesh.rules=(('batch', 'data'),)", "mesh.rules"),
                          ("train.compute_dtype=float16", "train.compute_dtype")):
        config = default_config()
        apply_overrides(config, [override])
        with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
            validate(config)


def test_the_environment_decides_single_or_multi_process(monkeypatch):
    for var in ("SSCODEC_COORDINATOR", "SLURM_NTASKS", "SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES",
                "JAX_COORDINATOR_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    assert _multi_process_env() is None
    monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "localhost")
    assert _multi_process_env() is None  # a single-host TPU VM
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert _multi_process_env() == {}
    monkeypatch.setenv("SSCODEC_COORDINATOR", "10.0.0.2:1234")
    monkeypatch.setenv("SSCODEC_NUM_PROCESSES", "4")
    monkeypatch.setenv("SSCODEC_PROCESS_ID", "3")
    assert _multi_process_env() == {"coordinator_address": "10.0.0.2:1234", "num_processes": 4,
                                    "process_id": 3}


def test_topology_compile_ignores_a_libtpu_lockfile_left_behind(tmp_path):
    """Off a TPU VM the lockfile guards nothing; one held by a dead or busy process once made
    every `sscodec compile` fail."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        "f = open('/tmp/libtpu_lockfile', 'w')\n"
        "fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "print('held', flush=True)\n"
        "time.sleep(300)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        env = {k: v for k, v in os.environ.items() if k != "ALLOW_MULTIPLE_LIBTPU_LOAD"}
        result = subprocess.run([sys.executable, "-c", (
            "from sscodec.platforms import choose_platforms\n"
            "choose_platforms()\n"
            "from sscodec.train.aot import topology_devices\n"
            "print(len(topology_devices('v5e:2x2')))\n")], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and result.stdout.strip() == "4", result.stderr[-2000:]
    finally:
        holder.kill()
