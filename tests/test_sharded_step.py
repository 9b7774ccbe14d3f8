"""The sharded k-means init and GAN step on 8 fake CPU devices (data 4 x fsdp 2) match 1 device.

Tolerance: the two runs sum in different orders, and a GAN step amplifies float32 reassociation
where it is discontinuous (hinge kinks, k-means and nearest-code ties). With plain SGD, what 3
steps change in each tensor agrees within 10% of that change, and the first step's losses agree
to 1e-5; a wrong reduction (a local instead of a global mean, unsynchronized codebooks) is off by
O(100%). Measured: <= 2% after 3 steps with the old recipe; 5.4% with the issue-12 recipe, on one
zero-initialized bias of the STFT discriminator (its 3-step change is all it holds, and the loss
balancer divides every gradient by a norm that is itself summed in a different order). SGD rather than the real Adam (b1 = 0.5):
Adam turns a near-zero gradient element whose sign differs between the two summation orders into a
full +-lr step, which hides the comparison under noise of its own making. Runs in a subprocess: the fake device count is set before JAX starts.
"""

import pytest

from tests.conftest import run_on_fake_devices

SCRIPT = r'''
import dataclasses
import jax, numpy as np, optax
from sscodec.train import parallel
from sscodec.config import load_config
from sscodec.train.state import build_models, create_state, crop_length
from sscodec.train.step import compile_train_step, initialize_codebooks

assert jax.device_count() == 8
config = load_config("experiments/tiny.py", ["mesh.shape=(4, 2)", "mesh.fsdp_min_size=0",
                                             "data.batch_size=8"])
models = build_models(config)
rng = np.random.default_rng(0)
audio = (0.3 * rng.standard_normal((8, crop_length(config)))).astype(np.float32)
host_batch = {"input": audio, "target": audio, "denoise": np.zeros(8, np.int32)}
sgd = dataclasses.replace(models, gen_tx=optax.sgd(1e-4), disc_tx=optax.sgd(1e-3))

def run(models, devices, shape, steps=3):
    config.mesh.shape = shape
    mesh = parallel.make_mesh(config.mesh, devices)
    state = create_state(models, config, mesh)
    batch = parallel.global_batch(host_batch, mesh)
    state = initialize_codebooks(config, models, state, batch)  # k-means over the global batch
    step = compile_train_step(config, models, state, batch)
    first = None
    for _ in range(steps):
        state, metrics = step(state, batch)
        first = first or jax.device_get(metrics)
    return state, batch, first

results = []
for devices, shape in ((jax.devices()[:1], (1, 1)), (jax.devices(), (4, 2))):
    state, batch, metrics = run(sgd, devices, shape)
    if len(devices) == 8:
        kernel = state["gen_params"]["encoder"]["block3_down"]["conv"]["kernel"]
        assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, None, "fsdp"), kernel.sharding
        assert len(kernel.addressable_shards) == 8 and kernel.addressable_shards[0].data.shape[-1] == kernel.shape[-1] // 2
        assert batch["input"].sharding.spec == jax.sharding.PartitionSpec(("data", "fsdp"))
    results.append(jax.device_get((state, metrics)))
(s1, m1), (s8, m8) = results
# Compare what the 3 steps changed, per tensor, relative to the size of that change.
config.mesh.shape = (1, 1)
init = jax.device_get(create_state(sgd, config, parallel.make_mesh(config.mesh, jax.devices()[:1])))
worst = 0.0
for (path, a), b, a0 in zip(jax.tree_util.tree_leaves_with_path(s1), jax.tree.leaves(s8), jax.tree.leaves(init)):
    a, b, a0 = np.asarray(a), np.asarray(b), np.asarray(a0)
    if a.dtype.kind == "f":
        change = np.linalg.norm(a - a0)
        if change > 0:
            rel = float(np.linalg.norm(a - b) / change)
            assert rel < 0.10, (rel, jax.tree_util.keystr(path))
            worst = max(worst, rel)
    else:
        np.testing.assert_array_equal(a, b)
for name in ("codebook", "cluster_size", "embed_sum"):
    a, b = s1["quantizer"]["quantizer"][name], s8["quantizer"]["quantizer"][name]
    assert np.linalg.norm(a - b) <= 0.05 * np.linalg.norm(a), name
for k in ("loss/generator", "loss/discriminator", "loss/reconstruction"):
    np.testing.assert_allclose(m1[k], m8[k], rtol=1e-5)
print("SHARDED_STEP_OK worst relative diff", worst)
'''


@pytest.mark.slow
def test_sharded_step_matches_one_device():
    run_on_fake_devices(SCRIPT, "SHARDED_STEP_OK", timeout=900)
