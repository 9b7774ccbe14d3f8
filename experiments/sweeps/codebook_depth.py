"""Paper Table II: codebook size vs number of quantizers at one bitrate (6 kbps), all without
quantizer dropout: N_q = 8 x N = 1024, 16 x 32 and 80 x 2 (80 bits a frame each).

Scales (`--scale`, see sscodec/evaluation/sweeps.py): `paper` changes the paper's 6 kbps model; `cpu` the
CPU speech recipe (whose 8 x 1,024 at 75 Hz is also 6 kbps) without dropout, on held-out speakers.

Run:
  sscodec sweep run experiments/sweeps/codebook_depth.py --scale cpu --out sweeps/table2_cpu
  sscodec report sweeps/table2_cpu
"""

from sscodec.evaluation.sweeps import Point, Sweep, check_scale, cpu_point, cpu_scale

# (name, N_q, N, the paper's ViSQOL)
ROWS = [("nq8_n1024", 8, 1024, "4.01 ± 0.03"), ("nq16_n32", 16, 32, "3.98 ± 0.03"),
        ("nq80_n2", 80, 2, "3.92 ± 0.03")]


def get_sweep(scale: str = "paper") -> Sweep:
    check_scale(scale)
    points = []
    for name, depth, size, visqol in ROWS:
        overrides = {"quantizer.num_quantizers": depth, "quantizer.codebook_size": size}
        kwargs = {"kbps": (6,), "label": {"N_q": depth, "N": size}, "paper": {"visqol": visqol}}
        points.append(cpu_point(name, {"quantizer.dropout": False, **overrides}, **kwargs)
                      if scale == "cpu" else
                      Point(name, "experiments/soundstream_24khz_6kbps.py", overrides, **kwargs))
    sweep = Sweep(
        name="codebook_depth",
        title="Table II: codebook size vs number of quantizers at 6 kbps",
        layout="by_point",
        table_kbps=6,
        points=points,
        varies=("quantizer.num_quantizers", "quantizer.codebook_size"),
        paper_note="Even 80 one-bit quantizers train; depth costs little quality.",
        eval={"data": "embedded"},
    )
    return cpu_scale(sweep) if scale == "cpu" else sweep
