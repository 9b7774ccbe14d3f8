"""Config loading, overrides, validation errors and the bitrate table."""

import glob
import os

import pytest

from sscodec.config import (ConfigError, bitrate_table, frame_rate, kbps_for_num_quantizers,
                            load_config, num_quantizers_for_kbps, samples_per_frame, validate)
from tests.conftest import ROOT

EXPERIMENTS = sorted(glob.glob(os.path.join(ROOT, "experiments", "*.py")))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=os.path.basename)
def test_every_experiment_loads_and_validates(path):
    config = load_config(path)
    assert config.num_steps > 0


def test_paper_bitrates(paper_config):
    assert samples_per_frame(paper_config) == 320
    assert frame_rate(paper_config) == 75.0
    # 6 kbps = 8 quantizers x 10 bits at 75 Hz
    assert kbps_for_num_quantizers(paper_config, 8) == pytest.approx(6.0)
    assert num_quantizers_for_kbps(paper_config, 6) == 8
    assert [n for n, k in bitrate_table(paper_config) if k in (3, 6, 9, 12, 15, 18)] == [
        4, 8, 12, 16, 20, 24]
    with pytest.raises(ValueError, match="not available"):
        num_quantizers_for_kbps(paper_config, 5)
    with pytest.raises(ConfigError):
        kbps_for_num_quantizers(paper_config, 25)


@pytest.mark.parametrize("kbps,n_q", [(3, 4), (6, 8), (12, 16)])
def test_bitrate_specific_variants(kbps, n_q):
    config = load_config(os.path.join(ROOT, "experiments", f"soundstream_24khz_{kbps}kbps.py"))
    assert config.quantizer.num_quantizers == n_q and not config.quantizer.dropout
    assert kbps_for_num_quantizers(config, n_q) == pytest.approx(kbps)


def test_overrides_apply_with_types():
    config = load_config(os.path.join(ROOT, "experiments", "tiny.py"),
                         ["--config.num_steps=7", "optim.generator_lr=1e-3",
                          "--config.model.strides=(4,4,5,4)", "quantizer.dropout=false"])
    assert config.num_steps == 7 and config.optim.generator_lr == 1e-3
    assert tuple(config.model.strides) == (4, 4, 5, 4) and config.quantizer.dropout is False


def test_a_gan_free_recipe_stays_gan_free_when_num_steps_grows():
    # A run resumed with a larger --config.num_steps once switched the GAN on by surprise, because
    # the recipe had set adversarial_start_step = num_steps inside get_config().
    path = os.path.join(ROOT, "experiments", "speech_cpu_24khz.py")
    config = load_config(path, ["--config.num_steps=100000"])
    assert config.loss.adversarial_start_step >= config.num_steps


@pytest.mark.parametrize("override,key", [
    ("--config.quantizer.num_quantizerz=3", "quantizer.num_quantizerz"),
    ("--config.modle.strides=(2,2)", "modle"),
    ("--config.num_steps=abc", "num_steps"),
    ("--config.quantizer.codebook_size=1000", "quantizer.codebook_size"),
    ("--config.model.film=sideways", "model.film"),
    ("--config.data.crop_frames=1", "data.crop_frames"),
    ("--config.train.sample_depths=(1,5)", "train.sample_depths"),
    ("--config.train.init_from_weights=('gen_params','optimizer')", "train.init_from_weights"),
    ("--config.loss.mel_bins=(10,20)", "loss.mel_bins"),
    ("--config.loss.mel_bins=0", "loss.mel_bins"),
    ("--config.loss.log_l1_weight=-1.0", "loss.log_l1_weight"),
    ("--config.loss.waveform_l1_weight=-1.0", "loss.waveform_l1_weight"),
    ("--config.quantizer.dropout_share=1.5", "quantizer.dropout_share"),
    ("--config.model.decoder=wavenet", "model.decoder"),
    ("--config.model.istft_overlap=3", "model.istft_overlap"),
    ("--config.loss.mel_preemphasis=1.0", "loss.mel_preemphasis"),
])
def test_bad_config_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(os.path.join(ROOT, "experiments", "tiny.py"), [override])
    assert err.value.key == key and f"config.{key}" in str(err.value)


def test_unknown_key_in_a_config_file(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("from sscodec.config import default_config\n"
                    "def get_config():\n    c = default_config()\n    c.model.chanels = 3\n"
                    "    return c\n")
    with pytest.raises(AttributeError, match="chanels"):
        load_config(str(path))


def test_validate_catches_cross_field_errors(tiny_config):
    config = load_config(os.path.join(ROOT, "experiments", "tiny.py"))
    with config.unlocked():
        config.model.strides = (0, 4)
    with pytest.raises(ConfigError, match="model.strides"):
        validate(config)
