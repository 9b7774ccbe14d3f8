"""The accelerator cost of the paper's sweeps: FLOPs per train step of every point (XLA's cost
analysis of the lowered step, no compile), times its steps, in hours of H100 / A100 / TPU v5e at
an assumed utilization (sscodec.evaluation.sweep_cost.ASSUMED_MFU; at 100% the figures are lower bounds).

Run (about a minute on a laptop for the four paper-scale sweeps):
  python experiments/benchmarks/sweep_cost.py                  # the paper's configs
  python experiments/benchmarks/sweep_cost.py --scale cpu      # the CPU scale, for comparison
  python experiments/benchmarks/sweep_cost.py --mfu 0.4 --sweeps codebook_depth
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.platforms import choose_platforms  # noqa: E402

choose_platforms()

from sscodec.evaluation.sweep_cost import ASSUMED_MFU, cost_markdown, sweep_cost  # noqa: E402
from sscodec.evaluation.sweeps import load_sweep  # noqa: E402

PAPER_SWEEPS = ("bitrate_scalability", "codebook_depth", "capacity", "denoising")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="paper", choices=("paper", "cpu"))
    parser.add_argument("--sweeps", default=",".join(PAPER_SWEEPS))
    parser.add_argument("--mfu", type=float, default=ASSUMED_MFU,
                        help="utilization of the bf16 peak to plan with")
    args = parser.parse_args()
    print(f"Scale {args.scale}; hours at {args.mfu:.0%} of each chip's bf16 peak.\n")
    for name in args.sweeps.split(","):
        sweep = load_sweep(os.path.join(ROOT, "experiments", "sweeps", f"{name}.py"), args.scale)
        print(cost_markdown(sweep.title, sweep_cost(sweep), args.mfu) + "\n", flush=True)


if __name__ == "__main__":
    main()
