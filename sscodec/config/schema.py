"""The config schema: `default_config()`, a locked ConfigDict holding every known key, set to the
paper's 24 kHz model, and the error that names a bad key."""

from __future__ import annotations

import ml_collections

ConfigDict = ml_collections.ConfigDict

class ConfigError(ValueError):
    """A config value is invalid; the message starts with the offending key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config.{key}: {message}")
        self.key = key


# The parts of the train state that `--init-from` can take (parameters and codebooks; never the
# optimizers, the step or the balancer).
INIT_FROM_WEIGHTS = ("gen_params", "quantizer", "disc_params")


# The most audio channels a model may code (model.channels): the .ssc header's u8 field holds up
# to 255, but beyond 8 (7.1 surround) one shared encoder is an untested idea.
MAX_AUDIO_CHANNELS = 8


# loss.adversarial_start_step for "no adversarial phase": above any num_steps, so that a run
# resumed with a larger --config.num_steps does not switch the GAN on by surprise.
NO_GAN = 1_000_000_000


def default_config() -> ConfigDict:
    """The paper's scalable 24 kHz SoundStream (C=32, D=256, N=1024, N_q=24 with quantizer dropout)."""
    c = ConfigDict()
    c.seed = 0
    c.num_steps = 1_000_000
    c.sample_rate = 24_000

    c.model = m = ConfigDict()
    # Audio channels the codec takes and gives (1: mono, the paper's; 2: stereo, as EnCodec's
    # 48 kHz model): one encoder sees all channels at once and one set of codes carries them.
    # The data pipeline reads files with this many channels (mono files are duplicated).
    m.channels = 1
    m.encoder_channels = 32  # C_enc
    m.decoder_channels = 32  # C_dec
    m.strides = (2, 4, 5, 8)  # encoder order; the decoder uses them reversed
    m.embedding_dim = 256  # D, inferred from Table I's parameter counts
    m.residual_kernel_size = 7
    m.residual_dilations = (1, 3, 9)
    # Residual units project N -> N / compress with the dilated conv, then 1x1 back to N. compress=2
    # with kernel 7 (or compress=1 with kernel 3) reproduces Table I's 8.4 M parameters.
    m.residual_compress = 2
    m.first_kernel_size = 7
    m.last_kernel_size = 7
    m.bottleneck_kernel_size = 3
    m.remat = False  # recompute residual units in the backward pass (less memory for long crops)
    m.film = "none"  # "none" | "encoder" | "decoder": FiLM denoise conditioning at the bottleneck
    # Ours (the paper states neither): PyTorch's default conv init and weight norm, as EnCodec and
    # DAC. With lecun_normal and no weight norm the untrained decoder's output is ~20 dB above its
    # input and the first few hundred steps go to shrinking it. Paper: "no normalization" (of
    # activations; weight norm only reparametrizes the kernels).
    m.conv_init = "torch"  # "torch" | "lecun"
    m.weight_norm = True
    # "elu" is the paper's; "snake" (ours, from DAC): x + sin^2(alpha x) / alpha with a learned
    # per-channel alpha, a periodic bias that lets a small decoder make harmonics early.
    m.activation = "elu"
    # "seanet" is the paper's decoder (four strided upsampling stages to the sample rate);
    # "istft" (ours, after Vocos) stays at the frame rate and predicts one complex spectrum per
    # frame, overlap-added through an inverse FFT with no added latency (nn/istft_decoder.py).
    m.decoder = "seanet"
    m.istft_overlap = 2  # "istft": FFT size = this x the hop (prod(strides)); 2 or 4

    c.quantizer = q = ConfigDict()
    q.num_quantizers = 24  # N_q
    q.codebook_size = 1024  # N
    q.dropout = True  # quantizer dropout: n_q ~ U{1..N_q} per example while training
    # The share of examples that draw a depth; the others train at all N_q. 1.0 is the paper's
    # (every example); DAC uses 0.5 for better full-rate quality with the lower rates kept.
    q.dropout_share = 1.0
    # "ema" (the paper's): codebooks in D dimensions updated by moving averages, k-means init and
    # dead-code replacement (nn/rvq.py). "factorized" (ours, DAC's): each stage looks up unit-norm
    # codes of code_dim dimensions by cosine similarity, codebooks learned by gradient
    # (nn/factorized_vq.py); the EMA, k-means and dead-code keys below then do nothing.
    q.codes = "ema"
    q.code_dim = 8  # "factorized": DAC's 8
    q.ema_decay = 0.99  # codebook EMA (the paper leaves it open; 0.99 like its usage EMA)
    q.dead_code_threshold = 2.0  # EMA usage below this -> replaced by a random frame of the batch
    # ...scaled to the batch: the threshold is min(dead_code_threshold, this x frames per step /
    # codebook_size). 0.43 gives the paper's 2 at its batch (4,800 frames, 1,024 codes) and stops a
    # small batch from calling nearly every code dead (paper: 2 whatever the batch; set 0 for that).
    q.dead_code_usage_fraction = 0.43
    q.kmeans_iters = 10  # k-means on the first batch initializes each codebook
    q.commitment_weight = 1.0
    q.epsilon = 1e-5

    c.discriminator = d = ConfigDict()
    # "soundstream" (the paper's: the STFT discriminator and the multi-scale wave discriminator)
    # or "ms_stft" (EnCodec's multi-scale STFT discriminator alone, nn/ms_stft_discriminator.py)
    # or "mpd_mrd" (DAC's multi-period and multi-band multi-resolution STFT discriminators,
    # nn/dac_discriminators.py).
    d.kind = "soundstream"
    d.ms_stft_windows = (2048, 1024, 512, 256, 128)  # EnCodec's; hop = window / 4
    d.ms_stft_channels = 32  # EnCodec's filters
    d.mpd_periods = (2, 3, 5, 7, 11)  # DAC's (HiFi-GAN's)
    d.mpd_channels = 32  # first layer; then x4, x16, x32, x32 (DAC: 32 ... 1024)
    d.mpd_max_channels = 1024
    d.mrd_windows = (2048, 1024, 512)  # DAC's; hop = window / 4; five bands each
    d.mrd_channels = 32
    d.wave_scales = 3
    d.wave_channels = 16
    d.wave_max_channels = 1024
    d.wave_groups = (4, 16, 64, 256)  # one grouped strided conv per entry, channels x4 each
    d.stft_channels = 32
    d.stft_window = 1024
    d.stft_hop = 256
    # "patches" is fast for the grouped-conv weight gradient on XLA:CPU; "lax" on GPU/TPU; "auto" picks.
    d.grouped_conv = "auto"
    d.conv_init = "torch"  # as model.conv_init
    d.weight_norm = True  # ours, as MelGAN, EnCodec and DAC (the paper states none)

    c.loss = l = ConfigDict()
    l.lambda_adv = 1.0
    l.lambda_feat = 100.0
    l.lambda_rec = 1.0
    l.mel_windows = (64, 128, 256, 512, 1024, 2048)
    # Bins per mel scale: an int (the paper's 64 at every window) or one count per window, e.g.
    # DAC's window / 6.4, which resolves a voice's harmonics (see losses.py).
    l.mel_bins = ml_collections.FieldReference(64, field_type=object)
    l.mel_l1 = "sum"  # L1 over mel bins: "sum" is the paper's ||.||_1; "mean" weighs it 1/64
    # log(S + eps): "relative" (ours) eps = log_epsilon x the target's loudest mel bin, so the
    # loss-minimizing output level is the target's; "absolute" eps = log_epsilon (paper: unstated;
    # 1e-5 biases the output level down by several dB). See losses.py.
    l.log_floor = "relative"
    l.log_epsilon = 1e-3
    # The form of the reconstruction loss: "paper" (L1 of mel magnitudes + sqrt(s/2)-weighted L2
    # of log mels, dominated by the loud low bins of the long windows) or "log_l1" (ours, DAC's:
    # L1 of log10 mels, every scale, bin and frame weighing the same in dB). See losses.py.
    l.mel_loss = "paper"
    # Ours: add this weight x the log_l1 form to the paper form ("paper" only; 0 = the paper's),
    # with its own floor this many dB below the target's loudest mel bin (ViSQOL floors each
    # frame 45 dB below its peak). ~700 gives the two terms equal output gradients on speech.
    l.log_l1_weight = 0.0
    l.log_l1_floor_db = 45.0
    # Ours (EnCodec's time-domain term): add this weight x mean |x - x_hat| over samples to the
    # reconstruction loss (0 = the paper's, which has no waveform term). The only term that sees
    # phase; ~1e5 gives it ~1/4 of the mel loss's output gradient on speech (8 x 0.4 s crops).
    l.waveform_l1_weight = 0.0
    # Ours: the mel loss compares x[n] - a x[n - 1] of both signals (a = this; 0 = the paper's).
    # A first-order pre-emphasis (speech codecs use a ~ 0.9-0.97): it tilts the linear-magnitude
    # L1 term, which loud bins below 1 kHz dominate, towards the 1-4 kHz harmonics; the log term
    # is unchanged but for its floor, and the loss-minimizing gain stays the target's.
    l.mel_preemphasis = 0.0
    # Ours: EnCodec's loss balancer. Each family's gradient at the generator output gets a fixed
    # share (reconstruction, adversarial, feature matching) of a unit total, whatever the losses'
    # scales (see train/balancer.py). False: the paper's fixed lambdas below.
    l.balancer = True
    l.balancer_shares = (0.5, 0.25, 0.25)
    l.balancer_decay = 0.999
    # Adversarial and feature losses switch on at this step (0: from the start). Before it the
    # discriminators are neither run nor trained (the step costs only the generator). A step at
    # or above num_steps means never; NO_GAN says so whatever num_steps is overridden to.
    l.adversarial_start_step = 0
    # Ours: for this many steps from adversarial_start_step the discriminators train alone (the
    # generator keeps to the reconstruction loss), so that their first gradients to the generator
    # come from discriminators that already tell real from fake. 0: the paper's (none).
    l.adversarial_warmup_steps = 0

    c.optim = o = ConfigDict()
    o.generator_lr = 1e-4
    o.discriminator_lr = 1e-4
    o.b1 = 0.5
    o.b2 = 0.9
    # "constant" (the paper's) or "cosine" (ours: down to final_lr_fraction at num_steps), both
    # after warmup_steps of linear warm-up; applied in the step, see train/schedule.py.
    o.lr_schedule = "constant"
    o.warmup_steps = 0
    o.final_lr_fraction = 0.1
    o.grad_clip_norm = 0.0  # 0 disables clipping
    # Ours (Mimi, and most codecs since): an exponential moving average of the generator's
    # parameters, kept in the state as "gen_ema" and used for validation, samples and export.
    # The decay ramps up as min(weight_ema_decay, (1 + step) / (10 + step)), so early averages
    # are not dominated by the random init. 0: none (the paper's).
    o.weight_ema_decay = 0.0

    c.data = dt = ConfigDict()
    # What to train on: one spec ("embedded", a folder, a manifest .jsonl, tfds:NAME[/CONFIG]:SPLIT),
    # or a mixture: a list of dict(spec=..., weight=1.0, kinds=(...), kind="") entries.
    dt.train = ml_collections.FieldReference("embedded", field_type=object)
    dt.kinds = ("speech", "music")  # labelled kinds to keep (unlabelled audio is always kept)
    dt.data_dir = ""  # TFDS data_dir; "" = TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR)
    dt.crop_frames = 300  # crop length in codec frames (300 x 320 = 96000 samples = 4 s)
    dt.batch_size = 16  # global batch; each of P processes loads batch_size / P
    dt.worker_count = -1  # Grain worker processes per host; -1 = by CPU count, 0 = in-process
    dt.worker_buffer_size = 2  # batches each worker prepares ahead
    dt.min_crop_rms = 1e-3  # crops quieter than this are redrawn (a few tries)
    dt.peak_db_range = (-12.0, -1.0)  # random peak normalization of each example, dBFS
    # Denoising pairs (paper's FiLM mode): noise mixed into speech at a random gain.
    dt.noise = ""  # spec of the noise corpus; "" = no noisy examples, denoise flag always 0
    dt.noise_kinds = ("noise",)
    dt.noisy_prob = 0.5  # share of speech examples that get noise
    dt.denoise_prob = 0.5  # share of examples with denoise = 1
    dt.noise_gain_db = (-30.0, 0.0)  # noise gain range relative to the speech peak

    c.mesh = ms = ConfigDict()
    ms.axes = ("data", "fsdp")
    # Devices per axis within a slice (ICI); one -1 takes the rest. Pure data parallelism by
    # default, at every size (docs/scaling/report.md): the paper model's parameters and Adam
    # state are 0.4 GiB per chip against 8.4 GiB of activations at 2 x 4 s per chip, and its
    # estimated v5e weak-scaling efficiency is 97% at 256 chips and 94% at 1,024 (4 slices), so
    # FSDP (fsdp > 1) is for models whose state, not activations, fills the chip.
    ms.shape = (-1, 1)
    ms.dcn_shape = (1, 1)  # slices per axis (multi-slice, over DCN); product = number of slices
    # Logical axis -> mesh axes. FSDP shards conv kernels' output channels (and with them the Adam
    # moments) over `fsdp`; the batch is split over data x fsdp; everything else is replicated.
    ms.rules = (("batch", ("data", "fsdp")), ("conv_out", "fsdp"), ("conv_in", None),
                ("width", None), ("height", None), ("dense_in", None), ("dense_out", None),
                ("bias", None), ("quantizers", None), ("codes", None), ("code_dim", None))
    ms.fsdp_min_size = 2 ** 14  # parameters with fewer elements stay replicated

    c.train = t = ConfigDict()
    t.compute_dtype = "float32"  # or "bfloat16": activations in bf16; parameters, RVQ, losses fp32
    t.log_every = 10
    t.checkpoint_every = 1000
    t.keep_checkpoints = 3
    t.sample_every = 1000
    t.sample_seconds = 4.0
    t.sample_depths = ()  # n_q values to render samples at; () = N_q, plus 1 with quantizer dropout
    t.progress = True
    # Validation while training (main process): fixed held-out clips coded at the lowest (n_q = 1)
    # and highest (n_q = N_q) bitrate and scored; eval/<metric>@<kbps>kbps in metrics.jsonl.
    t.eval_every = 1000  # steps; 0 disables. Also runs at the final step
    # What `--init-from` takes from the other run. Drop "disc_params" to start the GAN with fresh
    # discriminators (e.g. after a reconstruction-only warm-up, or with another discriminator init).
    t.init_from_weights = INIT_FROM_WEIGHTS
    t.eval_data = ""  # data spec of held-out audio; "" = the embedded corpus
    t.eval_clips = 8  # fixed clips, chosen once (seeded; speech-labelled items first)
    t.eval_seconds = 4.0  # clip length
    # Any of "mel" (the training mel loss), "visqol_speech", "pesq", "stoi", "visqol_audio",
    # "si_sdr"; the speech metrics skip clips labelled music.
    t.eval_metrics = ("mel", "visqol_speech", "pesq")
    # Bitrates (kbps) to validate at; () = the lowest (n_q = 1) and the highest (n_q = N_q).
    t.eval_kbps = ()
    # The "mel" metric's windows and bins; () = loss.mel_windows / loss.mel_bins. Set both to
    # compare runs whose training mel losses differ on one yardstick (the recipe sweep does).
    t.eval_mel_windows = ()
    t.eval_mel_bins = ()
    # A training-time budget in seconds (0: none): the run stops at the first log step past it,
    # saves, validates and exits, whatever num_steps says. Only the loop's own time counts (not
    # compilation, validation, samples or checkpoints) and it is kept across resumes. "wall"
    # counts elapsed time; "cpu" this process's CPU time over all its threads (about cores x wall
    # on an idle machine), which another job on the same cores barely changes: the recipe sweep
    # gives every point the same budget this way, so that a slower recipe pays in quality.
    t.time_budget_s = 0.0
    t.time_budget_clock = "wall"

    c.lock()
    return c
