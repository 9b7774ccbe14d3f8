"""One of 2 real JAX processes (gloo over loopback) loading its data shard; run by test_data_multiprocess.

Usage: python tests/multiprocess_data_worker.py PROCESS_ID PORT OUT_DIR
Writes OUT_DIR/process_<id>.npz with this process's local batches and the gathered global batches.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"


def main(process_id: int, port: int, out_dir: str) -> None:
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id,
                               initialization_timeout=120)
    from data_pipelines import pipeline
    from sscodec.train import parallel
    from tests.test_pipeline import small_config

    config = small_config(noise="embedded")
    config.data.batch_size = 8
    data = pipeline.make_training_data(config)  # shards by jax.process_index() / process_count()
    mesh = parallel.make_mesh()
    local, gathered = [], []
    for step in range(3):
        batch, _ = pipeline.split_batch(data.dataset[step])
        local.append(batch["input"])
        arrays = parallel.global_batch(batch, mesh)
        gathered.append(np.asarray(multihost_utils.process_allgather(arrays["input"], tiled=True)))
    np.savez(os.path.join(out_dir, f"process_{process_id}.npz"), local=np.stack(local),
             gathered=np.stack(gathered), devices=len(jax.devices()), count=jax.process_count())
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
