"""Helpers shared by the folder recipes (asterisk, noise): Debian packages fetched without root,
decoding, the checks every source file passes, 24 kHz FLAC writing and cutting long files.

Every recipe writes OUT/train and OUT/eval with 16-bit mono FLAC at `SAMPLE_RATE`, a manifest per
split (data_pipelines.manifest, eval files labelled `test`) and OUT/PROVENANCE.md; a source file
that is short, silent, narrowband or undecodable raises `Skip` and is counted, never fatal.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import subprocess
import tarfile
from typing import Iterable, Mapping, Sequence

import numpy as np
import soundfile as sf

from data_pipelines.audio_io import AudioFile, AudioReadError, probe, to_mono

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
SILENCE_RMS = 1e-3  # -60 dBFS over the whole file (or piece)
SPLIT_DIRS = ("train", "eval")
MANIFEST_SPLIT = {"train": "train", "eval": "test"}  # the split label data_pipelines.manifest uses


class PackageUnavailable(FileNotFoundError):
    """The sound files are neither installed nor fetchable with apt."""


class Skip(Exception):
    """A source file that is not used (short, silent, narrowband, missing or undecodable)."""

    def __init__(self, category: str, detail: str = ""):
        super().__init__(category)
        self.category, self.detail = category, detail


# ---------------------------------------------------------------------------------------- decode

def _decode_av(path: str, fmt: str | None) -> tuple[np.ndarray, int]:
    import av  # FFmpeg; only needed for G.722 (and anything soundfile cannot read)
    try:
        with av.open(path, format=fmt) as container:
            if not container.streams.audio:
                raise Skip("corrupt", "no audio stream")
            stream = container.streams.audio[0]
            rate = 16_000 if fmt == "g722" else int(stream.rate or stream.codec_context.sample_rate)
            chunks = []
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                channels = len(frame.layout.channels)
                a = a.T if frame.format.is_planar else a.reshape(-1, channels)  # -> [T, C]
                if a.dtype.kind == "i":
                    a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
                chunks.append(to_mono(a.astype(np.float32)))
    except Skip:
        raise
    except Exception as e:  # PyAV raises many error types for bad input
        raise Skip("corrupt", f"{type(e).__name__}: {e}") from None
    x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return x.astype(np.float32), rate


def decode(path: str) -> tuple[np.ndarray, int]:
    """A source file as float32 mono at its own rate; raises Skip('corrupt') if undecodable."""
    if path.lower().endswith(".g722"):
        x, rate = _decode_av(path, "g722")
    else:
        try:
            y, rate = sf.read(path, dtype="float32", always_2d=True)
            x = to_mono(y)
        except Exception:
            x, rate = _decode_av(path, None)
    if not np.isfinite(x).all():
        raise Skip("corrupt", "non-finite samples")
    return x, int(rate)


def check(x: np.ndarray, rate: int, min_seconds: float, min_rate: int) -> None:
    """Raises Skip for a narrowband source, one shorter than min_seconds or a silent one."""
    if rate < min_rate:
        raise Skip("narrowband", f"{rate} Hz < {min_rate} Hz")
    if len(x) < min_seconds * rate:
        raise Skip("short", f"{len(x) / max(rate, 1):.2f} s < {min_seconds:g} s")
    if float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) < SILENCE_RMS:
        raise Skip("silent", "RMS below -60 dBFS")


def write_flac(path: str, x: np.ndarray) -> None:
    """16-bit mono FLAC at SAMPLE_RATE (x must already be at that rate)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.flac"
    sf.write(tmp, np.clip(x, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    os.replace(tmp, path)  # atomic: an interrupted run never leaves a half-written file


def previous_output(path: str, kind: str, label: str) -> AudioFile | None:
    """The output file if a previous run wrote it (a rerun keeps it); None if it must be written.

    A file that no longer reads (damaged by someone else) is removed so that it is written again.
    """
    if not os.path.exists(path):
        return None
    try:
        return probe(path, kind, label)
    except AudioReadError:
        os.remove(path)
        return None


def piece_bounds(frames: int, rate: int, segment_s: float, min_seconds: float) -> list[int]:
    """Cut points [0, ..., frames] for pieces of segment_s seconds (0: one piece); a tail shorter
    than min_seconds joins the piece before it."""
    step = int(segment_s * rate) if segment_s > 0 else frames
    bounds = list(range(0, frames, max(step, 1))) + [frames]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < min_seconds * rate:
        del bounds[-2]
    return bounds


def write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.3f} h ({seconds / 60:.1f} min)"


# -------------------------------------------------------------------------------------- packages

def dpkg_version(package: str) -> str:
    """The installed version of a package ("" if not installed or dpkg is missing)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def install_hint(packages: Iterable[str]) -> str:
    return "sudo apt-get install -y --no-install-recommends " + " ".join(sorted(set(packages)))


# Refuse links and paths leaving dest (Python >= 3.11.4; older ones extract without the check).
_SAFE = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _extract(deb: str, dest: str, patterns: Sequence[str]) -> None:
    """Only the members matching the glob patterns (paths like usr/share/...), streamed: a game's
    data package can unpack to gigabytes of which a recipe needs a few megabytes."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if (member.isfile() or member.issym()) and any(
                        fnmatch.fnmatchcase(name, p) for p in patterns):
                    member.name = name
                    tar.extract(member, dest, **_SAFE)
        proc.stdout.close()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, ["dpkg-deb", "--fsys-tarfile", deb])


def fetch_packages(packages: Sequence[str], dest: str, *, what: str = "sound packages",
                   members: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """`apt-get download` + `dpkg-deb -x` (no root needed) into dest; returns {package: version}.

    The files land below dest as below / (dest/usr/share/...). members: {package: glob patterns}
    to unpack only those paths of a package (default: all of it). Raises PackageUnavailable naming
    the `apt-get install` command when apt is missing or the download fails.
    """
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise PackageUnavailable(f"the {what} {', '.join(packages)} are not installed and apt is "
                                 f"unavailable; install them with: {install_hint(packages)}")
    debs = os.path.join(dest, "debs")
    os.makedirs(debs, exist_ok=True)
    versions = {}
    for package in packages:
        log.info("fetching %s with apt-get download (no root needed)", package)
        got = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True,
                             text=True, timeout=900)
        found = [f for f in os.listdir(debs) if f.startswith(package + "_") and f.endswith(".deb")]
        if got.returncode != 0 or not found:
            raise PackageUnavailable(f"could not fetch {package} with `apt-get download` "
                                     f"({got.stderr.strip()[-300:]}); install it with: "
                                     f"{install_hint([package])} (or run `apt-get update` first)")
        deb = os.path.join(debs, found[0])
        if members and members.get(package):
            _extract(deb, dest, members[package])
        else:
            subprocess.run(["dpkg-deb", "-x", deb, dest], check=True, timeout=300)
        version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True,
                                 text=True, timeout=60).stdout.strip()
        versions[package] = f"{version} (fetched with apt-get download)"
        os.remove(deb)  # the unpacked files are all that is needed
    return versions
