"""A tiny 48 kHz stereo SoundStream: soundstream_48khz_stereo.py's structure at tiny.py's size.

Strides (2, 4, 5, 8) at 48 kHz (150 Hz frames), both channels coded jointly, 4 quantizers of 64
codes (150 Hz x 4 x 6 bits = 3.6 kbps at full depth), EnCodec's MS-STFT discriminator on both
channels. On the embedded corpus, which is mono, both channels of every example carry the same
file (see data_pipelines/audio_io.py); give it a folder of stereo files with
--config.data.train=FOLDER to learn distinct channels. Give it the bits too: with these 4 x 64
codes a tiny model spends them on one channel and decodes the other from it; with 8 x 1024 codes
(--config.quantizer.codebook_size=1024 --config.quantizer.num_quantizers=8) it codes both
(tests/test_stereo.py's slow test, on stereo pairs of embedded files at 24 kHz).

Run:
  sscodec train --config experiments/tiny_stereo.py --workdir runs/tiny_stereo
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "tiny.py")
    config.sample_rate = 48_000
    config.model.channels = 2
    config.discriminator.kind = "ms_stft"
    config.discriminator.ms_stft_windows = (2048, 1024, 512, 256)
    config.discriminator.ms_stft_channels = 4
    config.loss.mel_windows = (128, 256, 512, 1024, 2048)  # tiny.py's windows in milliseconds
    config.train.eval_metrics = ("mel", "visqol_audio")
    return config
