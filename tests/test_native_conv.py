"""sscodec's native inference conv (sscodec.codec.native_conv): equal to XLA's conv for every
shape class it tiles differently, and live streams through it that match XLA's streams."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from sscodec.codec import native_conv
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(native_conv.unavailable_reason() is not None,
                                reason=f"native conv: {native_conv.unavailable_reason()}")


def reference(x, kernel, bias, stride, dilation):
    return jax.lax.conv_general_dilated(x, kernel, (stride,), [(0, 0)], rhs_dilation=(dilation,),
                                        dimension_numbers=("NHC", "HIO", "NHC")) + bias


# (batch, T_in, Cin, Cout, K, stride, dilation): one-step convs (8 blocks at once), two steps,
# 3-6 steps, long inputs with a remainder tile, half blocks (Cout 16, 40) and a single channel.
SHAPES = [(1, 7, 96, 512, 7, 1, 1), (2, 17, 64, 96, 2, 8, 1), (1, 20, 33, 40, 7, 1, 3),
          (1, 9, 64, 96, 4, 1, 1), (1, 339, 32, 16, 7, 1, 3), (2, 60, 16, 32, 1, 1, 1),
          (1, 326, 32, 1, 7, 1, 1), (1, 5, 48, 300, 2, 1, 1), (1, 23, 8, 64, 3, 2, 5)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_equals_xla_conv(shape, dtype):
    batch, length, cin, cout, k, stride, dilation = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((batch, length, cin)).astype(np.float32)
    kernel = (rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    native_conv.load()
    got = jax.jit(lambda x: native_conv.conv1d(x, kernel, bias, stride, dilation, dtype))(x)
    if dtype == "bfloat16":  # the same maths on the rounded weights
        kernel = np.asarray(jnp.asarray(kernel).astype(jnp.bfloat16).astype(jnp.float32))
    want = reference(x, kernel, bias, stride, dilation)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


def test_fused_context_activation_residual():
    """One call = ELU of the new rows, after the stream context, skipping leading rows, plus a
    residual; the next context is the tail of [context | ELU(x)]."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 24)).astype(np.float32)
    context = rng.standard_normal((2, 14, 24)).astype(np.float32)
    kernel = (rng.standard_normal((4, 24, 40)) / 10).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)
    full = np.concatenate([context, np.asarray(jax.nn.elu(x))], axis=1)
    want = reference(full[:, 2:], kernel, bias, 2, 3)
    residual = rng.standard_normal(want.shape).astype(np.float32)
    native_conv.load()
    y, new_context = native_conv.conv1d(x, kernel, bias, 2, 3, context=context, activation="elu",
                                        residual=residual, skip=2)
    np.testing.assert_allclose(y, want + residual, rtol=0, atol=2e-5)
    np.testing.assert_allclose(new_context, full[:, -14:], rtol=0, atol=1e-6)


@pytest.mark.parametrize("channels,hidden", [(32, 16), (64, 32), (24, 12)])
def test_residual_unit_equals_two_convs(channels, hidden):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((1, 9, channels)).astype(np.float32)
    context = rng.standard_normal((1, 19, channels)).astype(np.float32)
    k1 = (rng.standard_normal((7, channels, hidden)) / 10).astype(np.float32)
    k2 = (rng.standard_normal((1, hidden, channels)) / 10).astype(np.float32)
    b1, b2 = rng.standard_normal(hidden).astype(np.float32), rng.standard_normal(channels).astype(
        np.float32)
    full = np.concatenate([context, np.asarray(jax.nn.elu(x))], axis=1)
    h = reference(full[:, 1:], k1, b1, 1, 3)
    want = x + reference(jax.nn.elu(h), k2, b2, 1, 1)
    native_conv.load()
    y, new_context = native_conv.residual_unit(x, context, (k1, b1), (k2, b2), 3, 1)
    np.testing.assert_allclose(y, want, rtol=0, atol=3e-5)
    np.testing.assert_allclose(new_context, full[:, -19:], rtol=0, atol=1e-6)


def test_rvq_search_equals_xla():
    from sscodec.nn.rvq import nearest_code
    rng = np.random.default_rng(5)
    codebooks = rng.standard_normal((6, 100, 20)).astype(np.float32)  # 100: a padded block
    x = rng.standard_normal((7, 20)).astype(np.float32) * 2
    sqnorms = np.sum(codebooks ** 2, -1)
    want, residual = [], x
    for cb in codebooks:
        idx = np.asarray(nearest_code(residual, cb))
        want.append(idx)
        residual = residual - cb[idx]
    native_conv.load()
    got = native_conv.residual_quantize(x, codebooks, sqnorms)
    np.testing.assert_array_equal(got, np.stack(want, -1))


def test_the_kernel_checks_its_shapes():
    """A call whose shapes disagree (here: 5 outputs from 3 rows) is refused, not run."""
    native_conv.load()
    call = jax.ffi.ffi_call(native_conv.TARGET, (
        jax.ShapeDtypeStruct((1, 5, 32), jnp.float32), jax.ShapeDtypeStruct((1, 0, 8), jnp.float32)))
    with pytest.raises(Exception, match="shapes do not agree"):
        jax.block_until_ready(call(
            jnp.zeros((1, 3, 8)), jnp.zeros((1, 0, 8)), jnp.zeros((1, 1, 8, 32)), jnp.zeros(32),
            jnp.zeros(0), stride=np.int64(1), dilation=np.int64(1), skip=np.int64(0),
            activation=np.int64(0), has_residual=np.int64(0)))


def test_bad_inputs_are_refused():
    native_conv.load()
    with pytest.raises(ValueError, match="needs more than 3 steps"):
        native_conv.conv1d(jnp.zeros((1, 3, 8)), jnp.zeros((7, 8, 32)), jnp.zeros(32))
    with pytest.raises(ValueError, match="float32.*bfloat16"):
        native_conv.pack_kernel(jnp.zeros((1, 8, 32)), "int8")
    with pytest.raises(ValueError, match="float32.*bfloat16"):
        native_conv.NativeKernels("int8")
    with pytest.raises(ValueError, match="activation must be one of"):
        native_conv.conv1d(jnp.zeros((1, 8, 8)), jnp.zeros((1, 8, 32)), jnp.zeros(32),
                           activation="relu")


@pytest.fixture(scope="module")
def shipped():
    """The shipped 24 kHz speech model (trained), and 2 s of real speech."""
    from sscodec import Codec
    codec = Codec.load("speech_cpu_24khz")
    speech = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
    audio, rate = sf.read(os.path.join(speech, sorted(os.listdir(speech))[1]), dtype="float32")
    return codec, codec._prepare(audio, rate)[: 2 * codec.sample_rate]


def live(codec, audio, kernels):
    """One frame per push, as a live call; returns (codes, audio)."""
    encoder = codec.stream_encoder(6.0, kernels=kernels)
    decoder = codec.stream_decoder(kernels=kernels)
    m = codec.frame_size
    codes = [encoder.push(audio[i: i + m]) for i in range(0, len(audio) - m + 1, m)]
    return np.concatenate(codes), np.concatenate([decoder.push(c) for c in codes])


def snr_db(reference, test):
    return 10 * np.log10(np.sum(reference ** 2) / np.sum((test - reference) ** 2))


@pytest.mark.parametrize("kernels,min_match,min_snr", [("native", 0.999, 60.0),
                                                       ("native-bf16", 0.9, 30.0)])
def test_live_stream_matches_xla(shipped, kernels, min_match, min_snr):
    codec, audio = shipped
    want_codes, want_audio = live(codec, audio, "xla")
    codes, out = live(codec, audio, kernels)
    assert codes.shape == want_codes.shape and out.shape == want_audio.shape
    assert np.mean(codes == want_codes) >= min_match
    assert snr_db(want_audio, out) >= min_snr
    # longer pushes take the bundle's own steps, and the two kinds mix in one stream
    encoder = codec.stream_encoder(6.0, kernels=kernels)
    m = codec.frame_size
    mixed = np.concatenate([encoder.push(audio[:m]), encoder.push(audio[m: 9 * m])])
    assert np.mean(mixed == want_codes[:9]) >= min_match - 0.1


def test_where_the_kernels_cannot_run_the_error_says_why(shipped, monkeypatch):
    codec, audio = shipped
    monkeypatch.setattr(native_conv, "unavailable_reason", lambda: "needs a CPU with AVX-512")
    monkeypatch.setattr(codec, "_frame_steps", {})  # none compiled yet,
    native_conv.load.cache_clear()  # and nothing loaded: a fresh process on such a machine
    try:
        with pytest.raises(native_conv.NativeKernelError, match="AVX-512.*kernels='xla'"):
            codec.stream_encoder(6.0, kernels="native-bf16").push(audio[: codec.frame_size])
    finally:
        native_conv.load.cache_clear()
    monkeypatch.undo()
    native_conv.load()


def test_a_codec_without_its_config_cannot_rebuild_the_step(shipped, monkeypatch):
    codec, audio = shipped
    monkeypatch.setattr(codec, "_config", None)
    monkeypatch.setattr(codec, "_frame_steps", {})
    with pytest.raises(ValueError, match="config.json"):
        codec.stream_encoder(6.0, kernels="native").push(audio[: codec.frame_size])


def test_unknown_kernels_are_refused(shipped):
    with pytest.raises(ValueError, match="kernels must be one of"):
        shipped[0].stream_encoder(kernels="cuda")
