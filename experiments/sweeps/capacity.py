"""Paper Table I: encoder / decoder capacity (C_enc, C_dec) at 6 kbps: parameters, real-time
factors and quality.

The paper's RTFs are one thread of a Pixel 4; ours are measured by `sscodec eval` on the machine
that ran the evaluation (all threads), so compare their ratios, not their values.

Scales (`--scale`, see sscodec/evaluation/sweeps.py): `paper` changes the paper's 6 kbps model (C = 32);
`cpu` the CPU speech recipe without dropout, whose width is C = 16, so every width is halved:
(16, 16), (8, 8), (8, 16), (4, 16), (16, 8), (16, 4), the paper's ratios.

Run:
  sscodec sweep run experiments/sweeps/capacity.py --scale cpu --out sweeps/table1_cpu
  sscodec report sweeps/table1_cpu
"""

from sscodec.evaluation.sweeps import Point, Sweep, check_scale, cpu_point, cpu_scale

BASE = "experiments/soundstream_24khz_6kbps.py"
# (C_enc, C_dec, paper #params, paper RTF enc, paper RTF dec, paper ViSQOL)
ROWS = [(32, 32, "8.4 M", "2.4x", "2.3x", "4.01 ± 0.03"),
        (16, 16, "2.4 M", "7.5x", "7.1x", "3.98 ± 0.03"),
        (16, 32, "5.5 M", "7.5x", "2.3x", "4.02 ± 0.03"),
        (8, 32, "4.8 M", "18.6x", "2.3x", "3.99 ± 0.03"),
        (32, 16, "5.3 M", "2.4x", "7.1x", "3.97 ± 0.03"),
        (32, 8, "4.4 M", "2.4x", "17.1x", "3.90 ± 0.03")]
CPU_DIVISOR = 2  # the CPU recipe's C = 16 against the paper's 32


def get_sweep(scale: str = "paper") -> Sweep:
    check_scale(scale)
    points = []
    for e, d, p, re, rd, v in ROWS:
        kwargs = {"kbps": (6,), "paper": {"params": p, "rtf_enc": re, "rtf_dec": rd, "visqol": v}}
        if scale == "cpu":
            e, d = e // CPU_DIVISOR, d // CPU_DIVISOR
        widths = {"model.encoder_channels": e, "model.decoder_channels": d}
        kwargs["label"] = {"C_enc": e, "C_dec": d}
        points.append(cpu_point(f"enc{e}_dec{d}", {"quantizer.dropout": False, **widths},
                                **kwargs)
                      if scale == "cpu" else Point(f"enc{e}_dec{d}", BASE, widths, **kwargs))
    sweep = Sweep(
        name="capacity",
        title="Table I: encoder/decoder capacity at 6 kbps",
        layout="by_point",
        table_kbps=6,
        points=points,
        varies=("model.encoder_channels", "model.decoder_channels"),
        paper_note=("A lighter encoder costs almost nothing; a lighter decoder costs more "
                    "(C_dec = 8: 3.90)."),
        eval={"data": "embedded"},
    )
    return cpu_scale(sweep) if scale == "cpu" else sweep
