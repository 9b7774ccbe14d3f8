"""The paper's scalable model with FiLM denoising at the encoder bottleneck (paper Sec. 3.5, Fig. 8).

Speech crops are mixed with noise at a random gain of -30..0 dB (half of them); the denoise flag is
drawn per example; the target is the clean speech only when the input is noisy and denoise = 1.
On the embedded corpus the noise comes from its noise/ folder; for the paper's setting point
data.train at LibriTTS and data.noise at a Freesound noise folder (see soundstream_24khz_paper_data.py).

Run:
  sscodec train --config experiments/soundstream_24khz_denoise.py --workdir runs/soundstream_24khz_denoise
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.model.film = "encoder"
    config.data.kinds = ("speech",)
    config.data.noise = "embedded"  # its noise/ folder (data.noise_kinds = ("noise",))
    config.data.noisy_prob = 0.5
    config.data.denoise_prob = 0.5
    return config
