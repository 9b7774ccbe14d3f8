"""Two real JAX processes (jax.distributed over loopback) load disjoint shards of each global batch."""

import os
import subprocess
import sys

import grain
import numpy as np
import portpicker

from data_pipelines import pipeline
from tests.conftest import ROOT
from tests.test_pipeline import small_config


def test_two_processes_load_disjoint_shards_that_form_the_global_batch(tmp_path):
    port = portpicker.pick_unused_port()
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "multiprocess_data_worker.py"),
                               str(i), str(port), str(tmp_path)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    results = [np.load(tmp_path / f"process_{i}.npz") for i in range(2)]
    assert all(int(r["count"]) == 2 and int(r["devices"]) == 4 for r in results)

    config = small_config(noise="embedded")
    config.data.batch_size = 8
    whole = pipeline.make_training_data(config, shard=grain.sharding.ShardOptions(0, 1)).dataset
    for step in range(3):
        a, b = results[0]["local"][step], results[1]["local"][step]
        assert a.shape == b.shape == (4, 3200)
        assert not {r.tobytes() for r in a} & {r.tobytes() for r in b}  # disjoint
        np.testing.assert_array_equal(a, whole[step]["input"][0::2])  # process 0: examples 0, 2, ...
        np.testing.assert_array_equal(b, whole[step]["input"][1::2])
        # The global array both processes see is the two local batches, stacked.
        for r in results:
            np.testing.assert_array_equal(r["gathered"][step], np.concatenate([a, b]))
