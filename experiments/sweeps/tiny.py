"""A two-point sweep of the tiny model (scalable vs no quantizer dropout): the sweep machinery end
to end on a laptop CPU in a few minutes (the test suite runs it with --steps 2).

Run:
  sscodec sweep run experiments/sweeps/tiny.py --out sweeps/tiny
  sscodec report sweeps/tiny
"""

from sscodec.evaluation.sweeps import Point, Sweep


def get_sweep() -> Sweep:
    return Sweep(
        name="tiny",
        title="Tiny model: quantizer dropout vs none (0.45-1.8 kbps)",
        layout="by_rate",
        points=[
            Point("tiny_scalable", "experiments/tiny.py"),
            Point("tiny_no_dropout", "experiments/tiny.py", {"quantizer.dropout": False}),
        ],
        # One clip per category keeps the demo quick; the tiny model is for checking machinery.
        eval={"data": "embedded", "per_category": 1, "clip_seconds": 2.0, "entropy_seconds": 20.0},
        opus_kbps=(6, 12),
    )
