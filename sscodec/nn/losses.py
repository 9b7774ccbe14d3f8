"""SoundStream's losses: multi-scale mel reconstruction, hinge adversarial, L1 feature matching.

Reductions: the paper sums over time, which makes magnitudes depend on crop length. We average
over frames and batch instead, so the loss does not grow with the crop. Within a frame the terms
are the paper's: the L1 norm over the 64 mel bins (a sum; `mel_l1="mean"` is the old mean, which
weighs L1 1/64 of the paper's) and the (unsquared) L2 norm of the log difference, weighted by
alpha_s = sqrt(s / 2).

Mel bins: the paper uses 64 at every scale. 64 bins over 0-12 kHz are wider than the spacing of a
voice's harmonics above ~1 kHz, so the loss cannot tell a harmonic spectrum from noise with the
same envelope there and the decoder learns a noise-like excitation until the GAN teaches it
otherwise. `n_mels` may be a tuple, one count per window, e.g. DAC's window / 6.4 (2048 -> 320),
which resolves harmonics up to a few kHz at the long windows.

The log floor: log(S + eps). The paper leaves eps open. A fixed eps on unnormalized magnitudes
(`log_floor="absolute"`, eps = log_epsilon) sits below most quiet bins of real audio, so noise 60 dB
under the signal costs more than a level error and the loss-minimizing output level is several dB
low. `log_floor="relative"` (ours) puts the floor at log_epsilon times the loudest mel bin of the
target example at that scale (1e-3: 60 dB down), which makes the loss-minimizing gain 0 dB.

The form (`mel_loss`): "paper" is the above. "log_l1" (ours, DAC's mel loss) is the mean absolute
difference of log10 mel magnitudes at every scale, summed over scales: every bin, frame and scale
weighs the same in dB, where the paper's form is dominated by the loud low bins of the longest
windows (at window 2048 its two terms are ~60% of the total on speech, window 64 ~1%), so it
barely sees the high band and the temporal detail that perceptual metrics score.

The mix (`log_l1_weight` > 0 with the paper form, ours): the paper form plus a weighted log_l1
term with its own floor, `log_l1_floor_db` below the target's loudest bin. ViSQOL floors each
frame 45 dB below its peak, and a log term floored 60 dB down spends most of its gradient on the
bins between the two floors, which ViSQOL does not see: measured on the shipped model's output,
the -60 dB floor gives 4.2x the output gradient of a -45 dB floor (1.54 vs 0.37 per example).

Channels (`model.channels` > 1): the train step hands the mel loss [B, C, T] with
`channels_first=True`. Every term is computed per channel and averaged over the channels (so a
stereo loss is on a mono loss's scale), and the relative floor of an example is its loudest mel
bin over all its channels: a quiet channel of a hard-panned mix is judged against the loud one,
as a listener hears it, not blown up to its own peak.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from sscodec.nn.audio import mel_spectrogram

DiscOutputs = Sequence[tuple[jax.Array, Sequence[jax.Array]]]


def _safe_norm(x: jax.Array, axis: int = -1) -> jax.Array:
    """L2 norm with an exact 0 and a zero (not NaN) gradient where x is all zeros."""
    sq = jnp.sum(x * x, axis=axis)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


MEL_L1 = ("sum", "mean")
LOG_FLOORS = ("relative", "absolute")
MEL_LOSSES = ("paper", "log_l1")


def multiscale_mel_loss(target: jax.Array, estimate: jax.Array, sample_rate: int,
                        windows: Sequence[int] = (64, 128, 256, 512, 1024, 2048),
                        n_mels: int | Sequence[int] = 64, log_epsilon: float = 1e-3, mel_l1: str = "sum",
                        log_floor: str = "relative", form: str = "paper",
                        log_l1_weight: float = 0.0, log_l1_floor_db: float = 45.0,
                        channels_first: bool = False) -> jax.Array:
    """form "paper": sum_s mean_t [ ||S_s(x) - S_s(x_hat)||_1
                                     + sqrt(s/2) ||log(S_s(x) + e) - log(S_s(x_hat) + e)||_2 ];
    form "log_l1": sum_s mean_{t,f} |log10(S_s(x) + e) - log10(S_s(x_hat) + e)| (`mel_l1` unused),
    with e = log_epsilon (absolute) or log_epsilon * max S_s(x) per example (relative), and
    n_mels bins at every window (an int) or per window (a sequence as long as `windows`).
    log_l1_weight > 0 (paper form only) adds log_l1_weight x the log_l1 form, with its floor
    log_l1_floor_db below max S_s(x) per example, computed on the same mel spectrograms.
    channels_first: the inputs are [B, C, T] and each example's floors come from its loudest bin
    over all C channels (see the module docstring)."""
    if mel_l1 not in MEL_L1 or log_floor not in LOG_FLOORS or form not in MEL_LOSSES:
        raise ValueError(f"mel_l1 must be one of {MEL_L1}, log_floor one of {LOG_FLOORS} and "
                         f"form one of {MEL_LOSSES}")
    if log_l1_weight and form != "paper":
        raise ValueError("log_l1_weight adds a log_l1 term to the paper form; use form='paper'")
    bins = mel_bins_per_window(windows, n_mels)
    total = jnp.zeros((), jnp.float32)
    target, estimate = target.astype(jnp.float32), estimate.astype(jnp.float32)
    for s, n in zip(windows, bins):
        a = mel_spectrogram(target, sample_rate, s, n)
        b = mel_spectrogram(estimate, sample_rate, s, n)
        axes = (-3, -2, -1) if channels_first else (-2, -1)
        peak = jax.lax.stop_gradient(jnp.max(a, axis=axes, keepdims=True))
        # 1e-7: an all-silent target
        eps = log_epsilon * peak + 1e-7 if log_floor == "relative" else log_epsilon
        if form == "log_l1":
            total = total + _log10_l1(a, b, eps)
            continue
        diff = jnp.abs(a - b)
        l1 = jnp.mean(jnp.sum(diff, -1) if mel_l1 == "sum" else diff)
        log_l2 = jnp.mean(_safe_norm(jnp.log(a + eps) - jnp.log(b + eps)))
        total = total + l1 + jnp.sqrt(s / 2.0) * log_l2
        if log_l1_weight:
            floor = peak * 10.0 ** (-log_l1_floor_db / 20.0) + 1e-7
            total = total + log_l1_weight * _log10_l1(a, b, floor)
    return total


def _log10_l1(a: jax.Array, b: jax.Array, floor) -> jax.Array:
    """Mean |log10(a + floor) - log10(b + floor)|: DAC's log-mel L1 at one scale."""
    return jnp.mean(jnp.abs(jnp.log10(a + floor) - jnp.log10(b + floor)))


def preemphasize(audio: jax.Array, coefficient: float) -> jax.Array:
    """y[n] = x[n] - coefficient x[n - 1] (x[-1] = 0) along the last axis: the speech codecs'
    first-order high-pass, here applied to both sides of the mel loss (`loss.mel_preemphasis`)."""
    return audio - coefficient * jnp.pad(audio[..., :-1], [(0, 0)] * (audio.ndim - 1) + [(1, 0)])


def waveform_l1(target: jax.Array, estimate: jax.Array) -> jax.Array:
    """Mean |x - x_hat| over samples: EnCodec's time-domain term (`loss.waveform_l1_weight`), the
    only reconstruction term that sees phase (a polarity flip costs the mel loss nothing)."""
    return jnp.mean(jnp.abs(target.astype(jnp.float32) - estimate.astype(jnp.float32)))


def mel_bins_per_window(windows: Sequence[int], n_mels: int | Sequence[int]) -> tuple[int, ...]:
    """One mel-bin count per window: an int repeated, or a sequence checked to match."""
    if isinstance(n_mels, int):
        return (n_mels,) * len(windows)
    bins = tuple(int(n) for n in n_mels)
    if len(bins) != len(windows):
        raise ValueError(f"{len(bins)} mel-bin counts for {len(windows)} windows")
    return bins


def hinge_discriminator_loss(real: DiscOutputs, fake: DiscOutputs) -> jax.Array:
    """1/K sum_k [ mean_t max(0, 1 - D_k(x)) + mean_t max(0, 1 + D_k(G(x))) ]."""
    terms = [jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
             for (r, _), (f, _) in zip(real, fake)]
    return sum(terms) / len(terms)


def hinge_generator_loss(fake: DiscOutputs) -> jax.Array:
    """1/K sum_k mean_t max(0, 1 - D_k(G(x)))."""
    terms = [jnp.mean(jax.nn.relu(1.0 - f)) for f, _ in fake]
    return sum(terms) / len(terms)


def feature_matching_loss(real: DiscOutputs, fake: DiscOutputs) -> jax.Array:
    """Mean over all discriminators k and layers l of mean |D_k^l(x) - D_k^l(G(x))|."""
    terms = [jnp.mean(jnp.abs(jax.lax.stop_gradient(fr) - ff))
             for (_, feats_r), (_, feats_f) in zip(real, fake)
             for fr, ff in zip(feats_r, feats_f)]
    return sum(terms) / len(terms)
