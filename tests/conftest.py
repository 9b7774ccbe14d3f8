"""Test set-up: CPU only, 8 fake devices available to sharding tests, a persistent compile cache."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(ROOT, ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_config():
    from sscodec.config import load_config
    return load_config(os.path.join(ROOT, "experiments", "tiny.py"))


@pytest.fixture(scope="session")
def paper_config():
    from sscodec.config import load_config
    return load_config(os.path.join(ROOT, "experiments", "soundstream_24khz.py"))
