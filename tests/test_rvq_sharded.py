"""RVQ statistics stay right under data parallelism: 8 sharded devices == 1 device.

Runs in a subprocess because the fake device count must be set before JAX starts.
"""

from tests.conftest import run_on_fake_devices

SCRIPT = r'''
import jax, jax.numpy as jnp, numpy as np
import flax.linen as nn
from jax.sharding import NamedSharding, PartitionSpec as P
from sscodec.train import parallel
from sscodec.nn.rvq import ResidualVectorQuantizer

assert jax.device_count() == 8, jax.devices()
rvq = ResidualVectorQuantizer(num_quantizers=3, codebook_size=32, dim=8, kmeans_iters=5)
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(16, 40, 8)), jnp.float32)
n_q = jnp.asarray(rng.integers(1, 4, size=16), jnp.int32)
variables = nn.unbox(rvq.init({"params": jax.random.key(0)}, x[:1]))

def two_steps(variables, x, n_q):
    for i in range(2):  # k-means init + dead-code replacement, then a plain EMA step
        (q, aux), mutated = rvq.apply(variables, x + i, n_q, train=True, mutable=["quantizer"],
                                      rngs={"quantizer": jax.random.key(i)})
        variables = {**variables, **mutated}
    return variables, q, aux["commit_loss"]

results = []
for devices in (jax.devices()[:1], jax.devices()):
    mesh = parallel.make_mesh(devices=devices)
    rep, data = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    args = (jax.device_put(variables, rep), jax.device_put(x, data), jax.device_put(n_q, data))
    out = jax.jit(two_steps, out_shardings=(rep, data, rep))(*args)
    results.append(jax.device_get(out))
    if len(devices) == 8:
        assert out[1].sharding.spec == P("data")
(v1, q1, c1), (v8, q8, c8) = results
for name in ("codebook", "cluster_size", "embed_sum"):
    np.testing.assert_allclose(v1["quantizer"][name], v8["quantizer"][name], rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(q1, q8, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(c1, c8, rtol=1e-5)
print("SHARDED_RVQ_OK")
'''


def test_rvq_statistics_identical_on_1_and_8_devices():
    run_on_fake_devices(SCRIPT, "SHARDED_RVQ_OK", timeout=600)
