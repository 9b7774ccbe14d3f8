"""Configuration: the default schema, loading experiment files, overrides, validation, bitrates.

Every experiment file in `experiments/` starts from `default_config()` (a locked ml_collections
ConfigDict holding every known key, set to the paper's 24 kHz model) and changes a few fields, so a
typo in a config file or a `--config.KEY=VALUE` override fails at once and names the key.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
from typing import Sequence

import ml_collections

ConfigDict = ml_collections.ConfigDict


class ConfigError(ValueError):
    """A config value is invalid; the message starts with the offending key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config.{key}: {message}")
        self.key = key


# The parts of the train state that `--init_from` can take (parameters and codebooks; never the
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
    # What `--init_from` takes from the other run. Drop "disc_params" to start the GAN with fresh
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


def dotted_items(tree: dict, prefix: str = "") -> dict:
    """A nested config (as a dict) as {"model.encoder_channels": 16, ...}: the keys that
    `--config.KEY=VALUE` takes."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(dotted_items(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_config(spec: str, overrides: Sequence[str] = ()) -> ConfigDict:
    """Loads `path/to/file.py` (calling its `get_config()`), applies overrides and validates."""
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"config file not found: {spec}")
    module_spec = importlib.util.spec_from_file_location(
        f"sscodec_config_{abs(hash(os.path.abspath(spec)))}", spec)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError("get_config", f"{spec} defines no get_config()")
    config = module.get_config()
    apply_overrides(config, overrides)
    validate(config)
    return config


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def config_from_dict(values: dict) -> ConfigDict:
    """The config a run saved as JSON (config.json): lists become tuples where the schema has
    tuples; unknown keys raise ConfigError."""
    config = default_config()

    def fill(node: ConfigDict, items: dict, prefix: str) -> None:
        for key, value in items.items():
            if key not in node:
                raise ConfigError(f"{prefix}{key}", "unknown key")
            if isinstance(node[key], ConfigDict):
                fill(node[key], value, f"{prefix}{key}.")
                continue
            if isinstance(node[key], tuple) and isinstance(value, list):
                value = _as_tuples(value)
            with node.unlocked():
                node[key] = value

    fill(config, values, "")
    validate(config)
    return config


def load_sibling(this_file: str, name: str) -> ConfigDict:
    """For variant configs: the config of `name` in the same folder as `this_file`."""
    return load_config(os.path.join(os.path.dirname(os.path.abspath(this_file)), name))


def _parse_value(text: str, current):
    if isinstance(current, str):
        return text
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    value = ast.literal_eval(text)
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if isinstance(current, tuple) and isinstance(value, (list, int)):
        value = tuple(value) if isinstance(value, list) else (value,)
    return value


def apply_overrides(config: ConfigDict, overrides: Sequence[str]) -> None:
    """Applies `KEY=VALUE` (or `--config.KEY=VALUE`) strings; unknown keys raise ConfigError."""
    for item in overrides:
        text = item[len("--config."):] if item.startswith("--config.") else item
        if "=" not in text:
            raise ConfigError(text, "an override must look like --config.KEY=VALUE")
        key, raw = text.split("=", 1)
        *parents, leaf = key.split(".")
        node = config
        for i, part in enumerate(parents):
            if part not in node or not isinstance(node[part], ConfigDict):
                raise ConfigError(".".join(parents[: i + 1]), "unknown key")
            node = node[part]
        if leaf not in node:
            raise ConfigError(key, f"unknown key (known here: {', '.join(sorted(node.keys()))})")
        try:
            value = _parse_value(raw, node[leaf])
            with node.unlocked():
                node[leaf] = value
        except (ValueError, TypeError, SyntaxError) as e:
            raise ConfigError(key, f"cannot set to {raw!r}: {e}") from None


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def validate(config: ConfigDict) -> None:
    """Checks value ranges and cross-field consistency; raises ConfigError naming the key."""
    reference = default_config()

    def walk(node, ref, prefix):
        for key in node.keys():
            path = f"{prefix}{key}"
            _check(key in ref, path, "unknown key")
            if isinstance(ref[key], ConfigDict):
                _check(isinstance(node[key], ConfigDict), path, "must be a section")
                walk(node[key], ref[key], path + ".")
        for key in ref.keys():
            _check(key in node, f"{prefix}{key}", "missing")

    walk(config, reference, "")
    m, q, d, l, dt = config.model, config.quantizer, config.discriminator, config.loss, config.data
    _check(config.sample_rate > 0, "sample_rate", "must be positive")
    _check(config.num_steps >= 0, "num_steps", "must be >= 0")
    _check(len(m.strides) >= 1 and all(int(s) >= 1 for s in m.strides), "model.strides",
           f"must be positive integers, got {m.strides}")
    _check(isinstance(m.channels, int) and not isinstance(m.channels, bool)
           and 1 <= m.channels <= MAX_AUDIO_CHANNELS, "model.channels",
           f"must be an integer in 1..{MAX_AUDIO_CHANNELS} (1: mono, 2: stereo), got {m.channels!r}")
    _check(m.encoder_channels >= 1 and m.decoder_channels >= 1, "model.encoder_channels",
           "channels must be >= 1")
    _check(m.film in ("none", "encoder", "decoder"), "model.film",
           f"must be 'none', 'encoder' or 'decoder', got {m.film!r}")
    _check(m.residual_compress >= 1 and m.residual_kernel_size >= 1, "model.residual_compress",
           "must be >= 1")
    _check(0.0 <= l.mel_preemphasis < 1.0, "loss.mel_preemphasis",
           f"must be in [0, 1), got {l.mel_preemphasis}")
    _check(m.decoder in ("seanet", "istft"), "model.decoder",
           f"must be 'seanet' or 'istft', got {m.decoder!r}")
    _check(m.istft_overlap in (2, 4), "model.istft_overlap", f"must be 2 or 4, got {m.istft_overlap}")
    _check(q.num_quantizers >= 1, "quantizer.num_quantizers", "must be >= 1")
    n = q.codebook_size
    _check(n >= 2 and n & (n - 1) == 0, "quantizer.codebook_size",
           f"must be a power of two >= 2 (codes are log2(N)-bit), got {n}")
    _check(0.0 < q.ema_decay < 1.0, "quantizer.ema_decay", "must be in (0, 1)")
    _check(config.optim.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
    _check(0.0 <= config.optim.final_lr_fraction <= 1.0, "optim.final_lr_fraction",
           "must be in [0, 1]")
    _check(q.kmeans_iters >= 0, "quantizer.kmeans_iters", "must be >= 0")
    _check(d.grouped_conv in ("auto", "patches", "lax"), "discriminator.grouped_conv",
           "must be 'auto', 'patches' or 'lax'")
    _check(d.wave_scales >= 1, "discriminator.wave_scales", "must be >= 1")
    _check(d.stft_window % d.stft_hop == 0 and d.stft_window >= 128, "discriminator.stft_window",
           "must be >= 128 and a multiple of stft_hop")
    for key, allowed in (("model.conv_init", ("torch", "lecun")),
                         ("model.activation", ("elu", "snake")),
                         ("discriminator.conv_init", ("torch", "lecun")),
                         ("discriminator.kind", ("soundstream", "ms_stft", "mpd_mrd")),
                         ("loss.mel_l1", ("sum", "mean")),
                         ("loss.log_floor", ("relative", "absolute")),
                         ("loss.mel_loss", ("paper", "log_l1")),
                         ("optim.lr_schedule", ("constant", "cosine"))):
        section, leaf = key.split(".")
        _check(config[section][leaf] in allowed, key,
               f"must be one of {allowed}, got {config[section][leaf]!r}")
    _check(l.log_epsilon > 0, "loss.log_epsilon", "must be > 0")
    _check(0.0 <= q.dropout_share <= 1.0, "quantizer.dropout_share", "must be in [0, 1]")
    _check(l.log_l1_weight >= 0, "loss.log_l1_weight", "must be >= 0")
    _check(l.log_l1_weight == 0 or l.mel_loss == "paper", "loss.log_l1_weight",
           "adds a log_l1 term to loss.mel_loss='paper'; set it to 0 with 'log_l1'")
    _check(l.log_l1_floor_db > 0, "loss.log_l1_floor_db", "must be > 0 (dB below the peak)")
    _check(l.waveform_l1_weight >= 0, "loss.waveform_l1_weight", "must be >= 0")
    _check(l.adversarial_warmup_steps >= 0, "loss.adversarial_warmup_steps", "must be >= 0")
    _check(len(l.balancer_shares) == 3 and all(x >= 0 for x in l.balancer_shares)
           and l.balancer_shares[0] > 0, "loss.balancer_shares",
           "must be 3 shares >= 0 (reconstruction > 0, adversarial, feature matching)")
    _check(0.0 < l.balancer_decay < 1.0, "loss.balancer_decay", "must be in (0, 1)")
    _check(q.dead_code_usage_fraction >= 0, "quantizer.dead_code_usage_fraction", "must be >= 0")
    _check(len(l.mel_windows) >= 1 and all(w >= 16 and w & (w - 1) == 0 for w in l.mel_windows),
           "loss.mel_windows", "must be powers of two >= 16")
    bins = (l.mel_bins,) * len(l.mel_windows) if isinstance(l.mel_bins, int) else tuple(l.mel_bins)
    _check(len(bins) == len(l.mel_windows) and all(isinstance(b, int) and b >= 1 for b in bins),
           "loss.mel_bins", f"must be an int >= 1 or one per loss.mel_windows entry, got {l.mel_bins!r}")
    _check(dt.crop_frames >= 1, "data.crop_frames", "must be >= 1")
    crop = dt.crop_frames * samples_per_frame(config)
    _check(crop >= max(l.mel_windows), "data.crop_frames",
           f"crop of {crop} samples is shorter than the largest mel window {max(l.mel_windows)}")
    _check(crop >= d.stft_window, "data.crop_frames",
           f"crop of {crop} samples is shorter than discriminator.stft_window")
    _check(len(d.ms_stft_windows) >= 1 and all(w >= 16 and w % 4 == 0 for w in d.ms_stft_windows),
           "discriminator.ms_stft_windows", "must be window lengths >= 16, multiples of 4")
    _check(d.ms_stft_channels >= 1, "discriminator.ms_stft_channels", "must be >= 1")
    _check(d.kind == "soundstream" or crop >= discriminator_window(config), "data.crop_frames",
           f"crop of {crop} samples is shorter than the discriminators' longest window "
           f"({discriminator_window(config)})")
    _check(len(d.mpd_periods) >= 1 and all(isinstance(p, int) and p >= 2 for p in d.mpd_periods),
           "discriminator.mpd_periods", f"must be integers >= 2, got {d.mpd_periods!r}")
    _check(len(d.mrd_windows) >= 1 and all(w >= 64 and w % 4 == 0 for w in d.mrd_windows),
           "discriminator.mrd_windows", "must be window lengths >= 64, multiples of 4")
    _check(min(d.mpd_channels, d.mpd_max_channels, d.mrd_channels) >= 1,
           "discriminator.mpd_channels", "mpd_channels, mpd_max_channels and mrd_channels must be >= 1")
    _check(dt.batch_size >= 1, "data.batch_size", "must be >= 1")
    _validate_data(dt)
    _check(config.train.log_every >= 1, "train.log_every", "must be >= 1")
    _check(config.train.compute_dtype in ("float32", "bfloat16"), "train.compute_dtype",
           f"must be 'float32' or 'bfloat16', got {config.train.compute_dtype!r}")
    _validate_mesh(config.mesh)
    _check(config.train.checkpoint_every >= 1, "train.checkpoint_every", "must be >= 1")
    for n_q in config.train.sample_depths:
        _check(1 <= n_q <= q.num_quantizers, "train.sample_depths",
               f"n_q={n_q} outside 1..quantizer.num_quantizers={q.num_quantizers}")
    t = config.train
    parts = tuple(t.init_from_weights)
    _check(len(parts) >= 1 and set(parts) <= set(INIT_FROM_WEIGHTS)
           and len(set(parts)) == len(parts), "train.init_from_weights",
           f"must be distinct names from {INIT_FROM_WEIGHTS}, got {parts!r}")
    _check(isinstance(t.eval_every, int) and t.eval_every >= 0, "train.eval_every",
           f"must be an integer >= 0 (0 disables), got {t.eval_every!r}")
    _check(isinstance(t.eval_data, str), "train.eval_data",
           "must be a data spec string ('' = the embedded corpus)")
    _check(isinstance(t.eval_clips, int) and t.eval_clips >= 1, "train.eval_clips",
           f"must be an integer >= 1, got {t.eval_clips!r}")
    _check(t.eval_seconds >= 0.5, "train.eval_seconds", f"must be >= 0.5, got {t.eval_seconds}")
    known = ("mel", "visqol_speech", "pesq", "stoi", "visqol_audio", "si_sdr")
    names = tuple(t.eval_metrics)
    unknown = [m for m in names if m not in known]
    _check(not unknown, "train.eval_metrics",
           f"unknown metrics {unknown}; choose from {', '.join(known)}")
    _check(len(names) >= 1 and len(set(names)) == len(names), "train.eval_metrics",
           f"must name at least one metric, each once, got {names}")
    _check(q.codes in ("ema", "factorized"), "quantizer.codes",
           f"must be 'ema' or 'factorized', got {q.codes!r}")
    _check(isinstance(q.code_dim, int) and 1 <= q.code_dim <= config.model.embedding_dim,
           "quantizer.code_dim", f"must be an integer in 1..model.embedding_dim, got {q.code_dim!r}")
    _check(0.0 <= config.optim.weight_ema_decay < 1.0, "optim.weight_ema_decay",
           f"must be in [0, 1) (0: no weight EMA), got {config.optim.weight_ema_decay}")
    _check(t.time_budget_s >= 0, "train.time_budget_s", f"must be >= 0 (0: none), got {t.time_budget_s}")
    _check(t.time_budget_clock in ("wall", "cpu"), "train.time_budget_clock",
           f"must be 'wall' or 'cpu', got {t.time_budget_clock!r}")
    if t.eval_mel_windows or t.eval_mel_bins:
        _check(len(t.eval_mel_windows) == len(t.eval_mel_bins) >= 1, "train.eval_mel_bins",
               "give train.eval_mel_windows and train.eval_mel_bins together, one count per window")
    for kbps in tuple(t.eval_kbps):
        _check(any(abs(kbps_for_num_quantizers(config, n) - kbps) < 1e-6
                   for n in range(1, q.num_quantizers + 1)), "train.eval_kbps",
               f"{kbps} kbps is not a bitrate of this model (n_q x "
               f"{kbps_for_num_quantizers(config, 1):g} kbps, n_q = 1..{q.num_quantizers})")
    _check("mel" not in names or t.eval_seconds * config.sample_rate >= max(l.mel_windows),
           "train.eval_seconds", "clips must be at least the largest of loss.mel_windows long")


def _validate_mesh(ms: ConfigDict) -> None:
    from sscodec.nn.partitioning import LOGICAL_AXES  # names only; no model code runs
    axes = tuple(ms.axes)
    _check(len(axes) >= 1 and len(set(axes)) == len(axes), "mesh.axes", "must be distinct names")
    for key in ("shape", "dcn_shape"):
        shape = tuple(ms[key])
        _check(len(shape) == len(axes), f"mesh.{key}", f"needs one size per axis of {axes}")
        _check(all(n == -1 or n >= 1 for n in shape), f"mesh.{key}", "sizes must be >= 1 or -1")
    _check(list(ms.shape).count(-1) <= 1, "mesh.shape", "at most one size may be -1")
    _check(-1 not in tuple(ms.dcn_shape), "mesh.dcn_shape", "sizes must be given (no -1)")
    names = []
    for i, rule in enumerate(ms.rules):
        _check(len(rule) == 2, f"mesh.rules[{i}]", "each rule is (logical_name, mesh_axes)")
        logical, target = rule
        targets = () if target is None else (target,) if isinstance(target, str) else tuple(target)
        for t in targets:
            _check(t in axes, f"mesh.rules[{i}]", f"mesh axis {t!r} is not in mesh.axes {axes}")
        names.append(logical)
    missing = [n for n in LOGICAL_AXES if n not in names]
    _check(not missing, "mesh.rules", f"no rule for logical axes {missing}")
    _check(ms.fsdp_min_size >= 0, "mesh.fsdp_min_size", "must be >= 0")


def _validate_data(dt: ConfigDict) -> None:
    from data_pipelines.specs import mixture  # light: no audio, Grain or TFDS code
    try:
        mixture(dt.train, tuple(dt.kinds))
    except (TypeError, ValueError) as e:
        raise ConfigError("data.train", str(e)) from None
    _check(isinstance(dt.noise, str), "data.noise", "must be a spec string ('' for none)")
    _check(dt.worker_count >= -1, "data.worker_count", "must be -1 (auto), 0 or more")
    _check(dt.worker_buffer_size >= 1, "data.worker_buffer_size", "must be >= 1")
    for key in ("noisy_prob", "denoise_prob"):
        _check(0.0 <= dt[key] <= 1.0, f"data.{key}", "must be in [0, 1]")
    for key in ("peak_db_range", "noise_gain_db"):
        low, high = dt[key]
        _check(low <= high, f"data.{key}", f"must be (low, high) with low <= high, got {dt[key]}")
    _check(dt.peak_db_range[1] <= 0.0, "data.peak_db_range", "peaks above 0 dBFS would clip")


# ----------------------------------------------------------------------------- bitrate bookkeeping

def samples_per_frame(config: ConfigDict) -> int:
    """M, the product of the encoder strides (320 for 2, 4, 5, 8)."""
    return math.prod(int(s) for s in config.model.strides)


def init_length(config: ConfigDict) -> int:
    """The shortest input (whole frames) that builds every parameter: it must cover the STFT
    discriminators' windows. Parameter shapes do not depend on length, so init compiles fast."""
    m = samples_per_frame(config)
    return -(-max(discriminator_window(config), m) // m) * m


def audio_shape(config: ConfigDict, batch: int, length: int) -> tuple[int, ...]:
    """A batch of audio: [batch, length] for a mono model, [batch, length, C] for C channels."""
    channels = config.model.channels
    return (batch, length) if channels == 1 else (batch, length, channels)


def discriminator_window(config: ConfigDict) -> int:
    """The longest STFT window of the configured discriminators (`discriminator.kind`)."""
    d = config.discriminator
    return {"ms_stft": lambda: max(d.ms_stft_windows),
            "mpd_mrd": lambda: max(d.mrd_windows)}.get(d.kind, lambda: d.stft_window)()


def frame_rate(config: ConfigDict) -> float:
    """Codec frames per second (75 Hz at 24 kHz with M = 320)."""
    return config.sample_rate / samples_per_frame(config)


def bits_per_code(config: ConfigDict) -> int:
    return int(math.log2(config.quantizer.codebook_size))


def kbps_for_num_quantizers(config: ConfigDict, n_q: int) -> float:
    """Bitrate of the first n_q quantizers: frame_rate * n_q * log2(N) / 1000."""
    if not 1 <= n_q <= config.quantizer.num_quantizers:
        raise ConfigError("quantizer.num_quantizers",
                          f"n_q={n_q} outside 1..{config.quantizer.num_quantizers}")
    return frame_rate(config) * n_q * bits_per_code(config) / 1000.0


def num_quantizers_for_kbps(config: ConfigDict, kbps: float) -> int:
    """The n_q that gives `kbps` exactly; raises naming the available bitrates otherwise."""
    per_quantizer = frame_rate(config) * bits_per_code(config) / 1000.0
    n_q = round(kbps / per_quantizer)
    if abs(n_q * per_quantizer - kbps) > 1e-6 or not 1 <= n_q <= config.quantizer.num_quantizers:
        available = ", ".join(f"{kbps_for_num_quantizers(config, i):g}"
                              for i in range(1, config.quantizer.num_quantizers + 1))
        raise ValueError(f"{kbps} kbps is not available; this model offers: {available} kbps")
    return n_q


def bitrate_table(config: ConfigDict) -> list[tuple[int, float]]:
    """[(n_q, kbps)] for every n_q of the model."""
    return [(i, kbps_for_num_quantizers(config, i))
            for i in range(1, config.quantizer.num_quantizers + 1)]
