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
from tests.test_streaming import stream
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
    from sscodec.nn.losses import multiscale_mel_loss

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


@pytest.mark.slow
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


# ----------------------------------------------------------------------------- bitstream


def test_the_header_carries_the_channel_count_and_mono_keeps_version_1():
    import dataclasses
    import struct

    from sscodec.codec import bitstream
    from sscodec.codec.bitstream import BitstreamError, Header

    fields = dict(model_hash=bytes(range(16)), sample_rate=48000, frame_size=320,
                  num_quantizers=2, bits_per_code=10, num_frames=3, original_length=900,
                  original_rate=44100)
    codes = np.arange(6).reshape(3, 2)
    stereo = bitstream.write(codes, Header(**fields, channels=2))
    header, got = bitstream.read(stereo)
    assert (header.version, header.channels) == (2, 2) and header.size == bitstream.HEADER_SIZE + 1
    np.testing.assert_array_equal(got, codes)
    assert bitstream.read(bitstream.truncate(stereo, 1))[0].channels == 2
    # A mono stream is written as before: version 1, the same bytes as the old 47-byte layout.
    mono = bitstream.write(codes, Header(**fields))
    old = struct.pack("<4sHH16sIHBBIQI", b"SSCD", 1, 0, fields["model_hash"], 48000, 320, 2, 10,
                      3, 900, 44100)
    assert mono.startswith(old + struct.pack("<I", __import__("zlib").crc32(old)))
    assert bitstream.read(mono)[0] == Header(**fields, version=1, channels=1)
    for wrong in (Header(**fields, channels=2, version=1),
                  dataclasses.replace(Header(**fields), channels=2)):  # replace keeps version 1
        with pytest.raises(ValueError, match="version 1 holds mono streams only, not 2"):
            bitstream.write(codes, wrong)
        with pytest.raises(ValueError, match="version 1 holds mono streams only, not 2"):
            wrong.pack()
    with pytest.raises(BitstreamError, match="channels 2, the model's is 1"):
        bitstream.check_model(header, 48000, 320, 10, 2, channels=1)
    bitstream.check_model(header, 48000, 320, 10, 2, channels=2)


# ----------------------------------------------------------------------------- codec


@pytest.fixture(scope="module")
def stereo_run(tmp_path_factory):
    """tiny_stereo trained 2 steps on the embedded corpus (mono files in both channels), with
    validation and samples at step 2, then exported with entropy tables: a real stereo bundle."""
    from tests.conftest import sscodec

    root = tmp_path_factory.mktemp("stereo")
    sscodec("train", "--config", os.path.join(ROOT, "experiments", "tiny_stereo.py"),
            "--workdir", str(root / "run"), "--config.num_steps=2",
            "--config.train.sample_every=2", "--config.train.eval_every=2",
            "--config.train.eval_clips=2", "--config.train.eval_metrics=('mel',)",
            "--config.train.progress=false")
    sscodec("export", "--workdir", str(root / "run"), "--out", str(root / "bundle"),
            "--entropy-seconds", "10")
    return root


@pytest.fixture(scope="module")
def stereo_bundle(stereo_run):
    return str(stereo_run / "bundle")


@pytest.mark.slow
def test_a_stereo_run_validates_and_writes_stereo_samples(stereo_run):
    import json

    rows = [json.loads(line) for line in open(stereo_run / "run" / "metrics.jsonl")]
    evals = [r for r in rows if "eval/mel@0.9kbps" in r]
    assert evals and evals[-1]["step"] == 2 and evals[-1]["eval/failed_scores"] == 0
    samples = sorted((stereo_run / "run" / "samples").glob("*/*.wav"))
    assert samples and all(sf.info(str(p)).channels == 2 for p in samples)
    assert json.load(open(stereo_run / "run" / "config.json"))["model"]["channels"] == 2


@pytest.fixture(scope="module")
def stereo_codec(stereo_bundle):
    from sscodec import Codec
    return Codec.load(stereo_bundle)


@pytest.fixture(scope="module")
def music(stereo_codec):
    """3.1 s of two unrelated signals (speech left, music right) at the codec's rate."""
    rate = stereo_codec.sample_rate
    return two_signals(rate, 3.2)[: 3 * rate + 2345]


def test_the_bundle_codes_two_channels(stereo_bundle, stereo_codec, music):
    import json

    manifest = json.load(open(os.path.join(stereo_bundle, "manifest.json")))
    assert manifest["channels"] == 2 and manifest["format_version"] == 4
    assert stereo_codec.channels == 2 and stereo_codec.sample_rate == 48000
    codes = stereo_codec.encode(music, 48000)
    frames = -(-len(music) // 320)
    assert codes.shape == (frames, 4)
    audio = stereo_codec.decode(codes)
    assert audio.shape == (frames * 320, 2) and audio.dtype == np.float32
    assert not np.allclose(audio[:, 0], audio[:, 1])
    # mono input is duplicated into both channels; other channel counts are refused
    mono = stereo_codec.encode(music[:, 0], 48000)
    np.testing.assert_array_equal(mono, stereo_codec.encode(music[:, [0, 0]], 48000))
    with pytest.raises(ValueError, match="codes 2 channels .* got audio of 3 channels"):
        stereo_codec.encode(np.zeros((4800, 3), np.float32), 48000)
    # another rate: resampled per channel
    assert stereo_codec.encode(two_signals(44100, 1.0), 44100).shape == (150, 4)


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [[1], [320], [5000], [1, 700, 4099, 31]])
def test_streaming_equals_offline_in_stereo(stereo_codec, music, sizes):
    audio = music if sizes != [1] else music[:2000]
    offline = stereo_codec.encode(audio, stereo_codec.sample_rate)
    codes, out = stream(stereo_codec, audio, sizes)
    np.testing.assert_array_equal(codes, offline)  # bit for bit
    assert out.shape == (len(offline) * 320, 2)
    np.testing.assert_allclose(out, stereo_codec.decode(offline), rtol=0, atol=1e-5)


def test_stereo_streaming_latency_is_one_frame(stereo_codec, music):
    encoder, decoder = stereo_codec.stream_encoder(), stereo_codec.stream_decoder()
    assert encoder.push(music[:319]).shape == (0, 4)
    first = encoder.push(music[319:320])
    assert first.shape == (1, 4) and decoder.push(first).shape == (320, 2)
    assert decoder.push(np.zeros((0, 4), np.int32)).shape == (0, 2)


def test_a_stereo_file_round_trips_through_ssc(stereo_bundle, stereo_codec, tmp_path):
    from sscodec.codec import bitstream
    from tests.conftest import sscodec

    x = two_signals(44100, 2.0)
    sf.write(tmp_path / "in.wav", x, 44100)
    out = sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "x.ssc"),
                  "--model", stereo_bundle)
    assert b"compressed 2.00 s of 2 channels at 4 quantizers" in out.stderr
    data = (tmp_path / "x.ssc").read_bytes()
    header = bitstream.read_header(data)
    assert (header.channels, header.version, header.original_length) == (2, 2, len(x))
    for name in ("out.flac", "out.wav"):
        sscodec("decompress", str(tmp_path / "x.ssc"), str(tmp_path / name),
                "--model", stereo_bundle)
        info = sf.info(str(tmp_path / name))
        assert (info.channels, info.samplerate, info.frames) == (2, 44100, len(x))
        assert info.format == name.split(".")[1].upper()
    y, _ = sf.read(str(tmp_path / "out.flac"), dtype="float32")
    # the file holds the model's own decoding of each channel, in order
    direct = stereo_codec.decode(stereo_codec.encode(x, 44100))
    import soxr
    direct = soxr.resample(direct, 48000, 44100)[: len(x)]
    for c in range(2):
        assert np.corrcoef(y[:, c], direct[:, c])[0, 1] > 0.99
    assert np.abs(np.corrcoef(y[:, 0], y[:, 1])[0, 1]) < 0.99  # two channels, not one copied
    # a mono file is coded into both channels
    sf.write(tmp_path / "mono.wav", x[:, 0], 44100)
    sscodec("compress", str(tmp_path / "mono.wav"), str(tmp_path / "m.ssc"), "--model",
            stereo_bundle)
    assert bitstream.read_header((tmp_path / "m.ssc").read_bytes()).channels == 2


def test_mono_bundles_and_streams_from_before_still_decode(stereo_codec, tmp_path):
    """The shipped model (bundle format 3, no "channels" in its manifest) and a version 1 .ssc."""
    from sscodec import Codec
    from sscodec.codec import bitstream
    from sscodec.codec.codec_io import decode_from_stream, encode_to_stream

    codec = Codec.load("speech_cpu_24khz")
    assert "channels" not in codec.manifest and codec.channels == 1
    speech = two_signals(24000, 1.0)[:, 0]
    header, data = encode_to_stream(codec, speech, 24000, kbps=3)
    assert header.version == 1 and data[4:6] == b"\x01\x00"
    _, audio = decode_from_stream(codec, data)
    assert audio.ndim == 1
    # stereo input to a mono model is mixed down, as before
    stereo = np.stack([speech, 0.5 * speech], 1)
    np.testing.assert_array_equal(codec.encode(stereo, 24000), codec.encode(0.75 * speech, 24000))
    with pytest.raises(bitstream.BitstreamError, match="another model"):
        decode_from_stream(stereo_codec, data)


def test_a_bundle_that_lies_about_its_channels_is_refused(stereo_bundle, tmp_path):
    import json
    import shutil

    from sscodec.codec import BundleError, Codec

    lying = tmp_path / "lying"
    shutil.copytree(stereo_bundle, lying)
    manifest = json.load(open(lying / "manifest.json"))
    manifest["channels"] = 1
    json.dump(manifest, open(lying / "manifest.json", "w"))
    with pytest.raises(BundleError, match="does not take audio of 320 samples per frame"):
        Codec.load(str(lying))
    manifest["channels"] = 0
    json.dump(manifest, open(lying / "manifest.json", "w"))
    with pytest.raises(BundleError, match="channels must be an integer in 1..255"):
        Codec.load(str(lying))


# ----------------------------------------------------------------------------- evaluation


def test_stereo_scores_per_channel_and_on_mid_and_side():
    from sscodec.quality import metrics

    x = two_signals(24000, 1.0)
    names = ("si_sdr", "mel_distance")
    same = metrics.score_channels(x, x, 24000, speech=False, metrics=names)
    assert same["si_sdr"] == same["si_sdr_left"] == same["si_sdr_side"] == 100.0
    assert same["mel_distance_mid"] == 0.0
    swapped = metrics.score_channels(x, x[:, ::-1], 24000, speech=False, metrics=names)
    assert swapped["si_sdr_left"] < 0 and swapped["si_sdr_right"] < 0
    # L + R is unchanged by a swap, and L - R only changes sign (SI-SDR ignores polarity)
    assert swapped["si_sdr_mid"] == swapped["si_sdr_side"] == 100.0
    mono = metrics.score_channels(x, x.mean(axis=1), 24000, speech=False, metrics=names)
    assert mono["si_sdr_mid"] == pytest.approx(100.0, abs=1e-3)
    assert mono["si_sdr_side"] == -100.0  # a silent side: no image at all
    assert mono["si_sdr"] == pytest.approx((mono["si_sdr_left"] + mono["si_sdr_right"]) / 2)
    assert metrics.view_names(["pesq"], 2) == ["pesq_left", "pesq_right", "pesq_mid",
                                               "pesq_side"]
    # mono scoring is unchanged: score() mixes channels down
    assert metrics.score(x, x, 24000, speech=False, metrics=("si_sdr",)) == {"si_sdr": 100.0}


def test_eval_scores_a_stereo_model_per_channel(stereo_bundle, tmp_path):
    from sscodec.evaluation.evaluate import run_eval

    result = run_eval(str(tmp_path / "eval"), model=stereo_bundle, data="embedded",
                      kbps=[3.6], baseline_names=["opus"], opus_kbps=[12],
                      categories=["music"], per_category=2, clip_seconds=1.0,
                      metric_names=("si_sdr", "visqol_audio"), speed=False, progress=False)
    assert result["channels"] == 2
    row = result["rows"][0]
    assert {"si_sdr_left", "si_sdr_right", "si_sdr_mid", "visqol_audio_side"} <= set(row)
    # the embedded corpus is mono: both channels of a clip are one file, the side is silence
    assert row["visqol_audio_side"] is None and row["visqol_audio_mid"] is not None
    summary = [e for e in result["summary"] if e["category"] == "music"]
    assert {e["system"] for e in summary} == {"bundle", "Opus"}
    assert all(e["si_sdr_mid"]["n"] == 2 for e in summary)
    markdown = (tmp_path / "eval" / "eval.md").read_text()
    assert "ViSQOL audio mid" in markdown and "2 channels" in markdown


def test_a_listening_page_plays_and_scores_a_stereo_model(stereo_bundle, tmp_path):
    """`sscodec listen` on a stereo model: the original, the model's versions and the MUSHRA
    anchor are two-channel files, and the scores are per channel, mid and side as in eval."""
    import json
    from sscodec.evaluation.listen.build import build_page

    out = tmp_path / "page"
    page = build_page(str(out), stereo_bundle, data="embedded", kbps=[3.6], opus_kbps=[12],
                      per_category=1, clip_seconds=1.0, categories=["music"], codec2=False,
                      with_mushra=True, progress=False)
    assert page["model"]["channels"] == 2
    versions = {v["kind"]: v for v in page["clips"][0]["versions"]}
    for kind in ("reference", "model"):
        assert sf.info(str(out / versions[kind]["audio"])).channels == 2
    assert sf.info(str(out / versions["baseline"]["audio"])).channels == 1  # Opus codes mono
    anchor = page["clips"][0]["mushra_extra"][1]["audio"]
    assert sf.info(str(out / anchor)).channels == 2
    scores = versions["model"]["scores"]
    assert {"visqol_audio", "visqol_audio_left", "visqol_audio_mid"} <= set(scores)
    assert scores["visqol_audio"] is not None
    assert (out / versions["model"]["spectrogram"]).is_file()
    assert json.load(open(out / "listen.json"))["summary"][0]["visqol_audio"] is not None


@pytest.mark.slow
def test_shipping_a_stereo_model_says_stereo_on_its_card(stereo_run, tmp_path):
    from tests.conftest import sscodec

    out = tmp_path / "models"
    sscodec("ship", "--workdir", str(stereo_run / "run"), "--name", "tiny_stereo_shipped",
            "--data", "embedded", "--out", str(out), "--kbps", "3.6", "--per-category", "1",
            "--clip-seconds", "1", "--metrics", "si_sdr", "--baselines", "none", "--no-speed",
            "--entropy-seconds", "5")
    card = (out / "tiny_stereo_shipped" / "MODEL_CARD.md").read_text()
    assert "48 kHz stereo audio" in card and "| audio | 48000 Hz stereo, frames" in card
    assert "mono input is copied into every channel" in card
    assert "kHz mono" not in card and "Hz mono" not in card


# ----------------------------------------------------------------------------- a trained model


@pytest.mark.slow
def test_a_trained_stereo_model_keeps_left_and_right_apart(tmp_path):
    """A stereo model trained on stereo pairs of embedded files (speech on one side, music on the
    other) codes a held-out pair (two other voices) so that each decoded channel follows its own
    input's loudness, not the other's, through sscodec compress and decompress. About 10-15
    minutes on 2 cores: tiny_stereo at 24 kHz, 8 channels wide, 8 x 1024 codes (6 kbps), with
    EnCodec's waveform term, 1,500 steps. The bit budget decides it: at tiny_stereo's own 4 x 64
    codes (1.8 kbps at 24 kHz) the model spends its bits on one channel and decodes the other
    from it, even after 3,000 steps."""
    from tests.conftest import sscodec

    speech = sorted(os.listdir(SPEECH))
    music = sorted(os.listdir(MUSIC))
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for k, name in enumerate(speech[1:9]):
        a = read_audio(os.path.join(SPEECH, name), 24000)
        b = read_audio(os.path.join(MUSIC, music[(k + 1) % len(music)]), 24000)
        n = min(len(a), len(b))
        x = np.stack([a[:n], b[:n]] if k % 2 == 0 else [b[:n], a[:n]], axis=1)
        sf.write(pairs / f"pair{k}.flac", 0.9 * x / np.abs(x).max(), 24000)
    sscodec("train", "--config", os.path.join(ROOT, "experiments", "tiny_stereo.py"),
            "--workdir", str(tmp_path / "run"), "--config.num_steps=1500",
            f"--config.data.train={pairs}", "--config.sample_rate=24000",
            "--config.loss.mel_windows=(64,128,256,512,1024)",
            "--config.loss.waveform_l1_weight=100000.0", "--config.model.encoder_channels=8",
            "--config.model.decoder_channels=8", "--config.quantizer.codebook_size=1024",
            "--config.quantizer.num_quantizers=8", "--config.quantizer.dropout=false",
            "--config.loss.adversarial_start_step=1000000000",
            "--config.train.sample_every=0", "--config.train.eval_every=0",
            "--config.train.progress=false")
    sscodec("export", "--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "bundle"),
            "--no-entropy")
    n = 4 * 24000
    x = np.stack([read_audio(os.path.join(SPEECH, speech[0]), 24000)[:n],
                  read_audio(os.path.join(SPEECH, speech[9]), 24000)[:n]], axis=1)
    sf.write(tmp_path / "in.wav", 0.5 * x / np.abs(x).max(axis=0), 24000)
    sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "x.ssc"),
            "--model", str(tmp_path / "bundle"))
    sscodec("decompress", str(tmp_path / "x.ssc"), str(tmp_path / "out.wav"),
            "--model", str(tmp_path / "bundle"))
    y, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32")

    def loudness(s, hop=480):  # dB per 20 ms
        s = s[: len(s) // hop * hop].reshape(-1, hop)
        return 10 * np.log10(np.mean(s.astype(np.float64) ** 2, axis=1) + 1e-8)

    for own, other in ((0, 1), (1, 0)):
        with_own = np.corrcoef(loudness(y[:, own]), loudness(x[:, own]))[0, 1]
        with_other = np.corrcoef(loudness(y[:, own]), loudness(x[:, other]))[0, 1]
        assert with_own > with_other + 0.2, (own, with_own, with_other)
