"""Real recorded background noise from Debian game-data packages, split by whole source packages.

Five packages in Debian main ship field and foley recordings as game ambience (OpenSFX's and
Minetest's from freesound.org, some of MegaGlest's from soundbible.com); `RECORDINGS` picks the
steady, noise-like ones, 16 kHz or more:

  source     package               what                                     licence
  ufoai      ufoai-sound           fire, water, fountain, thunder, mine     per file: CC-BY-SA-3.0,
                                   pump, crickets, steam, city ambience     GPL-2, GPL-2+, CC-BY-3.0
  megaglest  megaglest-data        forest / desert / meadow ambience by     CC-BY-SA-3.0
                                   day and night (birds, insects), rain,
                                   wind
  etr        extremetuxracer-data  sliding on snow, ice, grass, leaves,     GPL-2+
                                   mud, rock
  opensfx    openttd-opensfx       engines, jets, helicopter, buses,        per file: CC-BY-3.0,
                                   jackhammer, chainsaw, saw, machinery,    CC-BY-SA-3.0, CC0-1.0
                                   sparks, applause, wind
  minetest   minetest-data         flowing water, lava, fire, furnace       per file: CC0-1.0,
                                                                            CC-BY-3.0

(licences from /usr/share/doc/PKG/copyright; the per-file credits and licences of ufoai-sound come
from its copyright file, those of openttd-opensfx from the titles in its opensfx.cat, those of
minetest-data from the mods' README.txt). `prepare_noise` decodes each recording to mono, keeps its
first `max_seconds`, resamples it to 24 kHz (soxr) and writes 16-bit FLAC:

  OUT/train/noise/<source>/<name>.flac      the training sources (default ufoai, megaglest, etr)
  OUT/eval/noise/<source>/<name>.flac       the held-out sources (default opensfx, minetest): no
                                            recording of theirs is trained on
  (a recording longer than `segment_s` is cut into <name>_NNN.flac pieces)
  OUT/train/manifest.jsonl, OUT/eval/manifest.jsonl   (data_pipelines.manifest format)
  OUT/PROVENANCE.md          packages, versions, every recording's credit and licence, minutes per
                             split, skipped files

A source is a whole package, so files cut from one original (minetest's four water loops, its
four fire files from one Dynamicell recording) can never straddle the split. Either `OUT/train`
or its manifest can be given to `--config.data.noise`. Recordings shorter than `min_seconds`,
silent ones, narrowband ones (below 16 kHz), missing and undecodable ones are skipped and counted,
never fatal. Existing output files are kept (a rerun only fills in what is missing). Missing
packages are fetched without root (`apt-get download`, then only the sound files are unpacked
into a temporary folder).

Not used: lincity-ng-data's city sounds (nearly all 11 kHz), ufoai-sound's designed alien
ambience and the files band-limited to 4 kHz (water.ogg, tv_static, wind_turbine, arcticwind,
sparks), megaglest-data's single animal calls and hell.ogg, and OpenSFX's horns, beeps and
Toyland mixes. wesnoth-1.16-data also has a few short ambient loops (GPL-2+), not worth its
146 MB download.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import os
import struct
import tempfile
import zipfile
from typing import Sequence

from tqdm.auto import tqdm

from data_pipelines.audio_io import AudioFile, probe, resample
from data_pipelines.manifest import write_manifest
from data_pipelines.recipes.common import (MANIFEST_SPLIT, SAMPLE_RATE, SPLIT_DIRS,
                                           PackageUnavailable, Skip, check, decode, dpkg_version,
                                           fetch_packages, hours, install_hint, piece_bounds,
                                           previous_output, write_flac, write_text)

log = logging.getLogger(__name__)

DEFAULT_ROOT = "/"
DEFAULT_EVAL_SOURCES = ("opensfx", "minetest")
KIND = "noise"


@dataclasses.dataclass(frozen=True)
class Package:
    name: str  # the Debian package
    what: str
    license: str  # as /usr/share/doc/PKG/copyright states it
    credit: str
    extract: tuple[str, ...]  # globs of the paths the recipe reads (only these are unpacked)


@dataclasses.dataclass(frozen=True)
class Recording:
    source: str  # a PACKAGES key: the folder OUT/<split>/noise/<source>/ and the unit of the split
    name: str  # output file stem
    path: str  # the file below / (e.g. usr/share/games/etr/sounds/snow_slide.wav)
    member: str  # in an archive: a zip (.pk3) member or the title of an OpenTTD .cat entry
    what: str
    credit: str
    license: str

    def where(self, package: str) -> str:
        """Package-relative location (never a temporary path), for PROVENANCE.md."""
        return f"{package}:/{self.path}" + (f"#{self.member}" if self.member else "")


UFOAI_PK3 = "usr/share/games/ufoai/base/0snd.pk3"
OPENSFX_CAT = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
MEGAGLEST = "usr/share/games/megaglest/tilesets"
MINETEST = "usr/share/games/minetest/games/minetest_game/mods"
ETR = "usr/share/games/etr/sounds"

PACKAGES = {
    "ufoai": Package(
        "ufoai-sound", "UFO: Alien Invasion sound effects (zip archive base/0snd.pk3)",
        "GPL-2+ (package); per file CC-BY-SA-3.0, GPL-2, GPL-2+ or CC-BY-3.0",
        "© 2002-2014 The UFO:AI Team and the authors named per file", (UFOAI_PK3,)),
    "megaglest": Package(
        "megaglest-data", "MegaGlest tilesets' ambient loops", "CC-BY-SA-3.0",
        "© 2001-2008 The Glest Team, 2008-2017 The MegaGlest Team; tilesets by Titus Tscharntke, "
        "Philipp Tscharntke, Idanwin; the package credits Elimnator (soundbible.com) for the "
        "autumn day, autumn night and desert day sounds and dobroide for the spring daytime "
        "sounds", (f"{MEGAGLEST}/*/sounds/*",)),
    "etr": Package(
        "extremetuxracer-data", "Extreme Tux Racer's sliding sounds", "GPL-2+",
        "© 1999-2001 Jasmin F. Patry (Tux Racer), 2004-2005 Volker Stroebel, 2010-2022 Extreme "
        "Tux Racer Team", (f"{ETR}/*",)),
    "opensfx": Package(
        "openttd-opensfx", "OpenSFX, OpenTTD's free base sound set (catalogue opensfx.cat)",
        "CC-BY-SA-3.0 as a whole; per file CC-BY-3.0, CC-BY-SA-3.0 or CC0-1.0",
        "OpenSFX contributors; recordings from freesound.org and pdsounds.org, edited by Wuzzy "
        "and Janis Lukss (authors per file)", (OPENSFX_CAT,)),
    "minetest": Package(
        "minetest-data", "Minetest Game's environment, fire and furnace sounds",
        "CC-BY-SA-3.0 (package's *.ogg); per file CC0-1.0 or CC-BY-3.0 (the mods' README.txt)",
        "Minetest Game contributors; recordings by the freesound.org users named per file",
        (f"{MINETEST}/*/sounds/*",)),
}


def _ufoai(name: str, what: str, group: str) -> Recording:
    # The copyright file names a group of authors per licence, not the author of each file.
    credit, license_ = {
        "by-sa": ('UFO:AI; authors of this group: "Marine" Baklund, Gren, Christian Hoffmann, '
                  "Slippycurb", "CC-BY-SA-3.0"),
        "gpl2": ("UFO:AI; authors of this group: OpenArena, Al Riddoch, Simon Green (Psymong), "
                 "Alex Parker, Paul Bee, Karen Rei Pease, Draikon, Nexuiz GPLed data", "GPL-2"),
        "gpl2+": ('UFO:AI; authors of this group: Axis REC, Martin Gerhardy, Nexuiz, Max Neave, '
                  'Michael "Tenshihan" Quinn', "GPL-2+"),
        "by": ('UFO:AI; authors of this group: Manuel "Vanethian" Marino, Gren, David Reeves '
               "(Destructavator), azrael1322, Karl Macklin", "CC-BY-3.0"),
    }[group]
    return Recording("ufoai", name, UFOAI_PK3, f"sound/ambience/{name}.ogg", what, credit,
                     license_)


def _megaglest(tileset: str, file: str, what: str, credit: str) -> Recording:
    return Recording("megaglest", f"{tileset}_{os.path.splitext(file)[0]}",
                     f"{MEGAGLEST}/{tileset}/sounds/{file}", "", what, credit, "CC-BY-SA-3.0")


def _opensfx(name: str, title: str, what: str, credit: str, license_: str) -> Recording:
    return Recording("opensfx", name, OPENSFX_CAT, title, what, credit, license_)


def _minetest(mod: str, file: str, name: str, what: str, credit: str, license_: str
              ) -> Recording:
    return Recording("minetest", name, f"{MINETEST}/{mod}/sounds/{file}", "", what, credit,
                     license_)


_TITI = "tileset by Titus Tscharntke"
_GLEST = "The Glest / MegaGlest teams"
_ELIMNATOR = "Elimnator (soundbible.com)"
RECORDINGS: tuple[Recording, ...] = (
    _ufoai("city_abnd_ufoai_atm", "abandoned city ambience", "gpl2+"),
    _ufoai("cricket_loop", "crickets", "gpl2+"),
    _ufoai("fire", "fire", "by-sa"),
    *(_ufoai(f"fire0{i}", "fire", "by-sa") for i in (3, 4, 5, 6)),
    _ufoai("fire1", "fire", "gpl2"),
    _ufoai("fire2", "fire", "gpl2"),
    _ufoai("firesoft", "soft fire", "gpl2"),
    _ufoai("smallfire", "small fire", "by-sa"),
    _ufoai("minepump03", "mine pump", "by"),
    _ufoai("steam", "steam hiss", "gpl2+"),
    *(_ufoai(f"thunder{i}", "thunder", "by-sa") for i in (1, 2, 3)),
    *(_ufoai(f"water0{i}", "water", "by-sa") for i in (1, 2, 3)),
    _ufoai("waterfontain", "water fountain", "by-sa"),
    _megaglest("autumn", "nightime.ogg", "night: insects", f"{_ELIMNATOR}; {_TITI}"),
    _megaglest("autumn", "rain.ogg", "rain", _TITI),
    _megaglest("autumn", "sunny_day.ogg", "day: birds", f"{_ELIMNATOR}; {_TITI}"),
    _megaglest("birch_forest", "day.ogg", "forest by day: birds", _GLEST),
    _megaglest("birch_forest", "night.ogg", "forest at night", _GLEST),
    _megaglest("birch_forest", "rain.ogg", "rain", _GLEST),
    _megaglest("dark_forest", "day.ogg", "forest by day: birds", _GLEST),
    _megaglest("dark_forest", "night.ogg", "forest at night: insects", _GLEST),
    _megaglest("dark_forest", "rain.ogg", "rain", _GLEST),
    _megaglest("desert2", "day.ogg", "desert by day", "tileset by Idanwin and Titus Tscharntke"),
    _megaglest("desert2", "night.ogg", "desert at night: insects",
               "tileset by Idanwin and Titus Tscharntke"),
    _megaglest("desert2", "rain.wav", "rain", "tileset by Idanwin and Titus Tscharntke"),
    _megaglest("fernland", "day.ogg", "jungle by day: birds", _TITI),
    _megaglest("fernland", "night.ogg", "jungle at night: insects", _TITI),
    _megaglest("mediterran", "desertday.ogg", "dry land by day: insects",
               f"{_ELIMNATOR} (the package's 'desert day sound'); {_TITI}"),
    _megaglest("mediterran", "night.ogg", "night", _TITI),
    _megaglest("spring", "day.ogg", "meadow by day: birds",
               "dobroide (spring daytime sounds); tileset by Philipp Tscharntke"),
    _megaglest("winter", "wind.ogg", "wind", _TITI),
    *(Recording("etr", f"{s}_slide", f"{ETR}/{s}_slide.wav", "", f"sliding on {s}",
                "Tux Racer / Extreme Tux Racer teams", "GPL-2+")
      for s in ("grass", "ice", "leaves", "mud", "rock", "snow")),
    _opensfx("propeller_plane", "Propeller plane start", "propeller plane starting",
             'original "Plane Cessna start stop.wav" by Cheeseheadburger, edited by Wuzzy',
             "CC-BY-3.0"),
    _opensfx("jet_early", "Early jet take off", "jet taking off",
             'original "Passenger jet departs 2.wav" by www.digifishmusic.com, edited by Wuzzy',
             "CC-BY-3.0"),
    _opensfx("mining_machinery", "Mining machinery", "lift machinery",
             "original \"L'ascenseur - Elevator\" by Aldor (public domain), edited by Janis Lukss",
             "CC-BY-3.0"),
    _opensfx("electric_sparking", "Electric sparking", "electric arcs",
             'original "JacobsLadderLong2.flac" by Halleck, edited by Janis Lukss', "CC-BY-3.0"),
    _opensfx("helicopter", "Helicopter", "helicopter",
             'original "helicopterRaw_16sec.wav" by lorenzosu, edited by Wuzzy', "CC-BY-SA-3.0"),
    _opensfx("truck_start", "Truck/old bus start, pull away", "truck pulling away",
             'original "file0375.mp3" by saphix, edited by Wuzzy', "CC0-1.0"),
    _opensfx("bus_start", "Modern bus start", "bus pulling away",
             'original "london bus approaches & leaves.wav" by icmusic, edited by Janis Lukss',
             "CC-BY-3.0"),
    _opensfx("old_bus_start", "Old bus start", "old bus pulling away",
             'original "t_start1.mp3" by roscoetoon, edited by Janis Lukss', "CC-BY-3.0"),
    _opensfx("applause", "Applause", "crowd applauding",
             'original "Approx 850 - Enthusiast Audience.wav" by lonemonk, edited by Wuzzy',
             "CC-BY-3.0"),
    _opensfx("jackhammer", "Jackhammer", "jackhammer",
             'original "air hammer half close.wav" by Bluesy1905, cut and edited by Wuzzy',
             "CC-BY-3.0"),
    _opensfx("sawmill", "Sawmill", "circular saw",
             'original "Circular saw crosscutting.wav" by Benboncan, edited by Wuzzy', "CC-BY-3.0"),
    _opensfx("wind", "Wind", "wind",
             'original "wind1.wav" by Anton, edited by Janis Lukss', "CC-BY-3.0"),
    _opensfx("chainsaw", "Lumber mill: Chainsaw", "chainsaw",
             'original "CHAINSAW.wav" by JFBSAUVE, edited by Janis Lukss', "CC-BY-3.0"),
    _opensfx("jet_mach1", "Mach 1+ Jet take off", "jet taking off",
             'original "Landing Jet 5 (Close).wav" by bigpickle51, edited by Wuzzy', "CC-BY-3.0"),
    _opensfx("jet_modern", "Modern jet take off", "jets passing",
             'original "5_Navy-Blue-Angels-jets_CLIP.wav" by ibisradio, edited by Wuzzy',
             "CC0-1.0"),
    *(_minetest("env_sounds", f"env_sounds_water.{i}.ogg", f"water_{i}", "flowing water",
                "Yuval (freesound.org/people/Yuval/sounds/197023)", "CC0-1.0")
      for i in (1, 2, 3, 4)),
    *(_minetest("env_sounds", f"env_sounds_lava.{i}.ogg", f"lava_{i}", "bubbling lava",
                "Halion (freesound.org/people/Halion/sounds/17785)", "CC0-1.0") for i in (1, 2)),
    *(_minetest("fire", f"fire_fire.{i}.ogg", f"fire_{i}", "fire",
                "Dynamicell (freesound.org/people/Dynamicell/sounds/17548)", "CC-BY-3.0")
      for i in (1, 2, 3)),
    _minetest("fire", "fire_large.ogg", "fire_large", "large fire",
              "Dynamicell (freesound.org/people/Dynamicell/sounds/17548)", "CC-BY-3.0"),
    _minetest("fire", "fire_small.ogg", "fire_small", "small fire",
              "dobroide (freesound.org/people/dobroide/sounds/4211)", "CC-BY-3.0"),
    _minetest("default", "default_furnace_active.ogg", "furnace", "furnace burning",
              "iankath (freesound.org/people/iankath/sounds/173991)", "CC0-1.0"),
)


# -------------------------------------------------------------------------------------- archives

def read_cat(path: str) -> dict[str, bytes]:
    """An OpenTTD sound catalogue (.cat) as {title: WAV bytes}.

    The file starts with (offset, size) uint32 pairs, one per entry (the first offset / 8 is the
    count); an entry is a length-prefixed name, then the WAV file. The name is the sound's title
    in quotes, then its credit and licence; the title is the key.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
        entries = {}
        for i in range(count):
            offset, size = struct.unpack_from("<II", data, 8 * i)
            offset &= 0x7FFFFFFF  # the high bit flags a WAV entry
            if offset + size > len(data):
                raise ValueError(f"entry {i} runs past the end")
            name_len = data[offset]
            name = data[offset + 1:offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
            title = name.split('"')[1] if name.startswith('"') else name
            entries.setdefault(title, data[offset + 1 + name_len:offset + size])
    except (struct.error, ValueError, IndexError) as e:
        raise Skip("corrupt", f"not an OpenTTD sound catalogue ({e})") from None
    return entries


class _Archives:
    """Reads archive members into files in a temporary folder (decode() takes a path)."""

    def __init__(self, tmp: str):
        self.tmp, self.cats = tmp, {}

    def file(self, root: str, rec: Recording) -> str:
        path = os.path.join(root, rec.path)
        if not os.path.isfile(path):
            raise Skip("missing", "not in the package")
        if not rec.member:
            return path
        if path.endswith(".cat"):
            if path not in self.cats:
                self.cats[path] = read_cat(path)
            data = self.cats[path].get(rec.member)
            ext = ".wav"
        else:
            try:
                with zipfile.ZipFile(path) as z:
                    data = z.read(rec.member) if rec.member in z.namelist() else None
            except zipfile.BadZipFile as e:
                raise Skip("corrupt", f"zip: {e}") from None
            ext = os.path.splitext(rec.member)[1]
        if data is None:
            raise Skip("missing", "not in the archive")
        out = os.path.join(self.tmp, "members", rec.source, rec.name + ext)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        return out


# ------------------------------------------------------------------------------------------ main

def prepare_noise(out_dir: str, package_root: str | None = None, *,
                  eval_sources: Sequence[str] = DEFAULT_EVAL_SOURCES,
                  recordings: Sequence[Recording] = RECORDINGS,
                  segment_s: float = 10.0, max_seconds: float = 60.0, min_seconds: float = 1.0,
                  min_source_rate: int = 16_000, fetch: bool = True,
                  progress: bool | None = None) -> dict:
    """Builds OUT/{train,eval}/noise/<source>/ (24 kHz FLAC), manifests and PROVENANCE.md.

    package_root: a folder laid out like / holding the packages' files (usr/share/games/...);
    default / with missing packages fetched by `apt-get download` when `fetch`; an explicit root
    is read as is. eval_sources: PACKAGES keys held out whole for evaluation. Each recording keeps
    its first max_seconds (0: all) and is cut into segment_s pieces (0: whole). Returns a summary
    dict (also written to PROVENANCE.md): seconds per split and source, every recording, counts
    and the skipped files.
    """
    sources = list(dict.fromkeys(r.source for r in recordings))
    eval_sources = list(dict.fromkeys(eval_sources))
    unknown = sorted(set(sources) - set(PACKAGES))
    if unknown:
        raise ValueError(f"recordings of unknown sources {unknown}; sources: {sorted(PACKAGES)}")
    absent = sorted(set(eval_sources) - set(sources))
    train_sources = [s for s in sources if s not in eval_sources]
    if absent or not train_sources or not eval_sources:
        raise ValueError(f"eval sources {eval_sources} must be some but not all of the sources "
                         f"{sources} (train: {train_sources})")
    names = collections.Counter((r.source, r.name) for r in recordings)
    if max(names.values()) > 1:
        raise ValueError(f"two recordings share an output name: "
                         f"{[k for k, n in names.items() if n > 1]}")
    out_dir = os.path.abspath(os.path.expanduser(out_dir))
    explicit = package_root is not None
    root = os.path.abspath(os.path.expanduser(package_root or DEFAULT_ROOT))

    with tempfile.TemporaryDirectory(prefix="noise-debs-") as tmp:
        def present(source: str, base: str) -> bool:
            return any(os.path.isfile(os.path.join(base, r.path))
                       for r in recordings if r.source == source)

        roots = {s: root for s in sources}
        missing = [s for s in sources if not present(s, root)]
        versions = {}
        if missing and explicit:
            raise FileNotFoundError(
                f"{root}: no files of {[PACKAGES[s].name for s in missing]} (expected e.g. "
                + ", ".join(next(r.path for r in recordings if r.source == s) for s in missing)
                + " below it)")
        if missing and fetch:
            fetched = os.path.join(tmp, "root")
            versions.update(fetch_packages([PACKAGES[s].name for s in missing], fetched,
                                           what="noise packages",
                                           members={PACKAGES[s].name: PACKAGES[s].extract
                                                    for s in missing}))
            for s in missing:
                roots[s] = fetched
        elif missing:
            pkgs = [PACKAGES[s].name for s in missing]
            raise PackageUnavailable(f"{root}: not installed: {', '.join(pkgs)}; install with: "
                                     f"{install_hint(pkgs)}")
        still = [s for s in sources if not present(s, roots[s])]
        if still:
            pkgs = [PACKAGES[s].name for s in still]
            raise PackageUnavailable(f"no sound files found in {pkgs} even after fetching; "
                                     f"install with: {install_hint(pkgs)}")
        for s in sources:
            package = PACKAGES[s].name
            if package not in versions:
                versions[package] = (dpkg_version(package) or "unknown") if not explicit else \
                    "files from the root above"

        archives = _Archives(tmp)
        files: dict[str, list[AudioFile]] = {s: [] for s in SPLIT_DIRS}
        done: list[dict] = []
        skipped: list[tuple[str, str, str]] = []  # (package-relative source, category, detail)
        written = existing = 0
        show = len(recordings) >= 50 if progress is None else progress
        for rec in tqdm(recordings, desc="noise", unit="recording", disable=not show):
            split = "eval" if rec.source in eval_sources else "train"
            where = rec.where(PACKAGES[rec.source].name)
            try:
                x, rate = decode(archives.file(roots[rec.source], rec))
                check(x, rate, min_seconds, min_source_rate)
            except Skip as s:
                skipped.append((where, s.category, s.detail))
                continue
            full = len(x) / rate
            if max_seconds > 0:
                x = x[:int(max_seconds * rate)]
            bounds = piece_bounds(len(x), rate, segment_s, min_seconds)
            stem = os.path.join(out_dir, split, KIND, rec.source, rec.name)
            pieces = []
            for n, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
                out = f"{stem}_{n:03d}.flac" if len(bounds) > 2 else f"{stem}.flac"
                kept = previous_output(out, KIND, MANIFEST_SPLIT[split])
                if kept:
                    pieces.append(kept)
                    existing += 1
                    continue
                try:
                    check(x[start:end], rate, min_seconds, min_source_rate)
                except Skip as s:  # a silent stretch of an otherwise usable recording
                    skipped.append((f"{where} [{start / rate:.0f} s]", s.category, s.detail))
                    continue
                write_flac(out, resample(x[start:end], rate, SAMPLE_RATE))
                pieces.append(probe(out, KIND, MANIFEST_SPLIT[split]))
                written += 1
            files[split] += pieces
            if pieces:
                done.append({"split": split, "source": rec.source, "name": rec.name,
                             "package": PACKAGES[rec.source].name, "where": where,
                             "what": rec.what, "credit": rec.credit, "license": rec.license,
                             "source_rate": rate, "source_seconds": full,
                             "seconds": sum(f.duration for f in pieces), "files": len(pieces)})

    for split, entries in files.items():
        write_manifest(os.path.join(out_dir, split, "manifest.jsonl"), entries)
    summary = _summary(out_dir, done, skipped, written, existing, train_sources, eval_sources,
                       versions, root if explicit else "", segment_s, max_seconds, min_seconds)
    _write_provenance(os.path.join(out_dir, "PROVENANCE.md"), summary)
    return summary


# --------------------------------------------------------------------------------- provenance

def _summary(out_dir, done, skipped, written, existing, train_sources, eval_sources, versions,
             root, segment_s, max_seconds, min_seconds) -> dict:
    splits = {}
    for split in SPLIT_DIRS:
        mine = [d for d in done if d["split"] == split]
        per_source, per_files, per_recs = (collections.Counter(), collections.Counter(),
                                           collections.Counter())
        for d in mine:
            per_source[d["source"]] += d["seconds"]
            per_files[d["source"]] += d["files"]
            per_recs[d["source"]] += 1
        splits[split] = {
            "seconds": sum(per_source.values()), "files": sum(per_files.values()),
            "recordings": len(mine),
            "sources": {k: per_source[k] for k in sorted(per_source)},
            "source_files": {k: per_files[k] for k in sorted(per_files)},
            "source_recordings": {k: per_recs[k] for k in sorted(per_recs)},
        }
    return {
        "out_dir": out_dir, "source_root": root, "sample_rate": SAMPLE_RATE,
        "train_sources": list(train_sources), "eval_sources": list(eval_sources),
        "splits": splits, "recordings": done, "written": written, "existing": existing,
        "skipped": [{"source": s, "reason": c, "detail": d} for s, c, d in sorted(skipped)],
        "skip_counts": dict(collections.Counter(c for _, c, _ in skipped)),
        "packages": versions, "segment_s": segment_s, "max_seconds": max_seconds,
        "min_seconds": min_seconds,
    }


def _write_provenance(path: str, s: dict) -> None:
    origin = f"the files below `{s['source_root']}`" if s["source_root"] else "the packages below"
    lines = [
        "# Real recorded noise corpus: provenance and licences", "",
        f"Written by `data_pipelines/recipes/noise.py` (`sscodec data prepare noise`) on "
        f"{datetime.date.today().isoformat()} from {origin}. All files are "
        f"**{s['sample_rate'] // 1000} kHz mono 16-bit FLAC**, decoded from the packages' Ogg "
        "Vorbis and WAV files, mixed down to mono and resampled with soxr "
        "(`data_pipelines.audio_io.resample`)"
        + (f"; a recording longer than {s['max_seconds']:g} s keeps its first "
           f"{s['max_seconds']:g} s" if s["max_seconds"] > 0 else "")
        + (f"; longer ones are cut into {s['segment_s']:g} s pieces (`NAME_NNN.flac`)"
           if s["segment_s"] > 0 else "")
        + ". Nothing else is changed (no level change: the training pipeline peak-normalises "
        "each noise crop).", "",
        "**Split by whole source packages**: no recording of an eval source is in train. Train "
        f"sources: {', '.join(s['train_sources'])}; eval sources: {', '.join(s['eval_sources'])}. "
        "The manifests label eval files with split `test`.", "",
        "## Packages", "",
        "| source | package | version | content | licence (from /usr/share/doc/PKG/copyright) "
        "| credit |", "|---|---|---|---|---|---|",
    ]
    for source in s["train_sources"] + s["eval_sources"]:
        p = PACKAGES[source]
        lines.append(f"| {source} | {p.name} | {s['packages'].get(p.name, '')} | {p.what} | "
                     f"{p.license} | {p.credit} |")
    lines += ["", "## Minutes per split", "", "| split | source | recordings | files | duration |",
              "|---|---|---|---|---|"]
    for split, d in s["splits"].items():
        for source, sec in d["sources"].items():
            lines.append(f"| {split} | {source} | {d['source_recordings'][source]} | "
                         f"{d['source_files'][source]} | {hours(sec)} |")
        lines.append(f"| {split} | **all** | **{d['recordings']}** | **{d['files']}** | "
                     f"**{hours(d['seconds'])}** |")
    lines += ["", "## Recordings", "",
              "| split | file (below OUT/SPLIT/noise/) | from (package:/path#member) | content | "
              "credit | licence | source rate | used / source length | pieces |",
              "|---|---|---|---|---|---|---|---|---|"]
    for d in s["recordings"]:
        lines.append(f"| {d['split']} | {d['source']}/{d['name']} | `{d['where']}` | {d['what']} | "
                     f"{d['credit']} | {d['license']} | {d['source_rate']} Hz | "
                     f"{d['seconds']:.1f} s / {d['source_seconds']:.1f} s | {d['files']} |")
    lines += ["", "## Skipped source files", "",
              f"Recordings shorter than {s['min_seconds']:g} s, silent ones (RMS below -60 dBFS), "
              "sources below 16 kHz, files missing from a package and undecodable files are not "
              "used: " + (", ".join(f"{n} {c}" for c, n in sorted(s["skip_counts"].items()))
                          or "none") + ".", ""]
    lines += [f"* `{k['source']}`: {k['reason']} ({k['detail']})" for k in s["skipped"]]
    lines += [
        "", "## Attribution to keep with these files", "",
        "Sound effects from UFO: Alien Invasion (ufoai-sound; © The UFO:AI Team and the authors "
        "above; CC BY-SA 3.0, CC BY 3.0, GPL-2, GPL-2+ per file), MegaGlest (megaglest-data; "
        "© The Glest Team, The MegaGlest Team, Titus and Philipp Tscharntke, Idanwin, Elimnator, "
        "dobroide; CC BY-SA 3.0), Extreme Tux Racer (extremetuxracer-data; GPL-2+), OpenSFX "
        "(openttd-opensfx; the freesound.org / pdsounds.org authors above, edited by Wuzzy and "
        "Janis Lukss; CC BY 3.0, CC BY-SA 3.0, CC0 per file) and Minetest Game (minetest-data; "
        "Yuval, Halion, iankath: CC0; Dynamicell, dobroide: CC BY 3.0). Modified for sscodec: "
        "decoded, mixed to mono, resampled to 24 kHz, shortened and cut into pieces. These "
        "derived files keep their sources' licences (https://creativecommons.org/licenses/by-sa/"
        "3.0/, https://creativecommons.org/licenses/by/3.0/, https://creativecommons.org/"
        "publicdomain/zero/1.0/, /usr/share/common-licenses/GPL-2).", "",
        "Not used: lincity-ng-data's city sounds (nearly all 11 kHz); ufoai-sound's designed "
        "alien ambience, hum/hum2/machine1 (synthetic-looking), sand-city (flanged) and the files "
        "band-limited to 4 kHz (water.ogg, tv_static, wind_turbine, arcticwind, sparks); "
        "megaglest-data's single animal calls and hell.ogg; OpenSFX's horns, beeps, Toyland "
        "mixes, the heavy wind (the same recording as its wind), and the maglev and monorail "
        "departures (one mostly very quiet, one a tape-stop effect).", "",
    ]
    write_text(path, "\n".join(lines))


def format_summary(s: dict) -> str:
    """A few lines for the command line."""
    out = []
    for split, d in s["splits"].items():
        per = ", ".join(f"{k} {v / 60:.1f} min" for k, v in d["sources"].items())
        out.append(f"{os.path.join(s['out_dir'], split)}: noise {d['seconds'] / 60:.1f} min "
                   f"({d['recordings']} recordings, {d['files']} files: {per or 'none'})")
    out.append(f"{s['written']} files written, {s['existing']} already there; skipped: "
               + (", ".join(f"{n} {c}" for c, n in sorted(s["skip_counts"].items())) or "none")
               + f" (listed in {os.path.join(s['out_dir'], 'PROVENANCE.md')})")
    return "\n".join(out)
