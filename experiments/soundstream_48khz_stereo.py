"""SoundStream at 48 kHz stereo, the paper's model widened to full band and two channels.

Choices, against EnCodec's 48 kHz stereo model (Défossez et al. 2022, arXiv 2210.13438; encodec's
`EncodecModel.encodec_model_48khz`):

- Strides (2, 4, 5, 8), EnCodec's (its ratios 8, 5, 4, 2) and the paper's: M = 320 samples, so
  150 Hz frames and one frame (6.7 ms) of latency at 48 kHz. The SEANet is the paper's 24 kHz one
  (C = 32, D = 256) with a 2-channel first and last conv. A fifth stride of 2 (M = 640: 75 Hz, as
  at 24 kHz) would halve the frame rate and double the latency, and a quantizer's code would have
  to describe twice the audio (twice the band, both channels); we keep EnCodec's rate so that
  its bitrate table holds with its codebook size. The price: the encoder's receptive field,
  5,314 samples, spans 111 ms at 48 kHz where it spans 221 ms at 24 kHz.
- RVQ of 16 quantizers x 1024 codes with quantizer dropout: 150 Hz x 10 bits = 1.5 kbps per
  quantizer, so n_q = 2, 4, 8, 16 give EnCodec's 3, 6, 12 and 24 kbps exactly (EnCodec: 16
  quantizers of 1024 entries at 24 kbps), and one model serves them all (plus every 1.5 kbps step
  between). Stereo costs no extra bits: one set of codes carries both channels.
- Both channels coded jointly (model.channels = 2), as EnCodec's: the encoder's first conv
  takes left and right, one RVQ codes the joint embedding, the decoder's last conv gives both
  channels. What they share (most of a stereo mix) is coded once; coding left and right
  separately would cost twice the bits for the same quality.
- EnCodec's MS-STFT discriminator on the 2 channels jointly (4 input planes: real and imaginary
  of each channel, as encodec's `in_channels=2`), so it can judge the stereo image. Ours: its
  windows doubled to 4096..256 samples, so they span the milliseconds of EnCodec's 24 kHz
  2048..128; the mel loss windows doubled likewise (128..4096, the paper's 64..2048 at 24 kHz).
- Differences from EnCodec's 48 kHz model, which is non-causal (time-group norm, an LSTM) and
  codes 1 s chunks with 1% overlap and a per-chunk loudness scale: ours stays causal and
  streamable with the paper's architecture (no LSTM, no normalization).
- Crops of 300 frames = 2 s: 96,000 samples per channel, the paper's 24 kHz crop in samples.
- Validation: the mel distance and ViSQOL audio (its 48 kHz full-band mode), each the mean over
  the two channels.

Data: the embedded corpus is 24 kHz mono, so on it the model only learns identical channels (mono
files are duplicated into both) and nothing above 12 kHz. Train a real one on a folder of
48 kHz stereo music: --config.data.train=/path/to/folder (other rates are resampled).

Run:
  sscodec train --config experiments/soundstream_48khz_stereo.py --workdir runs/soundstream_48khz_stereo
  sscodec info --config experiments/soundstream_48khz_stereo.py     (the bitrate table)
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.sample_rate = 48_000
    config.model.channels = 2
    config.quantizer.num_quantizers = 16  # 16 x 1.5 kbps = 24 kbps at full depth
    config.discriminator.kind = "ms_stft"
    config.discriminator.ms_stft_windows = (4096, 2048, 1024, 512, 256)
    config.loss.mel_windows = (128, 256, 512, 1024, 2048, 4096)
    config.data.crop_frames = 300  # 2 s at 150 Hz
    config.train.eval_metrics = ("mel", "visqol_audio")
    config.train.eval_kbps = (3.0, 6.0, 12.0, 24.0)  # EnCodec's 48 kHz bitrates
    return config
