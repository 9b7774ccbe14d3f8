"""A checkpoint written on 4 devices (data 2 x fsdp 2) restores onto 2 devices (fsdp 2)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = r'''
import sys
import jax, numpy as np
from sscodec.train import parallel
from sscodec.train.checkpoint import Checkpointer
from sscodec.config import load_config
from sscodec.train.state import build_models, create_state

config = load_config("experiments/tiny.py", ["mesh.fsdp_min_size=0"])
models = build_models(config)
config.mesh.shape = (2, 2)
state = create_state(models, config, parallel.make_mesh(config.mesh, jax.devices()[:4]))
kernel = state["gen_params"]["encoder"]["block3_down"]["conv"]["kernel"]
assert len(kernel.sharding.device_set) == 4 and kernel.sharding.spec[-1] == "fsdp"
checkpointer = Checkpointer(sys.argv[1])
checkpointer.save(1, state, {"step": 1})
checkpointer.wait()

config.mesh.shape = (1, 2)
target_mesh = parallel.make_mesh(config.mesh, jax.devices()[4:6])
target = create_state(models, config, target_mesh)
restored, meta = checkpointer.restore(target, 1)
checkpointer.close()
for a, b, t in zip(jax.tree.leaves(state), jax.tree.leaves(restored), jax.tree.leaves(target)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert b.sharding == t.sharding
moved = restored["gen_params"]["encoder"]["block3_down"]["conv"]["kernel"]
assert moved.sharding.device_set == set(jax.devices()[4:6]) and moved.sharding.spec[-1] == "fsdp"
print("RESHARD_OK", meta)
'''


@pytest.mark.slow
def test_checkpoint_from_4_devices_restores_on_2(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ckpt")], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "RESHARD_OK" in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
