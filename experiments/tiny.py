"""A tiny SoundStream that trains on a laptop CPU in minutes (the README's first command).

Same structure as the paper model (strides 2, 4, 5, 8; RVQ with quantizer dropout; STFT and
3-scale waveform discriminators), with far fewer channels, 4 quantizers of 64 codes (75 Hz x 4 x 6
bits = 1.8 kbps at full depth) and short crops.

Run:
  sscodec train --config experiments/tiny.py --workdir runs/tiny
"""

from sscodec.config import default_config


def get_config():
    config = default_config()
    config.num_steps = 300
    config.model.encoder_channels = 4
    config.model.decoder_channels = 4
    config.model.embedding_dim = 32
    config.quantizer.num_quantizers = 4
    config.quantizer.codebook_size = 64
    config.discriminator.wave_channels = 4
    config.discriminator.wave_max_channels = 64
    config.discriminator.stft_channels = 4
    config.loss.mel_windows = (64, 128, 256, 512, 1024)
    config.optim.generator_lr = 3e-4
    config.data.crop_frames = 40  # 12800 samples, 0.53 s
    config.data.batch_size = 4
    config.train.log_every = 10
    config.train.checkpoint_every = 100
    config.train.sample_every = 100
    config.train.sample_seconds = 3.0
    return config
