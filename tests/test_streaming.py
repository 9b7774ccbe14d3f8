"""Streaming encode / decode of a trained bundle: equal to offline for any chunking, one frame of
latency, long inputs coded block by block, the denoise flag."""

import os

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from sscodec.codec import codec as codec_module, streaming
from tests.conftest import ROOT

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")


@pytest.fixture(scope="module")
def speech(codec):
    """3.1 s of real speech at the codec's rate (not a whole number of frames)."""
    audio, rate = sf.read(os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0]), dtype="float32")
    return codec._prepare(audio, rate)[: 3 * codec.sample_rate + 2345]


@pytest.fixture(scope="module")
def offline(codec, speech):
    codes = codec.encode(speech, codec.sample_rate)
    return codes, codec.decode(codes)


def stream(codec, audio, sizes, kbps=None):
    encoder, decoder = codec.stream_encoder(kbps), codec.stream_decoder()
    codes, out, pos, i = [], [], 0, 0
    while pos < len(audio):
        n = sizes[i % len(sizes)]
        codes.append(encoder.push(audio[pos: pos + n]))
        out.append(decoder.push(codes[-1]))
        pos, i = pos + n, i + 1
    codes.append(encoder.flush())
    out.append(decoder.push(codes[-1]))
    return np.concatenate(codes), np.concatenate(out)


@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=6))
@settings(max_examples=12, deadline=None)
def test_any_chunking_gives_the_offline_codes_and_audio(codec, speech, offline, sizes):
    codes, audio = stream(codec, speech, sizes)
    np.testing.assert_array_equal(codes, offline[0])  # bit for bit
    np.testing.assert_allclose(audio, offline[1], rtol=0, atol=1e-5)


def test_single_samples_and_lower_bitrates(codec, speech, offline):
    codes, audio = stream(codec, speech[:4000], [1], kbps=0.9)
    reference = codec.encode(speech[:4000], codec.sample_rate, kbps=0.9)
    np.testing.assert_array_equal(codes, reference)
    np.testing.assert_allclose(audio, codec.decode(reference), rtol=0, atol=1e-5)


def test_latency_is_one_frame(codec, speech):
    m = codec.frame_size
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    assert encoder.push(speech[: m - 1]).shape == (0, 4)  # the frame is not complete yet
    first = encoder.push(speech[m - 1: m])  # its last sample completes it: codes at once
    assert first.shape == (1, 4)
    assert decoder.push(first).shape == (m,)  # and one frame of codes gives one frame of audio
    assert encoder.flush().shape == (0, 4)  # nothing pending


def test_long_inputs_are_coded_in_blocks_with_the_same_result(codec, speech, offline,
                                                              monkeypatch):
    monkeypatch.setattr(codec_module, "OFFLINE_FRAMES", 20)
    monkeypatch.setattr(codec_module, "BLOCK_FRAMES", 16)
    codes = codec.encode(speech, codec.sample_rate, progress=True)
    np.testing.assert_array_equal(codes, offline[0])
    np.testing.assert_allclose(codec.decode(codes, progress=True), offline[1], rtol=0, atol=1e-5)


def test_one_frame_calls_run_through_the_frame_step_with_offline_results(codec, speech,
                                                                         offline):
    m = codec.frame_size
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    # one frame, then a long chunk (the general steps), then one frame again: the state moves
    # between the packed and the general form without a seam
    sizes = [m, m, 9 * m, m, 5 * m + 7, m - 7]
    codes, audio, pos = [], [], 0
    for i, n in enumerate(sizes * 40):
        if pos >= len(speech):
            break
        codes.append(encoder.push(speech[pos: pos + n]))
        audio.append(decoder.push(codes[-1]))
        if i == 0:
            assert encoder._packed is not None and decoder._packed is not None
        pos += n
    codes.append(encoder.flush())
    audio.append(decoder.push(codes[-1]))
    np.testing.assert_array_equal(np.concatenate(codes), offline[0])
    np.testing.assert_allclose(np.concatenate(audio), offline[1], rtol=0, atol=1e-5)


def test_streams_sharing_a_frame_step_keep_their_own_state(codec, speech, offline):
    """The compiled one-frame step is shared and its state buffer donated: interleaved streams
    must not see each other's state."""
    m = codec.frame_size
    a, b = codec.stream_encoder(), codec.stream_encoder()
    first, second = [], []
    for pos in range(0, 20 * m, m):
        first.append(a.push(speech[pos: pos + m]))
        second.append(b.push(speech[pos + m: pos + 2 * m]))  # one frame ahead
    reference = codec.encode(speech[m: 21 * m], codec.sample_rate)
    np.testing.assert_array_equal(np.concatenate(first), offline[0][:20])
    np.testing.assert_array_equal(np.concatenate(second), reference)


def test_a_decoder_follows_depth_changes_in_one_frame_calls(codec, offline, monkeypatch):
    codes = offline[0][:12]
    depths = [4, 4, 2, 2, 1, 3, 4, 4, 2, 1, 1, 4]

    def run():
        decoder = codec.stream_decoder()
        return np.concatenate([decoder.push(codes[i: i + 1, :n]) for i, n in enumerate(depths)])

    fast = run()
    monkeypatch.setattr(streaming, "REALTIME_FRAMES", 1)  # every call on the general steps
    np.testing.assert_allclose(fast, run(), rtol=0, atol=1e-5)


def test_denoise_needs_a_denoising_model(codec, speech):
    with pytest.raises(ValueError, match="not trained to denoise"):
        codec.encode(speech, codec.sample_rate, denoise=True)
    with pytest.raises(ValueError, match="not trained to denoise"):
        codec.stream_encoder(denoise=True)


def test_bad_stream_input_is_refused(codec):
    with pytest.raises(ValueError, match="mono"):
        codec.stream_encoder().push(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="codes must lie"):
        codec.stream_decoder().push(np.full((2, 4), 64))


@pytest.fixture(scope="module")
def film_codec(tiny_config, tmp_path_factory):
    """A tiny denoising model (FiLM at the encoder) with a FiLM layer that is not the identity."""
    from sscodec.codec import Codec
    from sscodec.codec.export import inference_config, initial_weights, write_bundle

    config = inference_config(tiny_config)
    config.model.film = "encoder"
    weights = initial_weights(config)
    dense = weights["params"]["film_layer"]["dense"]
    dense["kernel"] = np.random.default_rng(0).normal(0, 0.5, dense["kernel"].shape).astype(
        np.float32)
    out = str(tmp_path_factory.mktemp("film") / "bundle")
    write_bundle(config, weights, out)
    return Codec.load(out)


def test_denoise_flag_reaches_the_film_layer_offline_and_streaming(film_codec, speech):
    clean = film_codec.encode(speech, film_codec.sample_rate)
    denoised = film_codec.encode(speech, film_codec.sample_rate, denoise=True)
    assert (clean != denoised).any()
    for chunk in (1000, film_codec.frame_size):  # mixed calls, and one frame per call
        encoder = film_codec.stream_encoder(denoise=True)
        streamed = np.concatenate([encoder.push(speech[i: i + chunk])
                                   for i in range(0, len(speech), chunk)] + [encoder.flush()])
        np.testing.assert_array_equal(streamed, denoised)
