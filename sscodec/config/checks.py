"""Validation: every value checked at load time, each error naming its key (`config.KEY: why`)."""

from __future__ import annotations

from typing import Any, Sequence

from sscodec.config.rates import discriminator_window, kbps_for_num_quantizers, samples_per_frame
from sscodec.config.schema import (INIT_FROM_WEIGHTS, MAX_AUDIO_CHANNELS, ConfigDict, ConfigError,
                                   default_config)

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


MIXTURE_KEYS = ("spec", "weight", "kinds", "kind")


SPEC_FORMS = "'embedded', a folder, a manifest .jsonl file, or tfds:NAME[/CONFIG]:SPLIT"


def mixture(train: Any, default_kinds: Sequence[str] = ()) -> list[dict]:
    """`config.data.train` (a spec, or a list of {spec, weight, kinds, kind}) as a list of entries."""
    entries = [train] if isinstance(train, str) else list(train)
    if not entries:
        raise ValueError("data.train: at least one data source is needed")
    out = []
    for i, entry in enumerate(entries):
        entry = {"spec": entry} if isinstance(entry, str) else dict(entry)
        unknown = set(entry) - set(MIXTURE_KEYS)
        if unknown or "spec" not in entry:
            raise ValueError(f"data.train[{i}]: entries take keys {MIXTURE_KEYS} (spec required), "
                             f"got {sorted(entry)}")
        if not isinstance(entry["spec"], str) or not entry["spec"]:
            raise ValueError(f"data.train[{i}].spec must be a spec string: {SPEC_FORMS}")
        out.append({"spec": entry["spec"], "weight": float(entry.get("weight", 1.0)),
                    "kinds": tuple(entry.get("kinds", default_kinds)),
                    "kind": entry.get("kind", "")})
        if out[-1]["weight"] <= 0:
            raise ValueError(f"data.train[{i}].weight must be > 0, got {out[-1]['weight']}")
    return out


def _validate_data(dt: ConfigDict) -> None:
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
