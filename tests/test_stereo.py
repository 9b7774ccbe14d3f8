"""Multi-channel audio end to end (`model.channels`): data, model, bitstream, codec, streaming,
compress / decompress, export and evaluation; mono stays as it was."""

import os

import numpy as np
import pytest
import soundfile as sf
from flax import linen as nn

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


# ----------------------------------------------------------------------------- model and losses


@pytest.fixture(scope="module")
def stereo_config():
    from sscodec.config import load_config
    return load_config(os.path.join(ROOT, "experiments", "tiny_stereo.py"))


def test_the_48khz_stereo_config_has_encodecs_bitrates():
    from sscodec.config import bitrate_table, frame_rate, load_config
    config = load_config(os.path.join(ROOT, "experiments", "soundstream_48khz_stereo.py"))
    assert config.model.channels == 2 and frame_rate(config) == 150.0
    rates = dict(bitrate_table(config))
    assert [rates[n] for n in (2, 4, 8, 16)] == [3.0, 6.0, 12.0, 24.0]
    assert config.quantizer.codebook_size == 1024


def test_the_generator_codes_the_channels_jointly(stereo_config):
    import jax
    from sscodec.nn.soundstream import build_generator

    generator = build_generator(stereo_config)
    x = np.zeros((2, 1000, 2), np.float32)  # not whole frames: padded and trimmed back
    variables = nn.unbox(generator.init(jax.random.key(0), x))
    out, aux = generator.apply(variables, x)
    assert out.shape == (2, 1000, 2)
    params = variables["params"]
    assert params["encoder"]["conv_in"]["conv"]["kernel"].shape[1] == 2  # both channels in
    assert params["decoder"]["conv_out"]["conv"]["kernel"].shape[2] == 2  # both channels out
    codes = generator.apply(variables, x, method="encode")
    assert codes.shape == (2, 4, 4)  # one set of codes for both channels
    with pytest.raises(ValueError, match=r"2-channel model takes audio \[B, T, 2\]"):
        generator.apply(variables, x[..., 0], method="encode")


@pytest.mark.parametrize("decoder", ["seanet", "istft"])
def test_the_decoder_gives_every_channel(stereo_config, decoder):
    import jax
    from sscodec.nn.soundstream import build_generator

    config = stereo_config.copy_and_resolve_references()
    config.model.decoder = decoder
    generator = build_generator(config)
    variables = nn.unbox(generator.init(jax.random.key(0), np.zeros((1, 640, 2), np.float32)))
    emb = np.random.default_rng(0).normal(size=(1, 3, 32)).astype(np.float32)
    out = np.asarray(generator.apply(variables, emb, method="synthesize"))
    assert out.shape == (1, 960, 2) and not np.allclose(out[..., 0], out[..., 1])


def test_the_mel_loss_is_per_channel_with_a_joint_floor():
    from sscodec.losses import multiscale_mel_loss

    x = two_signals(24000, 0.5).T[None]  # [1, 2, T]
    y = x * np.float32(0.5)
    windows = (64, 256, 1024)

    def loss(a, b, **kw):
        return float(multiscale_mel_loss(a, b, 24000, windows, **kw))

    per_channel = [loss(x[:, c], y[:, c]) for c in range(2)]  # each channel alone, own floor
    assert loss(x, x, channels_first=True) == 0.0
    assert loss(x[:, ::-1], x, channels_first=True) > 0  # swapped channels cost
    # The channels' peaks differ, and the joint floor is the louder one's: not the mean of the
    # channels' own losses...
    assert loss(x, y, channels_first=True) != pytest.approx(np.mean(per_channel))
    # ...which it is when both channels carry one signal (same floors): then it is that mono loss.
    same = np.concatenate([x[:, :1], x[:, :1]], axis=1)
    np.testing.assert_allclose(loss(same, same * np.float32(0.5), channels_first=True),
                               per_channel[0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["soundstream", "ms_stft", "mpd_mrd"])
def test_every_discriminator_sees_the_channels_jointly(stereo_config, kind):
    import jax
    from sscodec.nn.discriminators import build_discriminators

    config = stereo_config.copy_and_resolve_references()
    config.discriminator.kind = kind
    config.discriminator.mpd_channels = config.discriminator.mrd_channels = 4
    config.discriminator.mpd_max_channels = 16
    disc = build_discriminators(config)
    x = two_signals(48000, 0.1)[None]  # [1, T, 2]
    params = nn.unbox(disc.init(jax.random.key(0), x))
    outputs = disc.apply(params, x)
    swapped = disc.apply(params, x[..., ::-1])
    first_inputs = {leaf.shape[-2] for path, leaf in jax.tree_util.tree_leaves_with_path(params)
                    if "kernel" in jax.tree_util.keystr(path)}
    assert first_inputs & {2, 4}  # first convs take 2 waveform channels or 4 STFT planes
    for (logits, feats), (other, _) in zip(outputs, swapped):
        assert np.isfinite(np.asarray(logits)).all() and len(feats) >= 3
        assert not np.allclose(logits, other)  # left and right are not interchangeable to it
