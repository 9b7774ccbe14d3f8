"""Losses: zero on identical inputs, known hinge values, mel filterbank coverage."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.nn import losses
from sscodec.nn.audio import mel_fft_size, mel_filterbank, stft


@pytest.fixture(scope="module")
def audio():
    x = jax.random.normal(jax.random.key(0), (2, 6400)) * 0.1
    return x, x + 0.05 * jax.random.normal(jax.random.key(1), x.shape)


@pytest.mark.parametrize("window", [64, 128, 256, 512, 1024, 2048])
def test_no_empty_mel_filters(window):
    n_fft = mel_fft_size(24000, window, 64)
    assert n_fft >= window
    fb = mel_filterbank(24000, n_fft, 64)
    assert (fb.max(axis=0) > 0).all()
    assert n_fft == (512 if window < 512 else window)  # the documented rule at 24 kHz / 64 bins


@pytest.mark.slow
def test_mel_loss_zero_on_identical_and_positive_otherwise(audio):
    x, y = audio
    same = losses.multiscale_mel_loss(x, x, 24000)
    assert float(same) == 0.0
    assert float(losses.multiscale_mel_loss(x, y, 24000)) > 0.1
    g = jax.grad(lambda y: losses.multiscale_mel_loss(x, y, 24000))(x)
    assert np.isfinite(np.asarray(g)).all()  # no NaN gradient at the optimum or on silence
    silence = jnp.zeros_like(x)
    g = jax.grad(lambda y: losses.multiscale_mel_loss(silence, y, 24000))(silence)
    assert np.isfinite(np.asarray(g)).all()


def test_mel_loss_grows_with_distortion(audio):
    x, _ = audio
    noise = jax.random.normal(jax.random.key(2), x.shape)
    values = [float(losses.multiscale_mel_loss(x, x + a * noise, 24000)) for a in (0.01, 0.05, 0.2)]
    assert values[0] < values[1] < values[2]


def _harmonics(f0: float, offset: float = 0.0, lo: float = 1000.0, hi: float = 4000.0,
               sample_rate: int = 24000) -> jax.Array:
    t = np.arange(sample_rate) / sample_rate
    return jnp.asarray(sum(np.sin(2 * np.pi * (f + offset) * t + k)
                           for k, f in enumerate(np.arange(f0, hi, f0)) if f >= lo) * 0.05)[None]


@pytest.mark.slow
def test_per_window_mel_bins_see_a_male_voices_harmonics():
    """Harmonics of 110 Hz between 1 and 4 kHz moved by half their spacing (the right envelope,
    the wrong fine structure: a noise-like excitation's fault) against a 1 dB level error. The
    paper's 64 bins barely tell them apart; DAC's window / 6.4 bins make the fine-structure error
    the far larger one (measured: ratio 1.2 against 11.7)."""
    target, wrong = _harmonics(110.0), _harmonics(110.0, offset=55.0)
    quieter = target * 10 ** (-1 / 20)

    def ratio(bins):
        return float(losses.multiscale_mel_loss(target, wrong, 24000, n_mels=bins)
                     / losses.multiscale_mel_loss(target, quieter, 24000, n_mels=bins))

    paper, dac = ratio(64), ratio((10, 20, 40, 80, 160, 320))
    assert paper < 2.0 and dac > 5.0 * paper


def test_per_window_mel_bins_are_per_scale_losses_summed(audio):
    x, y = audio
    windows, bins = (64, 256, 1024), (10, 40, 160)
    whole = losses.multiscale_mel_loss(x, y, 24000, windows, bins)
    parts = sum(losses.multiscale_mel_loss(x, y, 24000, (w,), n) for w, n in zip(windows, bins))
    np.testing.assert_allclose(float(whole), float(parts), rtol=1e-5)
    with pytest.raises(ValueError, match="2 mel-bin counts for 3 windows"):
        losses.multiscale_mel_loss(x, y, 24000, windows, (10, 40))


def test_added_log_l1_term_ignores_what_lies_below_its_floor():
    """The mix (paper form + weight x log_l1 floored 45 dB down): a tone 70 dB below the target's
    peak is under the floor and barely moves the added term; the same tone 25 dB down does."""
    t = np.arange(12000) / 24000
    target = jnp.asarray(0.3 * np.sin(2 * np.pi * 220 * t), jnp.float32)[None]
    tone = jnp.asarray(np.sin(2 * np.pi * 3000 * t), jnp.float32)[None] * 0.3

    def added(estimate):  # the log_l1 term alone: the mix minus the paper form
        mix = losses.multiscale_mel_loss(target, estimate, 24000, log_l1_weight=1.0)
        return float(mix - losses.multiscale_mel_loss(target, estimate, 24000))

    assert added(target) == pytest.approx(0.0, abs=1e-6)
    below, above = added(target + tone * 10 ** (-70 / 20)), added(target + tone * 10 ** (-25 / 20))
    assert below < 0.05 * above and above > 0.05  # measured: 0.008 and 0.39
    with pytest.raises(ValueError, match="log_l1_weight"):
        losses.multiscale_mel_loss(target, target, 24000, form="log_l1", log_l1_weight=1.0)


def test_waveform_term_is_the_only_one_that_sees_polarity(audio):
    x, _ = audio
    assert float(losses.multiscale_mel_loss(x, -x, 24000)) == pytest.approx(0.0, abs=1e-3)
    expected = 2.0 * float(jnp.mean(jnp.abs(x)))
    assert float(losses.waveform_l1(x, -x)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.waveform_l1(x, x)) == 0.0


@pytest.mark.slow
def test_preemphasis_tilts_the_mel_loss_towards_high_bands():
    """x[n] - a x[n-1]; with it, an error of the same size at 3 kHz weighs more against one at
    200 Hz than without (the tilt loss.mel_preemphasis is for)."""
    x = jnp.asarray([[1.0, 2.0, -1.0, 0.5]])
    np.testing.assert_allclose(losses.preemphasize(x, 0.9), [[1.0, 1.1, -2.8, 1.4]], rtol=1e-6)
    t = jnp.arange(9600) / 24000.0
    speech_like = jnp.sin(2 * jnp.pi * 150 * t)[None] * 0.5
    low = speech_like + 0.01 * jnp.sin(2 * jnp.pi * 200 * t)[None]
    high = speech_like + 0.01 * jnp.sin(2 * jnp.pi * 3000 * t)[None]

    def ratio(a):
        def loss(y):
            y0 = losses.preemphasize(speech_like, a) if a else speech_like
            return float(losses.multiscale_mel_loss(y0, losses.preemphasize(y, a) if a else y,
                                                    24000))
        return loss(high) / loss(low)

    assert ratio(0.97) > 2.0 * ratio(0.0)


def test_hinge_values():
    real = [(jnp.array([[2.0, 0.5]]), []), (jnp.array([[-1.0]]), [])]
    fake = [(jnp.array([[-2.0, 0.5]]), []), (jnp.array([[1.0]]), [])]
    # D: disc 0: mean(relu(1-[2,.5]))=0.25 + mean(relu(1+[-2,.5]))=0.75 -> 1.0; disc 1: 2 + 2 = 4
    assert float(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(2.5)
    # G: disc 0: mean(relu(1-[-2,.5])) = (3 + .5)/2 = 1.75; disc 1: relu(1-1) = 0
    assert float(losses.hinge_generator_loss(fake)) == pytest.approx(0.875)


def test_feature_matching():
    feats = [jnp.ones((1, 4, 2)), jnp.zeros((1, 3))]
    out = [(jnp.zeros((1, 1)), feats)]
    assert float(losses.feature_matching_loss(out, out)) == 0.0
    other = [(jnp.zeros((1, 1)), [jnp.full((1, 4, 2), 3.0), jnp.ones((1, 3))])]
    assert float(losses.feature_matching_loss(out, other)) == pytest.approx((2.0 + 1.0) / 2)


def test_stft_frames_and_sine_peak():
    sr, f = 24000, 1500.0
    t = np.arange(4096) / sr
    spec = stft(jnp.asarray(np.sin(2 * np.pi * f * t))[None], 1024, 256)
    assert spec.shape == (1, 4096 // 256, 513)
    assert int(jnp.abs(spec[0, 8]).argmax()) == round(f / (sr / 1024))
