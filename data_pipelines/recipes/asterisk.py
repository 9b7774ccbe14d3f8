"""Real recorded speech and music from Debian's Asterisk sound packages, split by whole speakers.

The G.722 (16 kHz wideband) Asterisk core sound sets hold studio recordings of telephone prompts,
one professional speaker per language, and asterisk-moh-opsound holds five real music tracks:

  en  asterisk-core-sounds-en-g722  en_US_f_Allison      Allison Smith      CC BY-SA 3.0
  es  asterisk-core-sounds-es-g722  es_MX_f_Allison      Allison Smith      CC BY-SA 3.0
  fr  asterisk-core-sounds-fr-g722  fr_CA_f_June         June Wallack       CC BY-SA 3.0
  it  asterisk-core-sounds-it-g722  it_IT_m_Carlo        Carlo Flora        CC BY 3.0
  ru  asterisk-core-sounds-ru-g722  ru_RU_f_IvrvoiceRU   Maxim Topal        CC BY 3.0
  music  asterisk-moh-opsound-g722  5 tracks (Macroform, Manolo Camp, Reno Project)  CC BY-SA 3.0

(licences as stated in /usr/share/doc/asterisk-core-sounds-*/copyright and
/usr/share/doc/asterisk-moh-opsound-g722/copyright). `prepare_asterisk` decodes every prompt to
mono, resamples it to 24 kHz (soxr) and writes 16-bit FLAC:

  OUT/train/speech/<lang>/...   the training speakers (default en, es, fr)
  OUT/eval/speech/<lang>/...    the held-out speakers (default it, ru): no prompt of theirs is trained on
  OUT/train/music/<track>/<track>_NNN.flac   music, cut into `music_segment_s` pieces
  OUT/eval/music/<track>/...    the held-out tracks (default reno_project-system: a whole artist)
  OUT/train/manifest.jsonl, OUT/eval/manifest.jsonl   (data_pipelines.manifest format)
  OUT/PROVENANCE.md             packages, versions, licences, speakers, hours per split, skipped files

Either `OUT/train` (a folder spec) or `OUT/train/manifest.jsonl` can be given to
`--config.data.train`. Prompts shorter than `min_seconds`, silent prompts (the silence/ folder),
narrowband sources (below 16 kHz) and undecodable files are skipped and counted, never fatal.
Existing output files are kept (a rerun only fills in what is missing). Missing packages are
fetched without root (`apt-get download` + `dpkg-deb -x` into a temporary folder).

The Debian packages asterisk-prompt-es-co, asterisk-prompt-fr-armelle and
asterisk-prompt-it-menardi-wav are also real speech, but 8 kHz (GSM / 8 kHz WAV): not included.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import os
import tempfile
from typing import Sequence

from tqdm.auto import tqdm

from data_pipelines.audio_io import AudioFile, probe, resample
from data_pipelines.manifest import write_manifest
from data_pipelines.recipes import common
from data_pipelines.recipes.common import (MANIFEST_SPLIT, SAMPLE_RATE, SPLIT_DIRS,
                                           PackageUnavailable, Skip, check, decode, dpkg_version,
                                           hours, install_hint, piece_bounds, previous_output,
                                           write_flac, write_text)

log = logging.getLogger(__name__)

DEFAULT_ROOT = "/usr/share/asterisk"
SOURCE_EXTENSIONS = (".g722", ".wav", ".flac")
DEFAULT_EVAL_SPEAKERS = ("it", "ru")
DEFAULT_EVAL_MUSIC = ("reno_project-system",)
MUSIC_PACKAGE = "asterisk-moh-opsound-g722"


@dataclasses.dataclass(frozen=True)
class Voice:
    package: str
    speaker: str  # a person: two languages may share one (Allison Smith records en and es)
    credit: str
    license: str


VOICES = {
    "en": Voice("asterisk-core-sounds-en-g722", "Allison Smith",
                "recorded by Allison Smith (theivrvoice.com); Digium, Inc.", "CC-BY-SA-3.0"),
    "es": Voice("asterisk-core-sounds-es-g722", "Allison Smith",
                "recorded by Allison Smith (theivrvoice.com); Digium, Inc.", "CC-BY-SA-3.0"),
    "fr": Voice("asterisk-core-sounds-fr-g722", "June Wallack",
                "© 2006-2008 June Wallack; translated by Clod Patry, Kristopher Lalletti, "
                "June Wallack; Digium, Unlimitel, BGM Informatique", "CC-BY-SA-3.0"),
    "it": Voice("asterisk-core-sounds-it-g722", "Carlo Flora",
                "© 2012 Carlo Flora (carloflora.com, segreterietelefoniche.it); translated by "
                "Silvia Petrin", "CC-BY-3.0"),
    "ru": Voice("asterisk-core-sounds-ru-g722", "Maxim Topal",
                "© 2010 Maxim (provided by Maxim Topal, ivrvoice.ru)", "CC-BY-3.0"),
}
MUSIC_CREDITS = {
    "macroform": "© 2009 Paul Shuler (Macroform), macroform.bandcamp.com",
    "manolo_camp": "© 2009 Manolo Camp, ccmixter.org/people/ManoloCamp",
    "reno_project": "© 2008 Reno Project, jamendo.com/en/album/23661",
}
MUSIC_LICENSE = "CC-BY-SA-3.0"


# -------------------------------------------------------------------------------------- packages

def fetch_packages(packages: Sequence[str], dest: str) -> dict[str, str]:
    """`apt-get download` + `dpkg-deb -x` (no root needed) into dest; returns {package: version}.

    The files land below dest/usr/share/asterisk. Raises PackageUnavailable naming the
    `apt-get install` command when apt is missing or the download fails.
    """
    return common.fetch_packages(packages, dest, what="Asterisk sound packages")


def _voice_dirs(sounds: str, lang: str) -> list[str]:
    """Voice folders of a language: `<lang>_<REGION>_<sex>_<Name>` (or a bare `<lang>`)."""
    if not os.path.isdir(sounds):
        return []
    return [os.path.join(sounds, d) for d in sorted(os.listdir(sounds))
            if os.path.isdir(os.path.join(sounds, d)) and (d == lang or d.startswith(lang + "_"))]


def _sources(folder: str) -> list[str]:
    out = []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames.sort()
        out += [os.path.join(dirpath, n) for n in sorted(names)
                if n.lower().endswith(SOURCE_EXTENSIONS)]
    return out


@dataclasses.dataclass
class _Job:
    source: str
    out_stem: str  # path below OUT without extension (music: a folder for the pieces)
    split: str  # train | eval
    kind: str  # speech | music
    group: str  # language, or "music"


# ------------------------------------------------------------------------------------------ main

def prepare_asterisk(out_dir: str, sound_root: str | None = None, *,
                     speakers: Sequence[str] = tuple(VOICES),
                     eval_speakers: Sequence[str] = DEFAULT_EVAL_SPEAKERS,
                     eval_music: Sequence[str] = DEFAULT_EVAL_MUSIC,
                     music: bool = True, music_segment_s: float = 10.0,
                     min_seconds: float = 1.0, min_source_rate: int = 16_000,
                     fetch: bool = True, progress: bool | None = None) -> dict:
    """Builds OUT/{train,eval}/{speech,music} (24 kHz FLAC), manifests and PROVENANCE.md.

    sound_root: the folder holding `sounds/<voice>/` and `moh/` (default /usr/share/asterisk, with
    missing packages fetched by `apt-get download` when `fetch`); an explicit root is read as is.
    speakers: languages to use; eval_speakers: languages held out whole for evaluation.
    eval_music: track names (file stems) held out whole. Returns a summary dict (also written to
    PROVENANCE.md): seconds per split, language and kind, counts and the skipped files.
    """
    speakers, eval_speakers = list(dict.fromkeys(speakers)), list(dict.fromkeys(eval_speakers))
    unknown = sorted(set(speakers) - set(VOICES)) + sorted(set(eval_speakers) - set(speakers))
    if unknown:
        raise ValueError(f"unknown or unused eval speakers {unknown}; languages: {sorted(VOICES)} "
                         f"(eval speakers must be among the speakers {speakers})")
    train_speakers = [s for s in speakers if s not in eval_speakers]
    if not train_speakers or not eval_speakers:
        raise ValueError(f"need at least one training and one eval speaker, got train "
                         f"{train_speakers}, eval {eval_speakers}")
    shared = ({VOICES[s].speaker for s in train_speakers}
              & {VOICES[s].speaker for s in eval_speakers})
    if shared:
        raise ValueError(f"{sorted(shared)} would be both in train and eval: "
                         + ", ".join(f"{s} is {VOICES[s].speaker}" for s in speakers
                                     if VOICES[s].speaker in shared)
                         + "; hold out all of that speaker's languages or none")
    out_dir = os.path.abspath(os.path.expanduser(out_dir))
    explicit = sound_root is not None
    root = os.path.abspath(os.path.expanduser(sound_root or DEFAULT_ROOT))

    with tempfile.TemporaryDirectory(prefix="asterisk-debs-") as tmp:
        # Where each package's files are, fetching what is missing from the default root.
        packages = {lang: VOICES[lang].package for lang in speakers}
        if music:
            packages["music"] = MUSIC_PACKAGE

        def where(group: str, base: str) -> list[str]:
            if group == "music":
                moh = os.path.join(base, "moh")
                return [moh] if os.path.isdir(moh) and _sources(moh) else []
            return [d for d in _voice_dirs(os.path.join(base, "sounds"), group) if _sources(d)]

        folders = {g: where(g, root) for g in packages}
        versions = {}
        missing = [g for g, f in folders.items() if not f]
        if missing and explicit:
            raise FileNotFoundError(
                f"{root}: no sound files for {missing} (expected sounds/<lang>_*/ voice folders "
                f"with .g722/.wav/.flac prompts and moh/ music); packages: "
                f"{', '.join(packages[g] for g in missing)}")
        if missing and fetch:
            versions.update(fetch_packages([packages[g] for g in missing], tmp))
            fetched_root = os.path.join(tmp, "usr", "share", "asterisk")
            for g in missing:
                folders[g] = where(g, fetched_root)
        elif missing:
            raise PackageUnavailable(f"{root}: not installed: "
                                     f"{', '.join(packages[g] for g in missing)}; install with: "
                                     f"{install_hint(packages[g] for g in missing)}")
        still = [g for g, f in folders.items() if not f]
        if still:
            raise PackageUnavailable(f"no sound files found for {still} even after fetching; "
                                     f"install with: {install_hint(packages[g] for g in still)}")
        for g, package in packages.items():
            if package not in versions:
                versions[package] = (dpkg_version(package) or "unknown") if not explicit else \
                    f"files from {root}"

        jobs = []
        for lang in speakers:
            split = "eval" if lang in eval_speakers else "train"
            for folder in folders[lang]:
                for src in _sources(folder):
                    rel = os.path.splitext(os.path.relpath(src, folder))[0]
                    voice = os.path.basename(folder) if len(folders[lang]) > 1 else ""
                    jobs.append(_Job(src, os.path.join(split, "speech", lang, voice, rel), split,
                                     "speech", lang))
        tracks = []
        if music:
            for src in _sources(folders["music"][0]):
                track = os.path.splitext(os.path.basename(src))[0]
                tracks.append(track)
                split = "eval" if track in eval_music else "train"
                jobs.append(_Job(src, os.path.join(split, "music", track), split, "music",
                                 "music"))
            absent = sorted(set(eval_music) - set(tracks))
            if absent:
                raise ValueError(f"eval_music {absent} not among the tracks {tracks}")
            if not any(j.split == "train" for j in jobs if j.kind == "music"):
                raise ValueError("eval_music holds out every track: nothing left to train on")

        files: dict[str, list[AudioFile]] = {s: [] for s in SPLIT_DIRS}
        skipped: list[tuple[str, str, str]] = []  # (source, category, detail)
        written = existing = 0
        show = len(jobs) >= 50 if progress is None else progress
        bar = tqdm(jobs, desc="asterisk", unit="file", disable=not show)
        for job in bar:
            label = MANIFEST_SPLIT[job.split]
            try:
                if job.kind == "speech":
                    out = os.path.join(out_dir, job.out_stem + ".flac")
                    kept = previous_output(out, job.kind, label)
                    if kept:
                        files[job.split].append(kept)
                        existing += 1
                        continue
                    x, rate = decode(job.source)
                    check(x, rate, min_seconds, min_source_rate)
                    write_flac(out, resample(x, rate, SAMPLE_RATE))
                    files[job.split].append(probe(out, job.kind, label))
                    written += 1
                else:
                    w, e = _music(job, out_dir, label, files[job.split], skipped, music_segment_s,
                                  min_seconds, min_source_rate)
                    written, existing = written + w, existing + e
            except Skip as s:
                skipped.append((job.source, s.category, s.detail))
        bar.close()

    for split, entries in files.items():
        write_manifest(os.path.join(out_dir, split, "manifest.jsonl"), entries)
    summary = _summary(out_dir, files, skipped, written, existing, speakers, eval_speakers,
                       tracks, eval_music, versions, root, music_segment_s, min_seconds)
    _write_provenance(os.path.join(out_dir, "PROVENANCE.md"), summary)
    return summary


def _music(job: _Job, out_dir: str, label: str, out_files: list, skipped: list,
           segment_s: float, min_seconds: float, min_rate: int) -> tuple[int, int]:
    """Cuts one track into pieces of segment_s seconds (0: whole; a tail shorter than min_seconds
    joins the last piece); returns (written, existing)."""
    x, rate = decode(job.source)
    if rate < min_rate:
        raise Skip("narrowband", f"{rate} Hz < {min_rate} Hz")
    if len(x) < min_seconds * rate:
        raise Skip("short", f"{len(x) / rate:.2f} s < {min_seconds:g} s")
    track = os.path.basename(job.out_stem)
    bounds = piece_bounds(len(x), rate, segment_s, min_seconds)
    written = existing = 0
    for n, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        piece = x[start:end]
        out = os.path.join(out_dir, job.out_stem, f"{track}_{n:03d}.flac")
        kept = previous_output(out, job.kind, label)
        if kept:
            out_files.append(kept)
            existing += 1
            continue
        try:
            check(piece, rate, min_seconds, min_rate)
        except Skip as s:
            skipped.append((f"{job.source} [{start / rate:.0f} s]", s.category, s.detail))
            continue
        write_flac(out, resample(piece, rate, SAMPLE_RATE))
        out_files.append(probe(out, job.kind, label))
        written += 1
    return written, existing


# --------------------------------------------------------------------------------- provenance

def _summary(out_dir, files, skipped, written, existing, speakers, eval_speakers, tracks,
             eval_music, versions, root, segment_s, min_seconds) -> dict:
    splits = {}
    for split, entries in files.items():
        per_lang = collections.Counter()
        per_track = collections.Counter()
        counts, lang_files = collections.Counter(), collections.Counter()
        for f in entries:
            rel = os.path.relpath(f.path, os.path.join(out_dir, split)).split(os.sep)
            counts[f.kind] += 1
            if f.kind == "speech":
                per_lang[rel[1]] += f.duration
                lang_files[rel[1]] += 1
            else:
                per_track[rel[1]] += f.duration
        splits[split] = {
            "files": len(entries),
            "speech_seconds": sum(per_lang.values()), "music_seconds": sum(per_track.values()),
            "speech_files": counts["speech"], "music_files": counts["music"],
            "speakers": {k: per_lang[k] for k in sorted(per_lang)},
            "speaker_files": {k: lang_files[k] for k in sorted(lang_files)},
            "tracks": {k: per_track[k] for k in sorted(per_track)},
        }
    return {
        "out_dir": out_dir, "source_root": root, "sample_rate": SAMPLE_RATE,
        "train_speakers": [s for s in speakers if s not in eval_speakers],
        "eval_speakers": list(eval_speakers),
        "train_tracks": [t for t in tracks if t not in eval_music],
        "eval_tracks": [t for t in tracks if t in eval_music],
        "splits": splits, "written": written, "existing": existing,
        "skipped": [{"source": s, "reason": c, "detail": d} for s, c, d in sorted(skipped)],
        "skip_counts": dict(collections.Counter(c for _, c, _ in skipped)),
        "packages": versions, "music_segment_s": segment_s, "min_seconds": min_seconds,
    }


def _write_provenance(path: str, s: dict) -> None:
    lines = [
        "# Asterisk speech and music corpus: provenance and licences", "",
        f"Written by `data_pipelines/recipes/asterisk.py` (`sscodec data prepare asterisk`) on "
        f"{datetime.date.today().isoformat()} from `{s['source_root']}`. All files are "
        f"**{s['sample_rate'] // 1000} kHz mono 16-bit FLAC**, decoded from the packages' G.722 "
        "(16 kHz wideband) files and resampled with soxr (`data_pipelines.audio_io.resample`); "
        "nothing else is changed (no trimming, no level change).", "",
        "**Split by whole speakers**: no prompt of an eval speaker is in train. "
        f"Train speakers: {', '.join(s['train_speakers'])}; eval speakers: "
        f"{', '.join(s['eval_speakers'])}. Music is split by whole tracks (eval: "
        f"{', '.join(s['eval_tracks']) or 'none'}) and cut into "
        f"{s['music_segment_s']:g} s pieces. The manifests label eval files with split `test`.", "",
        "## Packages", "",
        "| package | version | content | speaker / artists | licence (from /usr/share/doc/PKG/copyright) |",
        "|---|---|---|---|---|",
    ]
    for lang, v in VOICES.items():
        if v.package in s["packages"]:
            lines.append(f"| {v.package} | {s['packages'][v.package]} | {lang} speech prompts | "
                         f"{v.speaker}: {v.credit} | {v.license} |")
    if MUSIC_PACKAGE in s["packages"]:
        lines.append(f"| {MUSIC_PACKAGE} | {s['packages'][MUSIC_PACKAGE]} | music on hold, "
                     f"5 tracks | {'; '.join(MUSIC_CREDITS.values())} | {MUSIC_LICENSE} |")
    lines += [
        "", "en and es are the same person (Allison Smith), so they are always in the same split.",
        "", "## Hours", "",
        "| split | speaker (language) | files | duration |", "|---|---|---|---|",
    ]
    for split, d in s["splits"].items():
        for lang, sec in d["speakers"].items():
            who = VOICES[lang].speaker if lang in VOICES else lang
            lines.append(f"| {split} | {who} ({lang}) | {d['speaker_files'][lang]} | {hours(sec)} |")
        lines.append(f"| {split} | **all speech** | {d['speech_files']} | "
                     f"**{hours(d['speech_seconds'])}** |")
        for track, sec in d["tracks"].items():
            lines.append(f"| {split} | music: {track} | | {hours(sec)} |")
        lines.append(f"| {split} | **all music** | {d['music_files']} | "
                     f"**{hours(d['music_seconds'])}** |")
    lines += ["", "## Skipped source files", "",
              f"Prompts shorter than {s['min_seconds']:g} s, silent ones (RMS below -60 dBFS), "
              "sources below 16 kHz and undecodable files are not used: "
              + (", ".join(f"{n} {c}" for c, n in sorted(s["skip_counts"].items())) or "none")
              + ".", ""]
    lines += [f"* `{k['source']}`: {k['reason']} ({k['detail']})" for k in s["skipped"]]
    lines += [
        "", "## Attribution to keep with these files", "",
        "Asterisk core sound prompts: voices of Allison Smith (en, es; © 2003-2010 Allison Smith / "
        "Digium, Inc.) and June Wallack (fr; © 2006-2008), CC BY-SA 3.0; Carlo Flora (it; © 2012) "
        "and Maxim Topal / ivrvoice.ru (ru; © 2010), CC BY 3.0. Music on hold (opsound): "
        "Macroform (Paul Shuler), Manolo Camp, Reno Project, CC BY-SA 3.0. Modified for sscodec: "
        "decoded from G.722, resampled to 24 kHz, music cut into pieces. These derived files keep "
        "their sources' licences (https://creativecommons.org/licenses/by-sa/3.0/, "
        "https://creativecommons.org/licenses/by/3.0/).", "",
        "Not included: asterisk-prompt-es-co, asterisk-prompt-fr-armelle and "
        "asterisk-prompt-it-menardi-wav are real speech too, but only 8 kHz (GSM and 8 kHz WAV).",
        "",
    ]
    write_text(path, "\n".join(lines))


def format_summary(s: dict) -> str:
    """A few lines for the command line."""
    out = []
    for split, d in s["splits"].items():
        langs = ", ".join(f"{k} {v / 3600:.3f} h" for k, v in d["speakers"].items())
        out.append(f"{os.path.join(s['out_dir'], split)}: speech {d['speech_seconds'] / 3600:.3f} h "
                   f"({d['speech_files']} files: {langs}), music {d['music_seconds'] / 3600:.3f} h "
                   f"({d['music_files']} pieces of {', '.join(d['tracks']) or 'none'})")
    out.append(f"{s['written']} files written, {s['existing']} already there; skipped: "
               + (", ".join(f"{n} {c}" for c, n in sorted(s["skip_counts"].items())) or "none")
               + f" (listed in {os.path.join(s['out_dir'], 'PROVENANCE.md')})")
    return "\n".join(out)
