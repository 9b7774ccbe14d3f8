"""Paper Table II: codebook size vs depth at 6 kbps (N_q=8 x N=1024, 16 x 32, 80 x 2), all without
quantizer dropout.

Run:
  sscodec sweep run experiments/sweeps/codebook_depth.py --out sweeps/codebook_depth
  sscodec report sweeps/codebook_depth
"""

from sscodec.sweeps import Point, Sweep

BASE = "experiments/soundstream_24khz_6kbps.py"


def get_sweep() -> Sweep:
    return Sweep(
        name="codebook_depth",
        title="Table II: codebook size vs number of quantizers at 6 kbps",
        layout="by_point",
        table_kbps=6,
        points=[
            Point("nq8_n1024", BASE, kbps=(6,), label={"N_q": 8, "N": 1024},
                  paper={"visqol": "4.01 ± 0.03"}),
            Point("nq16_n32", BASE, {"quantizer.num_quantizers": 16, "quantizer.codebook_size": 32},
                  kbps=(6,), label={"N_q": 16, "N": 32}, paper={"visqol": "3.98 ± 0.03"}),
            Point("nq80_n2", BASE, {"quantizer.num_quantizers": 80, "quantizer.codebook_size": 2},
                  kbps=(6,), label={"N_q": 80, "N": 2}, paper={"visqol": "3.92 ± 0.03"}),
        ],
        paper_note="Even 80 one-bit quantizers train; depth costs little quality.",
        eval={"data": "embedded"},
    )
