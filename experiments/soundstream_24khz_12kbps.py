"""Bitrate-specific SoundStream at 12 kbps: N_q=16 quantizers of 1024 codes, no quantizer dropout.

Run:
  sscodec train --config experiments/soundstream_24khz_12kbps.py --workdir runs/soundstream_24khz_12kbps
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.quantizer.num_quantizers = 16  # 12 kbps = 75 Hz x 16 x 10 bits
    config.quantizer.dropout = False
    return config
