"""Beyond the paper's recipe: each later codec's change alone, then the best combination, at equal
training time on the CPU speech recipe's data and size.

Every point trains for the same budget of CPU time (train.time_budget_s on the process CPU clock:
2,400 CPU-seconds, about 20 minutes of 2 cores), so that an option that slows the step pays for it
in quality. Every point is scored by its training-time validation on the held-out speakers
(ViSQOL speech, PESQ and the mel distance at 1.5, 3 and 6 kbps, one mel yardstick for all) and
reports its codebook perplexity per quantizer and its audio-seconds per second.

The first point is the paper's recipe at this scale: the CPU speech recipe's data, widths,
quantizers, crops and learning rates, with the paper's ELU, 64 mel bins, fixed loss weights
(no balancer), EMA codebooks, quantizer dropout on every example, its wave + STFT discriminators
and the GAN from the first step. Each other point changes one thing from it. `sscodec_cpu` is the
CPU speech recipe as shipped (no GAN; Snake, the balancer, DAC's mel bins), on the same budget,
and `combined` that recipe with the options that did not lose alone (COMBINED below).
All points use a constant learning rate: a cosine needs the step count, which a time budget
leaves open.

Run (each point resumes where it stopped; finished points are kept):
  sscodec sweep run experiments/sweeps/recipe.py --out sweeps/recipe
  sscodec report sweeps/recipe
"""

from sscodec.evaluation.sweeps import Point, Sweep

BASE = "experiments/speech_cpu_24khz.py"
BUDGET_CPU_SECONDS = 2400.0

# What every point shares: the budget, a constant rate, validation at three rates on one mel scale.
COMMON = {
    "num_steps": 1_000_000,  # the budget ends the run
    "train.time_budget_s": BUDGET_CPU_SECONDS,
    "train.time_budget_clock": "cpu",
    "optim.lr_schedule": "constant",
    "train.eval_every": 250,
    "train.eval_kbps": (1.5, 3.0, 6.0),
    "train.eval_mel_windows": (64, 128, 256, 512, 1024, 2048),
    "train.eval_mel_bins": (10, 20, 40, 80, 160, 320),
    "train.sample_every": 1000,
}
# The paper's recipe on the CPU speech recipe's data and size.
PAPER = {
    **COMMON,
    "model.activation": "elu",
    "loss.mel_bins": (64,) * 6,  # the paper's 64 at each of the 6 windows
    "loss.balancer": False,
    "loss.adversarial_start_step": 0,
}
# One change each, from PAPER: (name, overrides, what it is, where it comes from). The
# discriminators are as narrow as the CPU recipe's own (8 channels, 128 at most).
OPTIONS = [
    ("ms_stft", {"discriminator.kind": "ms_stft", "discriminator.ms_stft_channels": 8},
     "multi-scale complex-STFT discriminator (5 scales) in place of wave + STFT", "EnCodec"),
    ("balancer", {"loss.balancer": True}, "gradient-norm loss balancer", "EnCodec"),
    ("dropout_half", {"quantizer.dropout_share": 0.5},
     "quantizer dropout on half of the examples", "DAC"),
    ("snake", {"model.activation": "snake"}, "Snake activations in place of ELU", "DAC"),
    ("dac_mel", {"loss.mel_windows": (32, 64, 128, 256, 512, 1024, 2048),
                 "loss.mel_bins": (5, 10, 20, 40, 80, 160, 320), "loss.mel_loss": "log_l1"},
     "7-scale L1 log-mel loss (32-2048 windows)", "DAC"),
    ("factorized", {"quantizer.codes": "factorized", "quantizer.code_dim": 8},
     "factorized codes: 8-d, L2-normalized, cosine lookup, learned by gradient", "DAC"),
    ("mpd_mrd", {"discriminator.kind": "mpd_mrd", "discriminator.mpd_channels": 8,
                 "discriminator.mpd_max_channels": 128, "discriminator.mrd_channels": 8},
     "multi-period + multi-band STFT discriminators", "DAC"),
    ("weight_ema", {"optim.weight_ema_decay": 0.999},
     "weight EMA of the generator for validation and export", "Mimi"),
]

# The best combination: the CPU recipe (no GAN at this budget; Snake, which helped alone: ViSQOL
# +0.05, PESQ +0.07 at 3 kbps; the balancer, neutral alone) with factorized codes (ViSQOL +0.06,
# PESQ -0.02 on stop 29's machine). Not in it, as each lost alone: DAC's log-mel L1 (-0.17 /
# -0.04), dropout on half the examples (-0.18 / -0.06), a 0.999 weight EMA (-0.08 / +0.00 at 800
# steps); nor the discriminators, as the CPU recipe trains without a GAN.
# Measured: against sscodec_cpu on one machine, ViSQOL level and PESQ -0.17 (validations from step
# 2,000 on), so the CPU recipe as shipped stays the winner and keeps EMA codebooks.
COMBINED = {"quantizer.codes": "factorized", "quantizer.code_dim": 8}


def get_sweep() -> Sweep:
    points = [Point("paper", BASE, PAPER, label={"change": "the paper's recipe (CPU scale)",
                                                 "from": "SoundStream"})]
    points += [Point(name, BASE, {**PAPER, **extra}, label={"change": what, "from": source})
               for name, extra, what, source in OPTIONS]
    points.append(Point("sscodec_cpu", BASE, COMMON,
                        label={"change": "the CPU speech recipe as shipped (no GAN)",
                               "from": "sscodec"}))
    points.append(Point("combined", BASE, {**COMMON, **COMBINED},
                        label={"change": "the CPU recipe with factorized codes (level alone)",
                               "from": "sscodec"}))
    return Sweep(
        name="recipe",
        title="Recipe options at equal CPU time (2,400 CPU-s a point, held-out speech)",
        layout="recipe",
        table_kbps=3,
        points=points,
        final_eval=False,
        baselines=(),
        scale="cpu",  # built at CPU scale only: the options are measured on the CPU recipe's size
        budget=f"{BUDGET_CPU_SECONDS:,.0f} CPU-seconds (train.time_budget_s on the CPU clock)",
        paper_note=("Published effects: MS-STFT discriminator MUSHRA 62.9 -> 77.5 (EnCodec); "
                    "balancer SI-SNR 6.16 -> 10.32 (EnCodec); DAC's mel loss SI-SDR 7.68 -> 9.12; "
                    "Snake the largest single gain of DAC's ablation."),
    )
