"""Paper Fig. 8: joint compression and denoising. FiLM conditioning at the encoder vs the decoder
(each scored with the denoise flag off and on) and a model trained to always denoise, on noisy
speech scored against the clean speech.

Scales (`--scale`, see sscodec/evaluation/sweeps.py):
  paper  the paper's scalable denoising model (experiments/soundstream_24khz_denoise.py) at 3-18
         kbps, its noise from data.noise (the embedded noise/ folder unless pointed elsewhere)
  cpu    the CPU speech recipe with FiLM, trained on the Asterisk speakers mixed with real
         recorded noise (`sscodec data prepare noise --data-dir data/noise`: train/ for training,
         the held-out eval/ recordings for the noisy clips), at 1.5-6 kbps

Run:
  sscodec data prepare noise --data-dir data/noise
  sscodec sweep run experiments/sweeps/denoising.py --scale cpu --out sweeps/fig8_cpu
  sscodec report sweeps/fig8_cpu
"""

from sscodec.evaluation.sweeps import Point, Sweep, check_scale, cpu_point, cpu_scale

BASE = "experiments/soundstream_24khz_denoise.py"
RATES = (3, 6, 9, 12, 15, 18)
CPU_RATES = (1.5, 3, 6)
CPU_NOISE = {"data.noise": "data/noise/train", "data.noisy_prob": 0.5, "data.denoise_prob": 0.5}
# (name, overrides, the denoise modes to score)
ROWS = [("film_encoder", {"model.film": "encoder"}, "both"),
        ("film_decoder", {"model.film": "decoder"}, "both"),
        ("always_denoise", {"model.film": "none", "data.denoise_prob": 1.0}, "off")]


def get_sweep(scale: str = "paper") -> Sweep:
    check_scale(scale)
    points = [cpu_point(name, {**CPU_NOISE, **extra}, kbps=CPU_RATES, denoise=mode)
              if scale == "cpu" else Point(name, BASE, extra, kbps=RATES, denoise=mode)
              for name, extra, mode in ROWS]
    sweep = Sweep(
        name="denoising",
        title="Fig. 8: denoising on noisy speech (quality vs kbps, clean references)",
        layout="by_rate",
        table_category="noisy_speech",
        points=points,
        varies=("model.film", "data.denoise_prob"),
        paper_note=("The paper gives the curves only as a figure: denoising on is far better "
                    "than off; encoder- and decoder-side FiLM are about equal; the flexible model "
                    "matches the fixed always-denoise model."),
        eval={"data": "embedded", "categories": ("clean_speech", "noisy_speech")},
    )
    if scale == "cpu":
        # Noisy speech only: the claims are about it, and each FiLM point is scored twice
        # (flag off and on) at three rates, 300 codings of the 50 clips.
        return cpu_scale(sweep, {"noise": "data/noise/eval", "categories": ("noisy_speech",)})
    return sweep
