"""The real-noise recipe on a tiny fake package root (no Debian packages needed): split by whole
source packages, archives (.pk3 zip, OpenTTD .cat), skip-and-count, reruns, provenance, CLI."""

import io
import os
import shutil
import struct
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.manifest import read_manifest
from data_pipelines.recipes import common, noise
from data_pipelines.recipes.common import PackageUnavailable
from data_pipelines.recipes.noise import PACKAGES, RECORDINGS, prepare_noise, read_cat
from data_pipelines.sources import open_source
from tests.conftest import sscodec


def _noise(seconds: float, rate: int = 44_100, level: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(int(seconds * rate))).astype(np.float32)


def _audio(x: np.ndarray, rate: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="VORBIS" if fmt == "OGG" else "PCM_16")
    return buf.getvalue()


def _put(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _cat(entries: dict[str, bytes]) -> bytes:
    """An OpenTTD sound catalogue: (offset, size) pairs, then length-prefixed name + WAV."""
    head, body = 8 * len(entries), b""
    table = b""
    for title, wav in entries.items():
        name = f'"{title}". By someone. License: Creative Commons Zero 1.0.'.encode() + b"\0"
        entry = bytes([len(name)]) + name + wav
        table += struct.pack("<II", head + len(body), len(entry))
        body += entry
    return table + body


# The fake root's recordings, by (source, name); the bad ones are listed in the fixture.
USED = {("ufoai", "fire"), ("ufoai", "minepump03"), ("ufoai", "water01"),
        ("megaglest", "autumn_rain"), ("etr", "snow_slide"), ("etr", "grass_slide"),
        ("etr", "rock_slide"), ("opensfx", "wind"), ("opensfx", "helicopter"),
        ("opensfx", "sawmill"), ("minetest", "water_1"), ("minetest", "fire_1"),
        ("minetest", "furnace")}
SUBSET = tuple(r for r in RECORDINGS if (r.source, r.name) in USED)


@pytest.fixture
def package_root(tmp_path):
    """The packages' files below a fake /. Bad: ufoai water01 (corrupt), etr snow (8 kHz), etr
    grass (0.4 s), minetest furnace (silent), opensfx sawmill (not in the catalogue) -> 5 skipped.
    """
    root = tmp_path / "root"
    with zipfile.ZipFile(_mk(root, noise.UFOAI_PK3), "w") as z:
        z.writestr("sound/ambience/fire.ogg", _audio(_noise(2.0), 44_100, "OGG"))
        z.writestr("sound/ambience/minepump03.ogg", _audio(_noise(5.0, 48_000, seed=1), 48_000,
                                                          "OGG"))
        z.writestr("sound/ambience/water01.ogg", b"OggS" + b"\x00garbage" * 50)
    mega = root / noise.MEGAGLEST / "autumn" / "sounds"
    _put(mega / "rain.ogg", _audio(_noise(1.5, seed=2), 44_100, "OGG"))
    etr = root / noise.ETR
    _put(etr / "snow_slide.wav", _audio(_noise(2.0, 8000), 8000, "WAV"))
    _put(etr / "grass_slide.wav", _audio(_noise(0.4), 44_100, "WAV"))
    _put(etr / "rock_slide.wav", _audio(_noise(1.2, seed=3), 44_100, "WAV"))
    _put(root / noise.OPENSFX_CAT, _cat({
        "Wind": _audio(_noise(1.3, seed=4), 44_100, "WAV"),
        "Helicopter": _audio(_noise(1.1, seed=5), 44_100, "WAV"),
        "Beep": _audio(_noise(0.1), 44_100, "WAV")}))
    mods = root / noise.MINETEST
    _put(mods / "env_sounds" / "sounds" / "env_sounds_water.1.ogg",
         _audio(_noise(1.4, 48_000, seed=6), 48_000, "OGG"))
    _put(mods / "fire" / "sounds" / "fire_fire.1.ogg", _audio(_noise(1.2, seed=7), 44_100, "OGG"))
    _put(mods / "default" / "sounds" / "default_furnace_active.ogg",
         _audio(np.zeros(44_100 * 2, np.float32), 44_100, "OGG"))
    return root


def _mk(root, rel: str) -> str:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _prepare(out, root, **kw):
    kw = {"segment_s": 1.0, "max_seconds": 3.0, "progress": False, "recordings": SUBSET, **kw}
    return prepare_noise(str(out), str(root), **kw)


def test_split_by_whole_sources(tmp_path, package_root):
    out = tmp_path / "out"
    summary = _prepare(out, package_root)
    train, train_bad = read_manifest(str(out / "train" / "manifest.jsonl"))
    evals, eval_bad = read_manifest(str(out / "eval" / "manifest.jsonl"))
    assert not train_bad and not eval_bad

    def sources(files):
        return {os.path.relpath(f.path, out).split(os.sep)[2] for f in files}

    assert sources(train) == {"ufoai", "megaglest", "etr"}
    assert sources(evals) == {"opensfx", "minetest"}
    assert {f.kind for f in train + evals} == {"noise"}
    assert {f.split for f in train} == {"train"} and {f.split for f in evals} == {"test"}
    for f in train + evals:
        info = sf.info(f.path)
        assert (info.samplerate, info.channels, info.format) == (24_000, 1, "FLAC")
    # A long recording keeps its first max_seconds, cut into segment_s pieces; short ones whole.
    pump = sorted(os.listdir(out / "train" / "noise" / "ufoai"))
    assert pump == ["fire_000.flac", "fire_001.flac", "minepump03_000.flac",
                    "minepump03_001.flac", "minepump03_002.flac"]
    assert abs(sum(f.duration for f in train if "minepump03" in f.path) - 3.0) < 0.01
    wind = out / "eval" / "noise" / "opensfx" / "wind.flac"  # read from the .cat by its title
    assert abs(sf.info(str(wind)).duration - 1.3) < 0.01
    # Skipped files counted (and listed with package-relative paths), not fatal.
    assert summary["skip_counts"] == {"corrupt": 1, "narrowband": 1, "short": 1, "silent": 1,
                                      "missing": 1}
    provenance = (out / "PROVENANCE.md").read_text()
    assert ("`ufoai-sound:/usr/share/games/ufoai/base/0snd.pk3#sound/ambience/water01.ogg`: "
            "corrupt") in provenance
    assert "`openttd-opensfx:/usr/share/games/openttd/baseset/opensfx/opensfx.cat#Sawmill`: " \
           "missing" in provenance
    assert "lorenzosu" in provenance and "CC-BY-SA-3.0" in provenance and "CC0-1.0" in provenance
    body = provenance.split("## Packages", 1)[1]
    assert str(tmp_path) not in body  # only the header names the explicit root
    assert summary["splits"]["train"]["source_recordings"] == {"etr": 1, "megaglest": 1,
                                                                "ufoai": 2}
    assert summary["splits"]["eval"]["source_recordings"] == {"minetest": 2, "opensfx": 2}


def test_rerun_keeps_files(tmp_path, package_root):
    out = tmp_path / "out"
    first = _prepare(out, package_root)
    flacs = sorted(str(p) for p in out.rglob("*.flac"))
    mtimes = [os.stat(p).st_mtime_ns for p in flacs]
    manifest = (out / "eval" / "manifest.jsonl").read_text()
    second = _prepare(out, package_root)
    assert first["written"] == len(flacs) > 0 and first["existing"] == 0
    assert second["written"] == 0 and second["existing"] == len(flacs)
    assert [os.stat(p).st_mtime_ns for p in flacs] == mtimes
    assert (out / "eval" / "manifest.jsonl").read_text() == manifest
    assert second["skip_counts"] == first["skip_counts"]
    os.remove(flacs[0])
    assert _prepare(out, package_root)["written"] == 1


def test_sources_are_checked(tmp_path, package_root):
    with pytest.raises(ValueError, match="eval sources"):
        _prepare(tmp_path / "o", package_root, eval_sources=("wesnoth",))
    with pytest.raises(ValueError, match="eval sources"):
        _prepare(tmp_path / "o", package_root, eval_sources=tuple(PACKAGES))
    summary = _prepare(tmp_path / "o", package_root, eval_sources=("etr",))
    assert summary["eval_sources"] == ["etr"]
    assert set(summary["splits"]["train"]["sources"]) == {"ufoai", "megaglest", "opensfx",
                                                         "minetest"}
    shutil.rmtree(package_root / "usr" / "share" / "games" / "etr")
    with pytest.raises(FileNotFoundError, match="extremetuxracer-data"):
        _prepare(tmp_path / "o2", package_root)


def test_no_apt_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(noise, "DEFAULT_ROOT", str(tmp_path / "nothing"))
    monkeypatch.setattr(common.shutil, "which", lambda name: None)
    with pytest.raises(PackageUnavailable, match="apt-get install .*megaglest-data"):
        prepare_noise(str(tmp_path / "out"), progress=False)


def test_the_recordings_table():
    assert len(RECORDINGS) >= 30
    assert len({(r.source, r.name) for r in RECORDINGS}) == len(RECORDINGS)
    assert {r.source for r in RECORDINGS} == set(PACKAGES)
    assert {r.license for r in RECORDINGS} <= {"CC0-1.0", "CC-BY-3.0", "CC-BY-SA-3.0", "GPL-2",
                                               "GPL-2+"}
    assert all(r.credit and r.what for r in RECORDINGS)
    assert set(noise.DEFAULT_EVAL_SOURCES) < set(PACKAGES)


def test_read_cat_keys_entries_by_title(tmp_path):
    wav = _audio(_noise(0.2), 44_100, "WAV")
    _put(tmp_path / "x.cat", _cat({"Wind": wav, "Lumber mill: Chainsaw": wav[:100]}))
    entries = read_cat(str(tmp_path / "x.cat"))
    assert entries == {"Wind": wav, "Lumber mill: Chainsaw": wav[:100]}
    _put(tmp_path / "bad.cat", b"\xff\xff\x00\x00")
    with pytest.raises(common.Skip, match="corrupt"):
        read_cat(str(tmp_path / "bad.cat"))


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_fetch_unpacks_only_the_sound_files(tmp_path):
    pkg = tmp_path / "pkg"
    _put(pkg / "usr/share/games/x/sounds/a.ogg", b"a")
    _put(pkg / "usr/share/games/x/textures/t.png", b"t")
    _put(pkg / "DEBIAN/control", b"Package: x\nVersion: 1\nArchitecture: all\n"
                                 b"Maintainer: a <a@b>\nDescription: x\n")
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(tmp_path / "x.deb")],
                   check=True, capture_output=True)
    common._extract(str(tmp_path / "x.deb"), str(tmp_path / "dest"), ["usr/share/games/x/sounds/*"])
    got = sorted(str(p.relative_to(tmp_path / "dest")) for p in (tmp_path / "dest").rglob("*")
                 if p.is_file())
    assert got == ["usr/share/games/x/sounds/a.ogg"]


def test_cli_end_to_end(tmp_path, package_root):
    out = tmp_path / "out"
    result = sscodec("data", "prepare", "noise", "--data-dir", str(out),
                     "--manual-dir", str(package_root))
    text = result.stdout.decode()
    # The full table on the fake root: what is not there is counted as missing, not fatal.
    assert "eval: noise" in text and "opensfx" in text and "1 corrupt" in text and "missing" in text
    evals = open_source(str(out / "eval"), kinds=("noise",))
    assert len(evals) == 4  # opensfx wind + helicopter, minetest water_1 + fire_1
    train = open_source(str(out / "train" / "manifest.jsonl"), kinds=("noise",))
    assert len(train) == 4  # each under the default 10 s pieces: one file per recording
    bad = sscodec("data", "prepare", "noise", "--manual-dir", str(package_root), check=False)
    assert bad.returncode == 2 and b"--data-dir" in bad.stderr
