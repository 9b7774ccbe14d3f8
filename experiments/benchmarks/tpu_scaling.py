"""TPU weak-scaling report without the hardware: the paper config's train step compiled through
libtpu for v5e slices of 8 to 1,024 chips, with per-chip FLOPs, HBM, the bytes of every
collective (read from the compiled HLO) and an estimated step time and efficiency.

Run (a compiled point of the paper config takes ~20 minutes and ~16 GB on 2 CPU cores; finished
points are kept in --out as JSON and skipped when the command is run again):
  python experiments/benchmarks/tpu_scaling.py
  python experiments/benchmarks/tpu_scaling.py --points v5e:2x4,v5e:8x8 --extrapolate v5e:16x16
  python experiments/benchmarks/tpu_scaling.py --mesh_fsdp 8 --out docs/scaling/fsdp8

Writes OUT/POINT.json per point, OUT/report.md and OUT/efficiency.png. The method, the chip
figures and their sources are in sscodec/train/scaling.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

# TOPOLOGY[*SLICES]. Compiled here: 8 chips (20 min and 16 GB of RAM on 2 cores for the paper
# config at 2 x 4 s per chip; a 1,024-chip compile ran past 30 min and was stopped). The larger
# slices are extrapolated from it (scaling.extrapolate: with the same batch per chip a
# data-parallel step is the same program on every chip; only the all-chip groups grow).
POINTS = "v5e:2x4"
EXTRAPOLATE = "v5e:8x8,v5e:16x16,v5e:16x16*4"


def parse_point(text: str) -> tuple[str, int]:
    topology, _, slices = text.partition("*")
    return topology, int(slices or 1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="experiments/soundstream_24khz.py")
    p.add_argument("--points", default=POINTS, help="comma-separated TOPOLOGY[*SLICES]")
    p.add_argument("--per_chip_batch", type=int, default=2,
                   help="examples per chip (the paper's 16 over 8 chips is 2)")
    p.add_argument("--crop_frames", type=int, default=None, help="default: the config's")
    p.add_argument("--dtype", default="bfloat16", help="train.compute_dtype")
    p.add_argument("--mesh_fsdp", type=int, default=1, help="size of the fsdp mesh axis")
    p.add_argument("--extrapolate", default=EXTRAPOLATE,
                   help="TOPOLOGY[*SLICES] points derived from the largest compiled point "
                        "(same program per chip, larger groups; see scaling.extrapolate)")
    p.add_argument("--out", default="docs/scaling")
    args = p.parse_args(argv)

    from sscodec.train import scaling
    from sscodec.config import load_config

    os.makedirs(args.out, exist_ok=True)
    points = []
    for text in args.points.split(","):
        topology, slices = parse_point(text)
        name = text.replace(":", "_").replace("*", "x") + "_slices"
        path = os.path.join(args.out, name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                points.append(json.load(f))
            print(f"{text}: kept {path}")
            continue
        chips = slice_chips(topology) * slices
        overrides = [f"data.batch_size={args.per_chip_batch * chips}",
                     f"train.compute_dtype={args.dtype}",
                     f"mesh.shape=(-1, {args.mesh_fsdp})", f"mesh.dcn_shape=({slices}, 1)"]
        if args.crop_frames:
            overrides.append(f"data.crop_frames={args.crop_frames}")
        config = load_config(args.config, overrides)
        print(f"{text}: compiling for {chips} chips ...", flush=True)
        point = scaling.scaling_point(config, topology, slices)
        with open(path, "w") as f:
            json.dump(point, f, indent=1)
        points.append(point)
        print(f"{text}: compiled in {point['compile_s']:.0f} s; step {1e3 * point['step_s']:.2f} "
              f"ms, communication {100 * point['communication_share']:.1f}%", flush=True)

    if args.extrapolate:
        largest = max(points, key=lambda p: p["chips"])
        for text in args.extrapolate.split(","):
            topology, slices = parse_point(text)
            points.append(scaling.extrapolate(largest, topology, slice_chips(topology) * slices,
                                              slices))
    points = scaling.with_efficiency(points)
    first = points[0]
    title = (f"{os.path.basename(args.config)} on TPU v5e: {args.per_chip_batch} x "
             f"{first['crop_seconds']:g} s per chip, {args.dtype}, fsdp {args.mesh_fsdp}"
             + (f"\n(compiled: {args.points}; extrapolated: {args.extrapolate})"
                if args.extrapolate else ""))
    notes = ("Estimated from programs compiled ahead of time through libtpu "
             "(`python experiments/benchmarks/tpu_scaling.py`); method and chip figures in "
             "`sscodec/train/scaling.py`. Compute at 100% of the bf16 peak and no overlap of "
             "communication with compute, so the communication share is an upper bound.")
    report = scaling.markdown(points, title, notes)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    scaling.plot(points, os.path.join(args.out, "efficiency.png"), title)
    print(report)


def slice_chips(topology: str) -> int:
    """Chips in one slice of a topology name like v5e:16x16."""
    import math
    return math.prod(int(n) for n in topology.split(":", 1)[1].split("x"))


if __name__ == "__main__":
    main()
