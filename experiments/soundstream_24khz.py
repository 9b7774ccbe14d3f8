"""The paper's scalable SoundStream at 24 kHz: C=32, D=256, RVQ of 24 x 1024 codes (3-18 kbps) with
quantizer dropout, 3-scale waveform + STFT discriminators, lambda_adv=1, lambda_feat=100, lambda_rec=1.

Run:
  sscodec train --config experiments/soundstream_24khz.py --workdir runs/soundstream_24khz
Bitrate-specific variants: soundstream_24khz_{3,6,12}kbps.py.
"""

from sscodec.config import default_config


def get_config():
    config = default_config()  # the library's defaults are this model
    config.data.train = "embedded"
    return config
