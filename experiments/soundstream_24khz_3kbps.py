"""Bitrate-specific SoundStream at 3 kbps: N_q=4 quantizers of 1024 codes, no quantizer dropout.

Run:
  sscodec train --config experiments/soundstream_24khz_3kbps.py --workdir runs/soundstream_24khz_3kbps
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.quantizer.num_quantizers = 4  # 3 kbps = 75 Hz x 4 x 10 bits
    config.quantizer.dropout = False
    return config
