"""Test set-up: CPU only, 8 fake devices available to sharding tests, a persistent compile cache."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(ROOT, ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("SSCODEC_CACHE_DIR", os.path.join(ROOT, ".jax_cache"))  # codec executables
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import subprocess  # noqa: E402

import pytest  # noqa: E402

TINY = os.path.join(ROOT, "experiments", "tiny.py")


@pytest.fixture(scope="module")
def busy_cpu():
    """A CPU-bound process beside the tests that use it (a second job on a shared machine):
    multi-process start-up must tolerate processes that compile at different speeds."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield loop
    loop.kill()
    loop.wait()


@pytest.fixture(scope="session")
def tiny_config():
    from sscodec.config import load_config
    return load_config(os.path.join(ROOT, "experiments", "tiny.py"))


@pytest.fixture(scope="session")
def paper_config():
    from sscodec.config import load_config
    return load_config(os.path.join(ROOT, "experiments", "soundstream_24khz.py"))


def run_on_fake_devices(script: str, marker: str, timeout: int = 900) -> str:
    """Runs `script` in a fresh Python with 8 fake CPU devices (the count is fixed when JAX
    starts) and asserts that it printed `marker`; returns its stdout."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert marker in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def sscodec(*args, check=True, stdin=None):
    result = subprocess.run([sys.executable, "-m", "sscodec.cli", *args], cwd=ROOT, input=stdin,
                            capture_output=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr.decode()[-3000:]
    return result


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory):
    """A tiny model trained 2 steps and exported (with entropy tables): a real bundle."""
    root = tmp_path_factory.mktemp("codec")
    sscodec("train", "--config", TINY, "--workdir", str(root / "run"), "--config.num_steps=2",
            "--config.train.sample_every=0", "--config.train.eval_every=0",
            "--config.train.progress=false")
    out = sscodec("export", "--workdir", str(root / "run"), "--out", str(root / "bundle"))
    assert b"step 2" in out.stdout
    assert sorted(os.listdir(root / "bundle")) == [
        "config.json", "decode.jax", "decode_stream.jax", "encode.jax", "encode_stream.jax",
        "entropy.safetensors", "manifest.json", "params.safetensors"]
    return str(root / "bundle")


@pytest.fixture(scope="session")
def codec(trained_bundle):
    from sscodec import Codec
    return Codec.load(trained_bundle)
