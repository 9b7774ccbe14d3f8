"""Compiled executables of a bundle's exported functions, one per argument shape, kept in memory
and (optionally) on disk so that a later process skips tracing, lowering and compiling.

Why not only JAX's persistent compilation cache: it still traces and lowers every call before it
can look the executable up, and lowering an exported function on CPU first imports SciPy's LAPACK
(to register JAX's linear-algebra handlers). Measured for `sscodec decompress` of a 1 s file
(speech_cpu_24khz, warm caches): 0.54 s lowering + 0.16 s cache load in JAX's cache, against
0.05 s to load a serialized executable here.

Files: DIR/<bundle key>/<function>-<shape digest>.xla, where the digest covers the argument
shapes and dtypes, the JAX and jaxlib versions, the backend and its version, and this machine's
CPU (an XLA:CPU executable is compiled for the host's instruction set). A file that cannot be
read back (another version, damage, a half-written file from a killed process) is compiled and
written again; files are written to a temporary name and renamed, so a reader never sees half
of one. Like JAX's own cache, the folder is trusted: it holds machine code.

An executable that JAX itself loaded from its persistent cache (JAX_COMPILATION_CACHE_DIR) is not
written here: on XLA:CPU (jax 0.10) serializing it again drops compiled kernels, and the copy
fails when run ("Function wrapped_iota not found"). Such a process falls back to JAX's cache.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import platform

import jax

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _machine_fingerprint() -> str:
    """JAX/jaxlib versions, the backend and the CPU's model and feature flags."""
    import jaxlib
    parts = [jax.__version__, jaxlib.__version__, jax.default_backend(),
             jax.devices()[0].device_kind, platform.machine()]
    try:
        parts.append(str(jax.devices()[0].client.platform_version))
    except Exception:  # noqa: BLE001 - not every backend reports one
        pass
    try:
        with open("/proc/cpuinfo") as f:
            parts += sorted({line for line in f if line.startswith(("flags", "model name"))})
    except OSError:
        pass
    return "\n".join(parts)


_jax_cache_hits = 0


def _count_jax_cache_hit(event: str, **kwargs) -> None:
    global _jax_cache_hits
    if event == "/jax/compilation_cache/cache_hits":
        _jax_cache_hits += 1


jax.monitoring.register_event_listener(_count_jax_cache_hit)


def _signature(args) -> tuple:
    return tuple((tuple(a.shape), str(a.dtype)) for a in jax.tree.leaves(args))


class CompiledFunction:
    """Calls an exported function (a jax.export.Exported, from `get_exported()` when it must be
    compiled) as `fn(weights, *args)` through executables compiled once per shape of `args`;
    `cache_dir` (or None) keeps them across processes under `bundle_key`, which must change
    whenever the function or the bundle does."""

    def __init__(self, get_exported, name: str, bundle_key: str | None,
                 cache_dir: str | None = None):
        self._get_exported = get_exported
        self.name = name
        self._folder = os.path.join(cache_dir, bundle_key) if cache_dir else None
        self._executables: dict[tuple, object] = {}

    def __call__(self, weights, *args):
        signature = _signature(args)
        executable = self._executables.get(signature)
        if executable is None:
            executable = self._executables[signature] = self._load(signature)
            if executable is not None:
                return self._first_call_from_disk(signature, executable, weights, args)
            executable = self._executables[signature] = self._compile(signature, weights, args)
        return executable(weights, *args)

    def _path(self, signature: tuple) -> str:
        digest = hashlib.sha256(repr((signature, _machine_fingerprint())).encode()).hexdigest()
        return os.path.join(self._folder, f"{self.name}-{digest[:24]}.xla")

    def _load(self, signature: tuple):
        """The executable kept on disk for `signature`, or None."""
        from jax.experimental import serialize_executable
        path = self._path(signature) if self._folder else None
        if not (path and os.path.exists(path)):
            return None
        try:
            with open(path, "rb") as f:
                payload, in_tree, out_tree = pickle.load(f)
            return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
        except Exception as e:  # noqa: BLE001 - any unreadable file is compiled anew
            log.info("compiling %s again: cached executable unreadable (%s)", self.name, e)
            return None

    def _first_call_from_disk(self, signature: tuple, executable, weights, args):
        """Runs a loaded executable to completion once: one that loads but cannot run (written
        by a build whose fingerprint matched, or damaged inside) is compiled and written anew."""
        try:
            return jax.block_until_ready(executable(weights, *args))
        except Exception as e:  # noqa: BLE001 - XLA reports a broken executable only when run
            log.info("compiling %s again: cached executable failed (%s)", self.name, e)
            executable = self._executables[signature] = self._compile(signature, weights, args)
            return executable(weights, *args)

    def _compile(self, signature: tuple, weights, args):
        hits = _jax_cache_hits
        compiled = jax.jit(self._get_exported().call).lower(weights, *args).compile()
        if self._folder and _jax_cache_hits == hits:  # compiled here, not loaded from JAX's
            self._write(self._path(signature), compiled)
        return compiled

    @staticmethod
    def _write(path: str, compiled) -> None:
        from jax.experimental import serialize_executable
        try:
            blob = pickle.dumps(serialize_executable.serialize(compiled))
        except Exception as e:  # noqa: BLE001 - an executable that cannot be kept only costs time
            log.info("not caching the executable in %s: %s", path, e)
            return
        write_file(path, blob)


def write_file(path: str, data: bytes) -> None:
    """Writes a cache file whole (a temporary name, then a rename: a reader never sees half of
    one); a cache that cannot be written only costs time, so failures are logged, not raised."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp{os.getpid()}"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError as e:
        log.info("not caching %s: %s", path, e)
