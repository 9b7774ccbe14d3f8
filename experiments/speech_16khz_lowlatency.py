"""A low-latency 16 kHz speech codec: 10 ms frames, no lookahead, 0.4-6 kbps from one model,
small enough to stream one frame per call far faster than real time on one CPU core.

Latency. A causal SoundStream has no lookahead (every conv is causal); its algorithmic latency
is one frame, the product of the strides: here (2, 4, 4, 5) = 160 samples = 10 ms at 16 kHz
(Lyra v2 and the paper: 20 ms and 13.3 ms). A shorter frame costs bits: the bitrate is
frame rate x bits per frame, and the two targets, 3.2 and 6 kbps, must be whole numbers of
codes per frame. At 100 frames/s that is 32 and 60 bits, so the quantizer has 15 codebooks of
16 codes (4 bits each; Lyra v2's codebook size): 3.2 kbps is the first 8 of them, 6 kbps all 15,
in steps of 0.4 kbps. A 5 ms frame would need 2-bit codebooks for 6 kbps.

Size. The speed goal is 30x real time streaming one frame per call on one core, encode plus
decode (`python experiments/benchmarks/inference.py --configs speech_16khz_lowlatency --chunks
1`): 0.33 ms per 10 ms frame. Measured per call (p50, one core, random weights) with D = 64 and
Snake: C_enc / C_dec = 16 / 16 (speech_cpu_24khz's widths) 0.19 + 0.20 ms (26x); 12 / 12
0.17 + 0.17 ms; 8 / 16 0.12 + 0.21 ms; 8 / 12 0.12 + 0.18 ms (33x), chosen: the paper's Table I
found the encoder the cheaper place to save (C_enc 8 / C_dec 32 lost 0.02 ViSQOL). ELU in place
of Snake saved nothing measurable per frame.

Training is the CPU speech recipe (speech_cpu_24khz): the same Asterisk speech, which was
recorded at 16 kHz (G.722) and is resampled to the model rate, the same 0.4 s crops, learning
rates, cosine schedule and reconstruction-only losses, on its wall-clock budget.

Run (resumes from its last checkpoint when started again):
  sscodec train --config experiments/speech_16khz_lowlatency.py --workdir runs/speech_16khz
Evaluate on the held-out speakers beside codec2 3.2 kbps and Opus 6 / 9 / 12 kbps:
  sscodec eval --workdir runs/speech_16khz --data data/asterisk/eval --kbps 3.2,6 \
      --opus-kbps 6,9,12 --categories clean_speech --out evals/speech_16khz
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "speech_cpu_24khz.py")
    config.sample_rate = 16_000
    m = config.model
    m.strides = (2, 4, 4, 5)  # 160 samples: 10 ms frames
    m.encoder_channels = 8
    m.decoder_channels = 12
    q = config.quantizer
    q.num_quantizers = 15
    q.codebook_size = 16  # 4 bits: 0.4 kbps per quantizer at 100 frames/s
    config.data.crop_frames = 40  # 0.4 s, as the recipe
    # The recipe's budget is its wall clock (5,000 steps, ~1.2 h on 2 cores); a step of this
    # model costs ~1/4 of the recipe's, so the same time buys 15,000 steps.
    config.num_steps = 15_000
    config.train.eval_kbps = (3.2, 6.0)
    config.train.eval_every = 1000
    return config
