"""Multi-channel audio end to end (`model.channels`): data, model, bitstream, codec, streaming,
compress / decompress, export and evaluation; mono stays as it was."""

import os

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.audio_io import AudioReadError, EMBEDDED_DIR, read_audio, to_channels
from data_pipelines.sources import open_source
from data_pipelines.transforms import ExampleMaker
from sscodec.config import ConfigError, apply_overrides, default_config, validate
from tests.conftest import ROOT

SPEECH = os.path.join(EMBEDDED_DIR, "speech")
MUSIC = os.path.join(EMBEDDED_DIR, "music")


def two_signals(rate: int, seconds: float) -> np.ndarray:
    """[T, 2]: real speech on the left, real music on the right (two unrelated signals)."""
    n = int(rate * seconds)
    left = read_audio(os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0]), rate)[:n]
    right = read_audio(os.path.join(MUSIC, sorted(os.listdir(MUSIC))[0]), rate)[:n]
    x = np.stack([left, right], axis=1)
    return (0.5 * x / np.abs(x).max(axis=0)).astype(np.float32)


# ----------------------------------------------------------------------------- config and data


@pytest.mark.parametrize("value", [0, 9, -2])
def test_a_bad_channel_count_names_the_key(value):
    config = default_config()
    config.model.channels = value
    with pytest.raises(ConfigError, match=r"config\.model\.channels: must be an integer in 1\.\.8"):
        validate(config)


def test_channel_mapping():
    mono, stereo = np.arange(4.0), np.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(to_channels(stereo, 1), stereo.mean(axis=1))  # mixed down
    np.testing.assert_array_equal(to_channels(mono, 2), np.stack([mono, mono], 1))  # duplicated
    np.testing.assert_array_equal(to_channels(mono[:, None], 2), np.stack([mono, mono], 1))
    assert to_channels(stereo, 2) is stereo
    with pytest.raises(AudioReadError, match="6 channels, the model takes 2"):
        to_channels(np.zeros((4, 6)), 2)


def test_sources_keep_channels_and_duplicate_mono_files(tmp_path):
    x = two_signals(16000, 2.0)
    sf.write(tmp_path / "stereo.wav", x, 16000)
    sf.write(tmp_path / "mono.wav", x[:, 0], 16000)
    sf.write(tmp_path / "surround.wav", np.zeros((16000, 6), np.float32), 16000)
    source = open_source(str(tmp_path))
    names = [os.path.basename(f.path) for f in source.files]
    stereo = source.clip(names.index("stereo.wav"), 10.0, 24000, channels=2)
    assert stereo.shape == (48000, 2) and stereo.dtype == np.float32
    # resampled per channel: left is the speech, right the music
    reference = read_audio(str(tmp_path / "stereo.wav"), 24000, channels=2)
    np.testing.assert_array_equal(stereo, reference)
    assert abs(np.corrcoef(stereo[:, 0], stereo[:, 1])[0, 1]) < 0.3
    mono = source.clip(names.index("mono.wav"), 10.0, 24000, channels=2)
    np.testing.assert_array_equal(mono[:, 0], mono[:, 1])
    assert source.clip(names.index("stereo.wav"), 10.0, 24000).shape == (48000,)  # mono model
    crop = source.crop(names.index("stereo.wav"), 4800, 24000, np.random.default_rng(0), 2)
    assert crop.shape == (4800, 2)
    with pytest.raises(AudioReadError, match="surround.wav: 6 channels"):
        source.clip(names.index("surround.wav"), 1.0, 24000, channels=2)


def test_stereo_examples_keep_the_image_and_mono_examples_are_unchanged():
    source = open_source("embedded", kinds=("speech",))
    noise = open_source("embedded", kinds=("noise",))
    stereo = ExampleMaker([source], 9600, 24000, noise, noisy_prob=1.0, denoise_prob=1.0,
                          channels=2)
    mono = ExampleMaker([source], 9600, 24000, noise, noisy_prob=1.0, denoise_prob=1.0)
    a = stereo((0, 3), np.random.default_rng(5))
    b = mono((0, 3), np.random.default_rng(5))
    assert a["input"].shape == a["target"].shape == (9600, 2)
    assert b["input"].shape == (9600,)
    # the embedded corpus is mono: both channels carry the file, noise included
    np.testing.assert_array_equal(a["input"][:, 0], a["input"][:, 1])
    np.testing.assert_allclose(a["input"][:, 0], b["input"], atol=1e-6)
    assert a["denoise"] == 1 and not np.array_equal(a["input"], a["target"])


def test_pipeline_batches_carry_the_channels():
    from data_pipelines.pipeline import make_training_data
    import grain

    config = default_config()
    apply_overrides(config, ["model.channels=2", "data.crop_frames=10", "data.batch_size=2"])
    validate(config)
    data = make_training_data(config, num_steps=1, shard=grain.sharding.ShardOptions(0, 1))
    batch = data.dataset[0]
    assert batch["input"].shape == batch["target"].shape == (2, 3200, 2)
