"""Where JAX runs and what it keeps: platform choice (no TPU probing without a TPU) and the
compile caches (JAX's persistent cache, the codec's executables). Used by training and inference
alike, so it sits below both."""

from __future__ import annotations

import glob
import os


def cache_dir() -> str | None:
    """sscodec's cache folder: $SSCODEC_CACHE_DIR, else ~/.cache/sscodec/jax; None when
    SSCODEC_CACHE_DIR is set to "" (caching off)."""
    path = os.environ.get("SSCODEC_CACHE_DIR",
                          os.path.join(os.path.expanduser("~"), ".cache", "sscodec", "jax"))
    return path or None


def executable_cache_dir() -> str | None:
    """Where the codec commands keep compiled bundle functions (sscodec.codec.executables)."""
    path = cache_dir()
    return os.path.join(path, "sscodec-executables") if path else None


def enable_compilation_cache(min_compile_seconds: float = 0.5) -> None:
    """JAX's persistent compilation cache, so a later process loads what an earlier one compiled
    (training re-runs compile ~20x faster). Where: $JAX_COMPILATION_CACHE_DIR if set (JAX reads
    it itself), else cache_dir()."""
    import jax
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    path = cache_dir()
    if not path:
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)


def has_tpu() -> bool:
    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def choose_platforms() -> None:
    """Keeps JAX from probing a TPU where there is none: libtpu (installed for `sscodec compile`)
    prints alarming errors on machines without TPU devices. An explicit JAX_PLATFORMS wins."""
    if os.environ.get("JAX_PLATFORMS") or has_tpu():
        return
    os.environ["JAX_PLATFORMS"] = "cuda,cpu"


def quiet_libtpu() -> None:
    """Off a TPU VM, tells libtpu (loaded to compile for a TPU topology) that this is one local
    host with no metadata server, which spares a screen of harmless initialization errors, and
    that it need not take its machine-wide lockfile (/tmp/libtpu_lockfile): with no TPU chips
    there is nothing to guard, and a lock left by a killed process made every later
    `sscodec compile` fail."""
    if not has_tpu():
        os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
        os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
        os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
