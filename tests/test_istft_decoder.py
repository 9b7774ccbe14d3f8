"""model.decoder="istft" (nn/istft_decoder.py): the inverse STFT, causality, streaming = offline."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.config import samples_per_frame
from sscodec.nn.audio import istft, overlap_add
from sscodec.nn.soundstream import build_generator


@pytest.mark.parametrize("overlap", [2, 4])
def test_overlap_add_places_frame_k_at_k_hops(overlap):
    hop = 5
    frames = jax.random.normal(jax.random.key(0), (2, 7, overlap * hop))
    expected = np.zeros((2, (7 + overlap - 1) * hop), np.float32)
    for k in range(7):
        expected[:, k * hop: k * hop + overlap * hop] += np.asarray(frames[:, k])
    np.testing.assert_allclose(overlap_add(frames, hop), expected, atol=1e-6)


@pytest.mark.parametrize("overlap", [2, 4])
def test_istft_of_a_coherent_bin_is_a_unit_sinusoid(overlap):
    hop, count, b = 32, 12, 5
    n_fft = overlap * hop
    phases = 2 * np.pi * b * hop * np.arange(count) / n_fft + 0.3  # phase advance of one hop
    spectrum = np.zeros((1, count, n_fft // 2 + 1), np.complex64)
    spectrum[0, :, b] = n_fft / 2 * np.exp(1j * phases)
    audio = np.asarray(istft(jnp.asarray(spectrum), hop, overlap))[0]
    n = np.arange(len(audio))
    full = slice((overlap - 1) * hop, count * hop)  # where every overlapping frame is present
    np.testing.assert_allclose(audio[full], np.cos(2 * np.pi * b * n[full] / n_fft + 0.3),
                               atol=1e-4)


@pytest.fixture(scope="module")
def istft_model(tiny_config):
    config = tiny_config.copy_and_resolve_references()
    config.model.decoder = "istft"
    gen = build_generator(config)
    m = samples_per_frame(config)
    variables = nn.unbox(gen.init({"params": jax.random.key(0)}, jnp.zeros((1, 4 * m))))
    return config, gen, variables, m


def test_output_shape_and_causality(istft_model):
    """Changing embedding frame k changes no output sample before k * hop, and does change
    that frame's own hop."""
    config, gen, variables, m = istft_model
    emb = jax.random.normal(jax.random.key(1), (1, 12, config.model.embedding_dim))
    synth = jax.jit(lambda e: gen.apply(variables, e, method="synthesize"))
    y = np.asarray(synth(emb))
    assert y.shape == (1, 12 * m)
    k = 7
    y2 = np.asarray(synth(emb.at[:, k:].add(1.0)))
    np.testing.assert_array_equal(y[:, : k * m], y2[:, : k * m])
    assert np.abs(y[:, k * m: (k + 1) * m] - y2[:, k * m: (k + 1) * m]).max() > 0


@pytest.mark.slow
def test_streaming_decode_equals_offline(istft_model):
    """Chunk by chunk (1, 3 and 2 frames), carrying conv context and the overlap-add tail, the
    decoder gives the offline output."""
    config, gen, variables, m = istft_model
    streamer = build_generator(config, streaming=True)
    emb = jax.random.normal(jax.random.key(2), (1, 6, config.model.embedding_dim))
    offline = np.asarray(gen.apply(variables, emb, method="synthesize"))
    state, out, start = {}, [], 0
    for size in (1, 3, 2):
        audio, new = streamer.apply({**variables, **state}, emb[:, start: start + size],
                                    method="synthesize", mutable=["stream"])
        state, start = {"stream": new["stream"]}, start + size
        out.append(np.asarray(audio))
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert any("tail" in p for p in paths)
    scale = np.abs(offline).max()
    assert scale > 0
    np.testing.assert_allclose(np.concatenate(out, axis=1) / scale, offline / scale, atol=1e-5,
                               rtol=0)


def test_model_card_names_the_decoder():
    from sscodec.evaluation.model_card import _architecture_words

    assert "inverse-STFT decoder" in _architecture_words({"decoder": "istft", "istft_overlap": 4})
    assert _architecture_words({}) == "SEANet encoder and decoder"  # bundles from before the key
