"""The paper's model on one TPU v5e-256 slice: 2 examples of 4 s per chip (global batch 512),
bf16 compute, pure data parallelism (parameters, optimizer state and codebooks replicated).

Expected, from docs/scaling/report.md (the step compiled for v5e 2x4 through libtpu and
extrapolated to 256 chips): 1.32 TFLOP and 9.5 GiB of HBM per chip per step; 8.5 ms per step at
100% of the bf16 peak (6.7 ms compute + 1.8 ms of all-reduce / all-gather over ICI), 18.6 ms at a
more typical 40% of peak. 100,000 steps: 0.24-0.52 h of the slice, 61-132 chip-hours (multiply
by your per-chip-hour price). The batch is 32x the paper's 16 with the paper's learning rates
unchanged: a choice the paper does not cover.

Check that it compiles and fits before booking the slice (~20 min on 2 CPU cores):
  sscodec compile --config experiments/soundstream_24khz_v5e_256.py --topology v5e:16x16
Run:
  launch/xpk.sh my-cluster v5litepod-256 1 -- sscodec train \
      --config experiments/soundstream_24khz_v5e_256.py --workdir gs://BUCKET/runs/ss24_v5e256
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.data.batch_size = 2 * 256
    config.train.compute_dtype = "bfloat16"
    config.mesh.shape = (-1, 1)  # data parallel: FSDP would shard 0.4 GiB and add all-gathers
    return config
