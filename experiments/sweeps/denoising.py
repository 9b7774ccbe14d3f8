"""Paper Fig. 8: joint compression and denoising. FiLM conditioning at the encoder vs the decoder
(each scored with the denoise flag off and on) and a model trained to always denoise, on noisy
speech scored against the clean speech, at 3-18 kbps.

Run:
  sscodec sweep run experiments/sweeps/denoising.py --out sweeps/denoising
  sscodec report sweeps/denoising
"""

from sscodec.sweeps import Point, Sweep

BASE = "experiments/soundstream_24khz_denoise.py"
RATES = (3, 6, 9, 12, 15, 18)


def get_sweep() -> Sweep:
    return Sweep(
        name="denoising",
        title="Fig. 8: denoising on noisy speech (ViSQOL vs kbps, clean references)",
        layout="by_rate",
        table_category="noisy_speech",
        points=[
            Point("film_encoder", BASE, {"model.film": "encoder"}, kbps=RATES, denoise="both"),
            Point("film_decoder", BASE, {"model.film": "decoder"}, kbps=RATES, denoise="both"),
            Point("always_denoise", BASE, {"model.film": "none", "data.denoise_prob": 1.0},
                  kbps=RATES, denoise="off"),
        ],
        paper_note=("The paper gives the curves only as a figure: denoising on is far better "
                    "than off; encoder- and decoder-side FiLM are about equal; the flexible model "
                    "matches the fixed always-denoise model."),
        eval={"data": "embedded", "categories": ("clean_speech", "noisy_speech")},
    )
