"""A small scalable 24 kHz speech codec that trains on 2 CPU cores in about an hour and a quarter.

1.5 / 3 / 4.5 / 6 kbps from one model (8 quantizers of 1,024 codes at 75 Hz, quantizer dropout).
The architecture is the paper's, narrower: C_enc = C_dec = 16, D = 64 (Lyra v2's D), with DAC's
Snake activation in place of ELU (ours: at equal steps it was far ahead, see below). The
recipe is sscodec's default (see config.py: PyTorch-style init with weight norm, the paper's mel
L1 with a relative log floor, EnCodec's loss balancer, a batch-scaled dead-code rule) with DAC's
mel resolution (more bins at longer windows, so the loss sees harmonics), trained on the
reconstruction loss alone over DAC's short crops (0.4 s) with a cosine learning-rate decay. The
adversarial phase is off at this budget (see below); its small discriminators are configured for
when it is switched on (loss.adversarial_start_step below num_steps).

Data: real recorded speech from Debian's Asterisk prompt packages (three speakers; two others held
out for evaluation), built once with
  sscodec data prepare asterisk --data-dir data/asterisk

Run (resumes from its last checkpoint when started again):
  sscodec train --config experiments/speech_cpu_24khz.py --workdir runs/speech_cpu
Evaluate on the held-out speakers:
  sscodec eval --workdir runs/speech_cpu --data data/asterisk/eval --kbps 1.5,3,6 --out evals/speech_cpu
"""

from sscodec.config import NO_GAN, default_config


def get_config():
    config = default_config()
    # 5,000 reconstruction-only steps of 8 x 0.4 s: ~1.2 h on 2 idle cores (~0.85 s a step).
    config.num_steps = 5000
    m = config.model
    # Tried: C_enc 8 / C_dec 32 (the paper's Table I: ViSQOL 3.99 against 4.01 at 32 / 32), from
    # scratch over 4,000 steps: ahead on ViSQOL to step 1,500, then behind; at step 2,500 held-out
    # 6 kbps mel / PESQ / ViSQOL 1,486 / 1.44 / 1.32 against this file's 1,343 / 1.54 / 1.43.
    m.encoder_channels = 16
    m.decoder_channels = 16
    m.embedding_dim = 64
    # Snake instead of the paper's ELU. Held-out 6 kbps mel distance / PESQ at steps 200, 400, 600
    # (reconstruction-only phase, same data and seed): ELU 2,225 / 2,080 / 1,923 and PESQ
    # 1.06 / 1.09 / 1.11; Snake 2,145 / 1,908 / 1,673 and 1.07 / 1.13 / 1.22 (ELU's whole
    # 2,000-step run, GAN included, ended at 1,648 / 1.32). Each step costs ~25% more.
    m.activation = "snake"
    q = config.quantizer
    q.num_quantizers = 8
    q.codebook_size = 1024
    # EMA codebooks, not DAC's factorized codes (quantizer.codes="factorized"): in the recipe sweep
    # (experiments/sweeps/recipe.py, point `combined`: this file plus factorized codes, 2,400
    # CPU-s each, same machine) held-out 3 kbps ViSQOL was level (+0.00 averaged over the
    # validations from step 2,000) but PESQ -0.17 and the mel distance +146 at every validation.
    # DAC's mel resolution (window / 6.4 bins: 10 at 64 samples ... 320 at 2048) instead of the
    # paper's 64 at every window: 64 bins cannot resolve a voice's harmonics above ~1 kHz, and
    # the model trained with them learned a noise-like excitation under the right envelope.
    config.loss.mel_bins = (10, 20, 40, 80, 160, 320)
    d = config.discriminator
    d.wave_channels = 8
    d.wave_max_channels = 128
    d.stft_channels = 8
    # lecun_normal kernels (still with weight norm) instead of PyTorch's init: with PyTorch's,
    # the discriminators' logits start at 2e-4 to 5e-3 on real speech (lecun: 0.01 to 1.3), and
    # weight norm lets their scale grow only additively (by ~lr per step through each layer's
    # scale). Measured: the hinge loss sat at 2.00 for 110 GAN steps while the balancer scaled
    # the resulting noise up to its share and the mel loss rose from ~1150 to 2000-3200. With
    # lecun it fell to 1.74 in 80 steps and the mel loss held at ~1050-1290.
    d.conv_init = "lecun"
    # No GAN phase at this budget: in the 1 s-crop run its first 200 steps (~6 s each on this
    # CPU, 2.6x a reconstruction step) lowered every held-out score (6 kbps mel 1,528 -> 1,665,
    # PESQ 1.33 -> 1.28, ViSQOL 1.29 -> 1.24), and the ELU run's 800 GAN steps added PESQ +0.09.
    # The same CPU time buys ~3x more reconstruction steps. Set a step below num_steps to add it.
    # NO_GAN rather than num_steps: a run resumed with a larger --config.num_steps stays GAN-free.
    config.loss.adversarial_start_step = NO_GAN
    # Not adopted: loss.mel_loss = "log_l1" (DAC's log-mel L1). At step 400, same seed: ViSQOL
    # 1.39 vs 1.32 at 6 kbps but PESQ 1.05 vs 1.13 and the paper-form mel distance 2,390 vs 1,896.
    # Nor as a late switch: from the step-5,000 model at a constant 5e-5, 250 log_l1 steps took
    # held-out 6 kbps mel / PESQ / ViSQOL from 1,230 / 1.72 / 1.53 to 2,210 / 1.05 / 1.33.
    # Nor added to the paper form (loss.log_l1_weight=700, floored 45 dB down), from scratch:
    # at step 2,000 1,443 / 1.36 / 1.31 against this file's 1,398 / 1.49 / 1.35.
    # Nor EnCodec's waveform L1 (loss.waveform_l1_weight=1e5): on one file, ViSQOL 1.20 against
    # 1.69 at step 1,000.
    # Nor pre-emphasis in the mel loss (loss.mel_preemphasis=0.97): on one file, eval mel / ViSQOL
    # / PESQ 1,408 / 1.58 / 1.08 against 1,107 / 1.69 / 1.34 at step 1,000. Nor the inverse-STFT
    # decoder (model.decoder="istft"): ~1.4x the steps per second, but at equal wall-clock on one
    # file the same ViSQOL (1.69) and PESQ 1.19 against 1.34.
    o = config.optim
    # Cosine decay to 0.1x over num_steps (ours; the paper's rate is constant).
    o.lr_schedule = "cosine"
    # Tried: lr 1e-3 with b1 0.9, b2 0.99: held-out mel 2,266 vs 2,176 at step 200 (stopped).
    # lr 1.5e-3 (same betas): ahead to step ~1,000, behind at 2,000 (held-out 6 kbps mel / PESQ
    # 1,450 / 1.40 against 1,398 / 1.49), though it fit a single file much faster (README).
    o.generator_lr = 5e-4
    o.discriminator_lr = 2e-4
    o.grad_clip_norm = 0.0
    dt = config.data
    dt.train = "data/asterisk/train"
    dt.kinds = ("speech",)
    # DAC's crop length (0.4 s) instead of 1 s: at equal CPU time more, shorter steps win. Same
    # seed and data, held-out 6 kbps mel / PESQ: 1 s crops at step 400 (15 min) 1,896 / 1.13;
    # 0.4 s crops at step 800 (13 min) 1,810 / 1.20, at step 1,000 (16 min) 1,680 / 1.20.
    dt.crop_frames = 30
    dt.batch_size = 8
    t = config.train
    t.log_every = 10
    t.checkpoint_every = 100
    t.keep_checkpoints = 2
    t.sample_every = 500
    t.eval_data = "data/asterisk/eval"  # held-out speakers (it, ru)
    t.eval_every = 250
    return config
