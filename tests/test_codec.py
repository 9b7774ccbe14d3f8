"""Export a trained run, then code audio with the bundle: API, files, bitrates, isolation."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from sscodec.codec import bitstream
from tests.conftest import ROOT, sscodec

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")


def test_any_length_and_rate_round_trips_to_whole_frames(codec):
    assert codec.sample_rate == 24000 and codec.frame_size == 320
    assert codec.bitrates == pytest.approx([0.45, 0.9, 1.35, 1.8])
    rng = np.random.default_rng(0)
    for length, rate, channels in ((1, 24000, 1), (320, 24000, 1), (12345, 24000, 1),
                                   (44100, 44100, 2)):
        audio = (0.1 * rng.standard_normal((length, channels))).astype(np.float32)
        codes = codec.encode(audio if channels > 1 else audio[:, 0], rate, kbps=0.9)
        frames = -(-round(length * 24000 / rate) // 320)
        assert codes.shape == (max(frames, 1), 2) and codes.dtype == np.int32
        assert codes.min() >= 0 and codes.max() < 64
        out = codec.decode(codes)
        assert out.shape == (codes.shape[0] * 320,) and np.isfinite(out).all()
    # Offline calls run padded to a few lengths; causal models make that invisible.
    assert len(codes) > 16  # another length bucket than 3 frames
    np.testing.assert_allclose(codec.decode(codes[:3]), out[: 3 * 320], atol=1e-5)
    long = (0.1 * rng.standard_normal(20 * 320)).astype(np.float32)
    np.testing.assert_array_equal(codec.encode(long[: 3 * 320], 24000), codec.encode(long, 24000)[:3])
    full = codec.encode(audio[:, 0], 44100)
    np.testing.assert_array_equal(full[:, :2], codec.encode(audio[:, 0], 44100, kbps=0.9))
    with pytest.raises(ValueError, match="0.45, 0.9, 1.35, 1.8 kbps"):
        codec.encode(audio[:, 0], 44100, kbps=6)
    with pytest.raises(ValueError, match="n_q"):
        codec.decode(np.zeros((3, 5), np.int32))


def test_compress_decompress_files_and_pipes(trained_bundle, codec, tmp_path):
    source = os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0])
    audio, rate = sf.read(source, dtype="float32")
    sf.write(tmp_path / "in.wav", audio[: rate * 2], rate)
    sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "raw.ssc"), "--model",
            trained_bundle, "--kbps", "1.8", "--raw")
    raw = (tmp_path / "raw.ssc").read_bytes()
    header, codes = bitstream.read(raw)
    assert header.num_quantizers == 4 and header.original_length == rate * 2
    assert len(raw) == bitstream.HEADER_SIZE + 4 * (-(-header.num_frames * 6 // 8) + 4)
    # By default the bundle's entropy tables code the same codes in fewer bytes (real audio).
    result = sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "x.ssc"), "--model",
                     trained_bundle, "--kbps", "1.8")
    assert b"kbps as stored (entropy coded)" in result.stderr
    data = (tmp_path / "x.ssc").read_bytes()
    entropy_header, entropy_codes = bitstream.read(data, tables=codec.entropy_tables)
    assert entropy_header.entropy_coded and len(data) < len(raw)
    np.testing.assert_array_equal(entropy_codes, codes)
    with pytest.raises(bitstream.BitstreamError, match="no entropy tables"):
        bitstream.read(data)
    wav = sscodec("decompress", "-", "-", "--model", trained_bundle, stdin=data).stdout
    out, out_rate = sf.read(__import__("io").BytesIO(wav))
    assert out_rate == rate and len(out) == rate * 2
    raw_wav = sscodec("decompress", str(tmp_path / "raw.ssc"), "-", "--model",
                      trained_bundle).stdout
    assert raw_wav == wav
    # A lower bitrate is a prefix of the stream.
    low = sscodec("decompress", "-", "-", "--model", trained_bundle,
                  stdin=bitstream.truncate(data, 1)).stdout
    assert len(sf.read(__import__("io").BytesIO(low))[0]) == rate * 2
    # Damaged or foreign streams are refused with a message, never decoded.
    broken = sscodec("decompress", "-", "-", "--model", trained_bundle, stdin=data[:-3],
                     check=False)
    assert broken.returncode == 2 and b"truncated" in broken.stderr and not broken.stdout
    flipped = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    bad = sscodec("decompress", "-", "-", "--model", trained_bundle, stdin=flipped, check=False)
    assert bad.returncode == 2 and b"CRC" in bad.stderr
    missing = sscodec("decompress", str(tmp_path / "x.ssc"), "-", "--model",
                      str(tmp_path / "nope"), check=False)
    assert missing.returncode == 2 and b"cannot load codec bundle" in missing.stderr


def test_forged_streams_of_this_model_are_refused(trained_bundle, codec, tmp_path):
    """The model hash is no secret: a forger's stream claiming this model but another frame
    size, code width or rate, or an absurd original length or rate (which once made
    decompress allocate 11 GiB for a 272-byte file), is refused before decoding."""
    import dataclasses

    from sscodec.codec import codec_io
    header, data = codec_io.encode_to_stream(codec, np.zeros(4800, np.float32), 24000, kbps=0.9)
    for fields, message in ((dict(original_length=3_000_000_000), "exceeds"),
                            (dict(original_rate=2_000_000_000), "original rate"),
                            (dict(frame_size=65535), "frame size 65535, the model's is 320"),
                            (dict(bits_per_code=1), "bits per code 1, the model's is 6"),
                            (dict(sample_rate=12000), "sample rate 12000, the model's is 24000"),
                            (dict(num_quantizers=9), "9 quantizers, the model has 4")):
        forged = dataclasses.replace(header, **fields).pack() + data[bitstream.HEADER_SIZE:]
        (tmp_path / "forged.ssc").write_bytes(forged)
        with pytest.raises(bitstream.BitstreamError, match=message):
            codec_io.decompress(codec, str(tmp_path / "forged.ssc"), str(tmp_path / "out.wav"))
        assert not (tmp_path / "out.wav").exists()
    result = sscodec("decompress", str(tmp_path / "forged.ssc"), str(tmp_path / "out.wav"),
                     "--model", trained_bundle, check=False)
    assert result.returncode == 2 and b"9 quantizers" in result.stderr
    assert b"Traceback" not in result.stderr and not (tmp_path / "out.wav").exists()


def _lying_bundle(trained_bundle, tmp_path, lie: str) -> str:
    """A copy of the bundle with one lie told, the manifest's hash re-signed where the lie is in
    a hashed file (so only the deeper check can catch it)."""
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    from sscodec.codec import bundle_checks
    path = str(tmp_path / lie)
    shutil.copytree(trained_bundle, path)
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    params = os.path.join(path, "params.safetensors")
    if lie == "hash":
        manifest["sha256"] = "0" * 64
    elif lie in ("frame_size", "num_quantizers", "sample_rate"):
        manifest[lie] = {"frame_size": 640, "num_quantizers": 3, "sample_rate": 10 ** 7}[lie]
    elif lie == "entropy_path":
        manifest["entropy_tables"] = "../../../etc/passwd"
    elif lie == "codebook_size":
        manifest["codebook_size"] = 1000
    elif lie in ("tensor_shape", "extra_tensor"):
        flat = load_file(params)
        key = sorted(k for k in flat if k.startswith("params/decoder"))[0]
        if lie == "tensor_shape":
            flat[key] = flat[key][..., :1].copy()
        else:
            flat["params/decoder/backdoor"] = np.zeros(3, np.float32)
        save_file(flat, params)
        manifest["sha256"] = bundle_checks.content_hash(path, True)
    elif lie == "entropy_shape":
        from sscodec.codec.entropy import EntropyTables, save_tables
        save_tables(EntropyTables.from_counts(np.ones((2, 64), np.int64)),
                    os.path.join(path, "entropy.safetensors"))
        manifest["sha256"] = bundle_checks.content_hash(path, True)
    elif lie == "truncated_params":
        data = open(params, "rb").read()
        open(params, "wb").write(data[: len(data) // 2])
        manifest["sha256"] = bundle_checks.content_hash(path, True)
    elif lie == "junk_function":
        open(os.path.join(path, "decode.jax"), "wb").write(b"\x00" * 100)
    json.dump(manifest, open(os.path.join(path, "manifest.json"), "w"))
    return path


@pytest.mark.parametrize("lie,message", [
    ("hash", "do not match the manifest's sha256"),
    ("frame_size", "encode.jax does not take audio of 640 samples per frame"),
    ("num_quantizers", "decode.jax does not take 3 quantizers"),
    ("sample_rate", "sample_rate must be an integer in 1000..384000"),
    ("entropy_path", "entropy_tables must be 'entropy.safetensors' or null"),
    ("codebook_size", "codebook_size 1000 is not 2 \\*\\* bits_per_code"),
    ("tensor_shape", "params.safetensors: params/decoder/"),
    ("extra_tensor", "unexpected \\['params/decoder/backdoor'\\]"),
    ("entropy_shape", "tables of shape \\(2, 64\\), the manifest needs \\(4, 64\\)"),
    ("truncated_params", "SafetensorError"),
    ("junk_function", "cannot load codec bundle"),
])
def test_a_bundle_that_lies_is_refused_naming_the_lie(trained_bundle, tmp_path, lie, message):
    from sscodec.codec import BundleError, Codec
    with pytest.raises(BundleError, match=message):
        Codec.load(_lying_bundle(trained_bundle, tmp_path, lie))


def test_bundle_loads_without_training_packages(trained_bundle):
    script = (
        "import sys\n"
        "for m in ('optax', 'orbax', 'orbax.checkpoint', 'grain', 'tensorflow_datasets', 'flax',"
        " 'flax.linen', 'ml_collections', 'sscodec.nn', 'sscodec.train'):\n"
        "    sys.modules[m] = None\n"
        "import numpy as np\n"
        "from sscodec.codec import Codec\n"
        f"codec = Codec.load({trained_bundle!r})\n"
        "codes = codec.encode(np.zeros(4800, np.float32), 24000)\n"
        "print('ISOLATED_OK', codes.shape, codec.decode(codes).shape)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert "ISOLATED_OK (15, 4) (4800,)" in result.stdout, result.stderr[-3000:]


def test_compiled_functions_are_kept_for_later_processes(trained_bundle, tmp_path):
    """The executable cache: a later process runs what an earlier one compiled, without reading
    (or re-checking) the exported functions; a damaged cache file is compiled again."""
    import glob
    cache = str(tmp_path / "executables")
    script = (
        "import sys, numpy as np, jax\n"
        "from sscodec import Codec\n"
        "if sys.argv[1] == 'cached':\n"
        "    def refuse(*a, **k): raise AssertionError('deserialized an exported function')\n"
        "    jax.export.deserialize = refuse\n"
        f"codec = Codec.load({trained_bundle!r}, executable_cache={cache!r})\n"
        "codes = np.random.default_rng(0).integers(0, 16, (30, 2))\n"
        "print('SUM', float(np.abs(codec.decode(codes)).sum()))\n")
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}

    def run(mode: str) -> str:
        result = subprocess.run([sys.executable, "-c", script, mode], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return next(line for line in result.stdout.splitlines() if line.startswith("SUM"))

    first = run("fresh")
    files = glob.glob(os.path.join(cache, "*", "*"))
    assert sorted(os.path.basename(f).split("-")[0] for f in files) == ["checked", "decode"]
    assert run("cached") == first
    executable = next(f for f in files if f.endswith(".xla"))
    with open(executable, "wb") as f:
        f.write(b"not an executable")
    assert run("fresh") == first
    assert os.path.getsize(executable) > 1000  # written again


@pytest.mark.slow
def test_export_options_for_entropy_tables(trained_bundle, tmp_path):
    run = os.path.join(os.path.dirname(trained_bundle), "run")
    sscodec("export", "--workdir", run, "--out", str(tmp_path / "plain"), "--no-entropy")
    assert "entropy.safetensors" not in os.listdir(tmp_path / "plain")
    sf.write(tmp_path / "in.wav", np.zeros(4800, np.float32), 24000)
    result = sscodec("compress", str(tmp_path / "in.wav"), "-", "--model", str(tmp_path / "plain"))
    header, _ = bitstream.read(result.stdout)
    assert not header.entropy_coded
    bad = sscodec("export", "--workdir", run, "--out", str(tmp_path / "b"), "--entropy-data",
                  str(tmp_path / "nothing-here"), check=False)
    assert bad.returncode == 2 and b"nothing-here" in bad.stderr
