#!/usr/bin/env python3
"""Build the small embedded audio corpus used by sscodec's tests and smoke runs.

The corpus is ~8 minutes of 24 kHz, mono, 16-bit FLAC audio in three folders
next to this script:

* ``speech/`` - synthetic speech from espeak-ng (several languages, voices,
  voice variants, speeds and pitches) plus real human speech: concatenated
  prompts from the Asterisk core sound set (Allison Smith, 8 kHz, upsampled).
* ``music/``  - short multi-instrument pieces. The notes are made up here by a
  seeded generator, written as MIDI files with ``mido``, and rendered with
  fluidsynth and the FluidR3 General MIDI SoundFont at 24 kHz.
* ``noise/``  - noise clips for denoising experiments: white, pink, brown,
  mains hum (50/60 Hz with harmonics), a fan/rumble, vinyl-style crackle
  (all numpy, fixed seeds) and multi-talker babble (quiet, overlapping
  espeak-ng voices).

Each file is 5-30 s long. Speech and music are peak-normalised to -1 dBFS and
noise to -3 dBFS. Long pauses are shortened. The script also writes
``manifest.jsonl`` (one JSON object per file). Provenance and licences are
described in ``PROVENANCE.md`` next to this script.

Everything comes from Debian packages and fixed seeds. No network access is
needed apart from apt and pip. The same package versions give
byte-identical files. ``--verify-only`` checks the format, length, level
and manifest of every file.

Requirements (Debian 12 "bookworm")::

    sudo apt-get install -y --no-install-recommends \\
        espeak-ng fluidsynth fluid-soundfont-gm asterisk-core-sounds-en-wav
    # optional: sox (resampling fallback if the python package soxr is
    # missing); timgm6mb-soundfont (used only if FluidR3_GM is not installed)
    pip install numpy soundfile soxr mido

``mido`` is used only to write the generated MIDI files for fluidsynth
(fluidsynth needs a MIDI file to render offline). ``soxr`` does the
resampling; without it the script runs the ``sox`` program instead (the
results are close but not bit-identical).

Run from the repository root::

    python data_pipelines/embedded/build_corpus.py            # rebuild all
    python data_pipelines/embedded/build_corpus.py --verify-only

The rebuild takes a few seconds on one core. It runs espeak-ng and
fluidsynth one at a time, so it uses a single core. It deletes and rewrites
the ``*.flac`` files in ``speech/``, ``music/`` and ``noise/`` and then
writes ``manifest.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

try:  # Preferred resampler (deterministic, high quality).
    import soxr  # type: ignore
except ImportError:  # pragma: no cover - fallback path
    soxr = None

HERE = Path(__file__).resolve().parent
SR = 24_000
BASE_SEED = 20240611  # Every random stream is derived from this + item name.

SPEECH_PEAK_DBFS = -1.0
MUSIC_PEAK_DBFS = -1.0
NOISE_PEAK_DBFS = -3.0
MIN_DUR_S, MAX_DUR_S = 5.0, 30.0
# Minimum totals per category (seconds) and max corpus size, checked at the end.
MIN_TOTAL_S = {"speech": 180.0, "music": 120.0, "noise": 45.0}
MAX_TOTAL_BYTES = 15 * 1024 * 1024

ASTERISK_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
SOUNDFONTS = [  # first one found is used
    ("fluid-soundfont-gm", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "MIT"),
    ("timgm6mb-soundfont", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "GPL-2.0-only"),
]

LICENSE_OURS = "CC0-1.0"
LICENSE_ASTERISK = "CC-BY-SA-3.0"


def die(msg: str) -> None:
    sys.exit(f"build_corpus.py: error: {msg}")


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded from BASE_SEED and a stable hash of ``name``."""
    return np.random.default_rng([BASE_SEED, zlib.crc32(name.encode("utf-8"))])


def deb_version(pkg: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg],
            capture_output=True, text=True, check=False)
        return out.stdout.strip() or "not-installed"
    except FileNotFoundError:
        return "unknown"


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")


# --------------------------------------------------------------------------
# Signal helpers
# --------------------------------------------------------------------------

def resample(x: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if sr_in == sr_out:
        return x
    if soxr is not None:
        return soxr.resample(x, sr_in, sr_out, quality="VHQ")
    # Fallback: the sox program (rate -v = very high quality).
    with tempfile.TemporaryDirectory() as td:
        src, dst = Path(td, "in.wav"), Path(td, "out.wav")
        sf.write(src, x.astype(np.float32), sr_in, subtype="FLOAT")
        run(["sox", str(src), "-e", "floating-point", "-b", "32", str(dst),
             "rate", "-v", str(sr_out)])
        y, _ = sf.read(dst, dtype="float64")
        return y


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def frame_db(x: np.ndarray, sr: int, frame_s: float = 0.01) -> np.ndarray:
    """Per-frame RMS level in dB relative to the loudest frame."""
    n = max(1, int(sr * frame_s))
    m = len(x) // n
    fr = x[: m * n].reshape(m, n)
    rms = np.sqrt(np.mean(fr**2, axis=1) + 1e-20)
    return 20 * np.log10(rms / (rms.max() + 1e-20))


def trim_edges(x: np.ndarray, sr: int, thresh_db: float = -45.0,
               pad_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing parts quieter than thresh_db (re loudest frame)."""
    n = int(sr * 0.01)
    db = frame_db(x, sr)
    idx = np.flatnonzero(db > thresh_db)
    if idx.size == 0:
        return x
    pad = int(sr * pad_s)
    start = max(0, idx[0] * n - pad)
    stop = min(len(x), (idx[-1] + 1) * n + pad)
    return x[start:stop]


def compress_silences(x: np.ndarray, sr: int, thresh_db: float = -45.0,
                      max_sil_s: float = 0.6) -> np.ndarray:
    """Shorten internal pauses longer than max_sil_s to max_sil_s."""
    n = int(sr * 0.01)
    silent = frame_db(x, sr) < thresh_db
    keep = int(round(max_sil_s / 0.01))
    pieces, pos, i = [], 0, 0
    while i < len(silent):
        if not silent[i]:
            i += 1
            continue
        j = i
        while j < len(silent) and silent[j]:
            j += 1
        if j - i > keep and i > 0 and j < len(silent):
            cut_a = (i + keep // 2) * n
            cut_b = (j - (keep - keep // 2)) * n
            pieces.append(x[pos:cut_a])
            pos = cut_b
        i = j
    pieces.append(x[pos:])
    out = pieces[0]
    xf = int(sr * 0.005)  # 5 ms crossfade at each join (joins are near-silent)
    ramp = np.linspace(0.0, 1.0, xf)
    for p in pieces[1:]:
        if len(out) > xf and len(p) > xf:
            mid = out[-xf:] * (1 - ramp) + p[:xf] * ramp
            out = np.concatenate([out[:-xf], mid, p[xf:]])
        else:
            out = np.concatenate([out, p])
    return out


def fade(x: np.ndarray, sr: int, fade_in_s: float = 0.01,
         fade_out_s: float = 0.01) -> np.ndarray:
    x = x.copy()
    a, b = int(sr * fade_in_s), int(sr * fade_out_s)
    if a:
        x[:a] *= np.linspace(0.0, 1.0, a)
    if b:
        x[-b:] *= np.linspace(1.0, 0.0, b)
    return x


def silence(sec: float) -> np.ndarray:
    return np.zeros(int(round(sec * SR)))


def fft_filter(x: np.ndarray, gain_fn) -> np.ndarray:
    """Zero-phase filter: multiply the spectrum by gain_fn(freqs_hz)."""
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SR)
    return np.fft.irfft(X * gain_fn(f), n=len(x))


def to_pcm16(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    peak = np.abs(x).max()
    if peak <= 0:
        die("refusing to write a silent file")
    y = x * (10 ** (peak_dbfs / 20) / peak)
    return np.clip(np.round(y * 32767), -32767, 32767).astype(np.int16)


# --------------------------------------------------------------------------
# Output bookkeeping
# --------------------------------------------------------------------------

@dataclass
class Corpus:
    out_dir: Path
    entries: list[dict] = field(default_factory=list)

    def write(self, kind: str, name: str, x: np.ndarray, peak_dbfs: float,
              source: str, license: str, **extra) -> None:
        pcm = to_pcm16(x, peak_dbfs)
        dur = len(pcm) / SR
        if not (MIN_DUR_S <= dur <= MAX_DUR_S):
            die(f"{kind}/{name}: duration {dur:.2f}s outside "
                f"[{MIN_DUR_S}, {MAX_DUR_S}]")
        rel = f"{kind}/{name}.flac"
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, pcm, SR, format="FLAC", subtype="PCM_16",
                 compression_level=1.0)
        f = pcm.astype(np.float64) / 32768
        entry = {
            "path": rel, "kind": kind, "duration_s": round(dur, 3),
            "sample_rate": SR, "channels": 1, "num_samples": int(len(pcm)),
            "source": source, "license": license,
            "peak_dbfs": round(20 * np.log10(np.abs(f).max()), 2),
            "rms_dbfs": round(10 * np.log10(np.mean(f**2)), 2),
        }
        entry.update(extra)
        self.entries.append(entry)
        print(f"  {rel:42s} {dur:6.2f}s  peak {entry['peak_dbfs']:6.2f} dBFS"
              f"  rms {entry['rms_dbfs']:6.2f} dBFS", flush=True)

    def write_manifest(self) -> None:
        with open(self.out_dir / "manifest.jsonl", "w", encoding="utf-8") as fh:
            for e in sorted(self.entries, key=lambda e: e["path"]):
                fh.write(json.dumps(e, ensure_ascii=False, sort_keys=False) + "\n")


# --------------------------------------------------------------------------
# Speech: espeak-ng
# --------------------------------------------------------------------------
# Sentences written for this corpus (released under CC0-1.0).

SENTENCES = {
    "en": [
        "The morning train was late again, so Clara walked the last two miles along the river.",
        "Please remember to water the tomato plants before the sun gets too hot.",
        "A small grey cat sat on the window sill and watched the rain for an hour.",
        "Our new kitchen clock ticks so loudly that nobody can sleep downstairs.",
        "He counted seven boats, three bridges, and one very confused heron.",
        "If the signal drops again, restart the receiver and wait thirty seconds.",
        "The library closes at eight on weekdays and at noon on Saturdays.",
        "She folded the map carefully, although she knew she would never use it again.",
        "Bright copper kettles hummed quietly on the old iron stove.",
        "Nobody expected the quiz to include a question about volcanoes on Mars.",
        "Turn left at the bakery, then follow the smell of fresh bread to the market square.",
        "The orchestra tuned their instruments while the audience whispered in the dark.",
        "Thirty-two degrees in the shade is far too warm for a picnic.",
        "Could you spell your surname slowly, one letter at a time?",
        "The wind picked up after midnight and rattled every shutter on the street.",
        "My grandfather repaired radios in a tiny shop that smelled of solder and dust.",
        "We measured the length of the hallway twice and still got different answers.",
        "A thin layer of frost covered the car, the fence, and the sleeping garden.",
        "Is this the right platform for the express train to the coast?",
        "Every evening the lighthouse keeper wrote three lines in a leather notebook.",
        "The children built a tower of blocks that was taller than their teacher.",
        "Fresh snow muffles the sound of traffic and makes the whole city feel calm.",
        "Press the green button once to start, and twice to pause the recording.",
        "Honestly, I think the blue paint looked better before it dried.",
        "Seven hundred and forty-two people attended the concert on Friday night.",
        "The hikers shared a thermos of sweet tea at the top of the ridge.",
        "When the power failed, we played cards by candlelight until dawn.",
        "Listen carefully: the next announcement will not be repeated.",
        "Several rare birds nest in the reeds at the edge of the lake.",
        "The printer jammed twice, so the report arrived a little late.",
        "Why does the bread always land butter side down?",
        "A gentle breeze carried the scent of pine needles across the valley.",
    ],
    "de": [
        "Der Zug nach Hamburg fährt heute zehn Minuten später ab.",
        "Im Garten blühen die ersten Tulpen, obwohl es nachts noch friert.",
        "Kannst du mir bitte sagen, wie spät es ist?",
        "Die Katze schläft am liebsten auf dem warmen Fensterbrett.",
        "Morgen früh gehen wir gemeinsam auf den Wochenmarkt.",
        "Das alte Radio rauscht, aber die Musik klingt trotzdem schön.",
        "Nach dem Regen riecht der Wald nach Moos und feuchter Erde.",
        "Wir sind drei Stunden gewandert und haben keinen einzigen Menschen getroffen.",
    ],
    "fr": [
        "Le boulanger ouvre sa boutique très tôt chaque matin.",
        "Il pleut depuis trois jours, mais les enfants jouent quand même dehors.",
        "Pouvez-vous parler un peu plus lentement, s'il vous plaît ?",
        "La rivière traverse le village avant de rejoindre la mer.",
        "Nous avons trouvé un vieux piano dans le grenier de la maison.",
        "Le train de dix-huit heures est complet ce soir.",
        "Elle lit toujours le journal en buvant un café noir.",
        "Au printemps, les cerisiers du jardin sont couverts de fleurs blanches.",
    ],
    "es": [
        "El mercado abre a las ocho y cierra a las dos de la tarde.",
        "Mi hermana toca la guitarra todas las noches después de cenar.",
        "¿Sabes dónde está la estación de autobuses más cercana?",
        "Hace mucho calor hoy, así que vamos a la playa.",
        "El perro del vecino ladra cada vez que pasa un coche.",
        "Las montañas estaban cubiertas de nieve a principios de mayo.",
        "Necesitamos comprar pan, leche, tomates y un poco de queso.",
        "La biblioteca tiene una colección enorme de mapas antiguos.",
        "Por la tarde el viento sopla fuerte desde el mar.",
        "Mañana empezamos a pintar la cocina de color amarillo.",
    ],
    "it": [
        "Il treno per Roma parte dal binario tre fra cinque minuti.",
        "Ogni domenica mangiamo insieme a casa dei nonni.",
        "Scusi, sa dirmi dove si trova la farmacia più vicina?",
        "Il gatto dorme sul divano accanto alla finestra.",
        "In estate le giornate sono lunghe e le serate tranquille.",
        "Abbiamo comprato frutta fresca al mercato del paese.",
        "La nebbia copriva la pianura fino a mezzogiorno.",
        "Mio fratello suona il violino in una piccola orchestra.",
    ],
    "nl": [
        "De fietsen staan achter het station in een lange rij.",
        "Het heeft de hele nacht geregend, maar nu schijnt de zon.",
        "Wil je nog een kopje thee met een koekje?",
        "De boot vaart elk uur naar de overkant van het meer.",
        "In de winter schaatsen de kinderen op de bevroren sloot.",
    ],
    "pt": [
        "O ônibus para o centro passa a cada quinze minutos.",
        "Minha avó faz o melhor bolo de laranja do bairro.",
        "Você pode fechar a janela, por favor? Está ventando muito.",
        "A praia estava vazia naquela manhã de segunda-feira.",
        "Os pássaros cantam no quintal desde muito cedo.",
    ],
}

# (file name, espeak-ng voice+variant, sentence pool, speed wpm, pitch 0-99,
#  word gap in 10 ms units, target duration s). Sentences are taken in order
# from the language's pool (continuing where the previous file stopped) while
# that brings the file closer to the target duration.
ESPEAK_FILES = [
    ("espeak_en-us_m3", "en-us+m3", "en", 165, 45, 0, 12.0),
    ("espeak_en-us_f2", "en-us+f2", "en", 175, 62, 0, 13.0),
    ("espeak_en-gb-x-rp_m1", "en-gb-x-rp+m1", "en", 150, 38, 1, 11.0),
    ("espeak_en-gb-scotland_f4", "en-gb-scotland+f4", "en", 160, 55, 0, 10.0),
    ("espeak_en-us_klatt3", "en-us+klatt3", "en", 145, 50, 0, 10.0),
    ("espeak_en-029_m7", "en-029+m7", "en", 180, 40, 0, 10.0),
    ("espeak_en-us-nyc_whisperf", "en-us-nyc+whisperf", "en", 155, 50, 0, 7.0),
    ("espeak_de_m2", "de+m2", "de", 155, 48, 0, 11.0),
    ("espeak_fr-fr_f3", "fr-fr+f3", "fr", 170, 58, 0, 11.0),
    ("espeak_es_m5", "es+m5", "es", 160, 42, 0, 10.0),
    ("espeak_es-419_f1", "es-419+f1", "es", 185, 60, 0, 9.0),
    ("espeak_it_f5", "it+f5", "it", 165, 55, 0, 11.0),
    ("espeak_nl_m4", "nl+m4", "nl", 160, 45, 0, 8.0),
    ("espeak_pt-br_f2", "pt-br+f2", "pt", 170, 60, 0, 8.0),
]


def espeak(text: str, voice: str, speed: int, pitch: int, gap: int = 0,
           workdir: Path | None = None) -> np.ndarray:
    """Synthesize one utterance with espeak-ng; returns float audio at SR."""
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        wav = Path(td, "u.wav")
        run(["espeak-ng", "-b", "1", "-v", voice, "-s", str(speed), "-p",
             str(pitch), "-g", str(gap), "-w", str(wav), text])
        x, sr = read_mono(wav)
    return resample(x, sr)


def build_espeak_speech(corpus: Corpus, version: str) -> None:
    print("speech (espeak-ng)")
    cursor = {lang: 0 for lang in SENTENCES}
    for name, voice, lang, speed, pitch, gap, target in ESPEAK_FILES:
        rng = rng_for(name)
        pool = SENTENCES[lang]
        parts, texts, total = [], [], 0.0
        while True:
            text = pool[cursor[lang] % len(pool)]
            u = trim_edges(espeak(text, voice, speed, pitch, gap), SR, -50, 0.04)
            p = silence(rng.uniform(0.25, 0.6)) if parts else silence(0)
            # Stop when one more sentence would move us further from `target`.
            add = (len(p) + len(u)) / SR
            if parts and (total + add - target > target - total
                          or total + add > MAX_DUR_S - 1.0):
                break
            cursor[lang] += 1
            parts += [p, u]
            total += (len(p) + len(u)) / SR
            texts.append(text)
        x = fade(np.concatenate([silence(0.1)] + parts + [silence(0.15)]), SR)
        corpus.write(
            "speech", name, x, SPEECH_PEAK_DBFS,
            source=(f"espeak-ng {version} (Debian espeak-ng), voice {voice}, "
                    f"-s {speed} -p {pitch} -g {gap}; 22.05 kHz resampled to 24 kHz"),
            license=(f"{LICENSE_OURS} (text written for this corpus; espeak-ng "
                     "output is not covered by espeak-ng's GPL-3.0)"),
            text=" ".join(texts), language=lang)


# --------------------------------------------------------------------------
# Speech: Asterisk core sounds (Allison Smith)
# --------------------------------------------------------------------------

ASTERISK_GROUPS = [
    ("asterisk_allison_01", ["demo-abouttotry"]),
    ("asterisk_allison_02", ["vm-msginstruct"]),
    ("asterisk_allison_03", ["dir-intro", "vm-intro"]),
    ("asterisk_allison_04", ["demo-nogo", "demo-thanks"]),
    ("asterisk_allison_05", ["vm-opts-full", "vm-review"]),
    ("asterisk_allison_06", ["queue-periodic-announce", "vm-instructions"]),
    ("asterisk_allison_07", ["agent-alreadyon", "auth-incorrect", "pbx-invalid",
                             "vm-mailboxfull"]),
]


def build_asterisk_speech(corpus: Corpus, version: str) -> None:
    print("speech (asterisk-core-sounds-en-wav)")
    for name, prompts in ASTERISK_GROUPS:
        rng = rng_for(name)
        parts = []
        for p in prompts:
            path = ASTERISK_DIR / f"{p}.wav"
            if not path.exists():
                die(f"missing Asterisk prompt {path}")
            x, sr = read_mono(path)
            x = trim_edges(x, sr, -45, 0.05)
            x = compress_silences(x, sr, -45, 0.6)
            if parts:
                parts.append(silence(rng.uniform(0.35, 0.6)))
            parts.append(resample(x, sr))
        x = fade(np.concatenate([silence(0.1)] + parts + [silence(0.15)]), SR)
        corpus.write(
            "speech", name, x, SPEECH_PEAK_DBFS,
            source=(f"asterisk-core-sounds-en-wav {version} (Debian), "
                    f"{ASTERISK_DIR}/{{{','.join(prompts)}}}.wav; voice: Allison "
                    "Smith; 8 kHz resampled to 24 kHz (no content above 4 kHz)"),
            license=(f"{LICENSE_ASTERISK} (derived from Asterisk core sound "
                     "prompts, (c) Allison Smith / Digium, Inc. (now Sangoma))"),
            prompts=prompts, language="en")


# --------------------------------------------------------------------------
# Music: generated MIDI rendered with fluidsynth
# --------------------------------------------------------------------------

TPB = 480  # MIDI ticks per beat

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


class Key:
    def __init__(self, tonic: int, mode: list[int]):
        self.tonic, self.mode = tonic, mode

    def pitch(self, degree: int) -> int:
        return self.tonic + 12 * (degree // 7) + self.mode[degree % 7]

    def chord_pcs(self, root_deg: int, n: int = 3) -> set[int]:
        return {self.pitch(root_deg + 2 * i) % 12 for i in range(n)}

    def chord_tones(self, root_deg: int, lo: int, hi: int, n: int = 3) -> list[int]:
        pcs = self.chord_pcs(root_deg, n)
        return [p for p in range(lo, hi + 1) if p % 12 in pcs]

    def scale_tones(self, lo: int, hi: int) -> list[int]:
        pcs = {(self.tonic + m) % 12 for m in self.mode}
        return [p for p in range(lo, hi + 1) if p % 12 in pcs]

    def bass(self, root_deg: int, lo: int = 36) -> int:
        p = self.pitch(root_deg % 7)
        while p >= lo + 12:
            p -= 12
        while p < lo:
            p += 12
        return p


class Song:
    """Notes per part; converted to a type-1 MIDI file with mido."""

    def __init__(self, bpm: float, beats_per_bar: int = 4):
        self.bpm, self.bpb = bpm, beats_per_bar
        self.parts: dict[str, dict] = {}

    def part(self, name: str, channel: int, program: int, volume: int = 100,
             pan: int = 64, reverb: int = 40, chorus: int = 0,
             bank: int | None = None) -> None:
        self.parts[name] = dict(channel=channel, program=program, volume=volume,
                                pan=pan, reverb=reverb, chorus=chorus, bank=bank,
                                notes=[])

    def note(self, part: str, start: float, dur: float, pitch: int, vel: int) -> None:
        vel = int(np.clip(vel, 1, 127))
        self.parts[part]["notes"].append((start, dur, int(pitch), vel))

    def write_midi(self, path: Path, length_beats: float, tail_beats: float) -> None:
        import mido  # imported here so the rest works without mido

        mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
        conductor = mido.MidiTrack()
        conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.bpm), time=0))
        conductor.append(mido.MetaMessage("time_signature", numerator=self.bpb,
                                          denominator=4, time=0))
        end_tick = int(round((length_beats + tail_beats) * TPB))
        conductor.append(mido.MetaMessage("end_of_track", time=end_tick))
        mid.tracks.append(conductor)
        for name, p in self.parts.items():
            tr = mido.MidiTrack()
            ch = p["channel"]
            tr.append(mido.MetaMessage("track_name", name=name, time=0))
            if p["bank"] is not None:
                tr.append(mido.Message("control_change", channel=ch, control=0,
                                       value=p["bank"], time=0))
            tr.append(mido.Message("program_change", channel=ch,
                                   program=p["program"], time=0))
            for cc, val in ((7, p["volume"]), (10, p["pan"]), (91, p["reverb"]),
                            (93, p["chorus"])):
                tr.append(mido.Message("control_change", channel=ch, control=cc,
                                       value=val, time=0))
            ev = []
            for start, dur, pitch, vel in p["notes"]:
                on = int(round(start * TPB))
                off = max(on + 1, int(round((start + dur) * TPB)))
                ev.append((on, 1, pitch, vel))
                ev.append((off, 0, pitch, 0))
            ev.sort()  # note-offs before note-ons at the same tick
            now = 0
            for tick, is_on, pitch, vel in ev:
                tr.append(mido.Message("note_on" if is_on else "note_off",
                                       channel=ch, note=pitch, velocity=vel,
                                       time=tick - now))
                now = tick
            tr.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
            mid.tracks.append(tr)
        mid.save(path)


def melody(song: Song, part: str, rng: np.random.Generator, key: Key,
           chords: list[int], rhythms: list[list[float]], lo: int, hi: int,
           vel: int = 90, swing: bool = False, legato: float = 0.95,
           seventh: bool = False, start_bar: int = 0, rest_p: float = 0.08) -> None:
    """Random-walk melody over a chord progression (one chord per bar).

    Strong beats get chord tones nearest to the previous note; other notes step
    along the scale. Rhythms repeat in 4-bar phrases (a, b, a, ending) so the
    result has some shape.
    """
    scale = key.scale_tones(lo, hi)
    cur = scale[len(scale) // 2]
    bpb = song.bpb
    phrase_rh = None
    for bar, ch in enumerate(chords):
        if bar < start_bar:
            continue
        pos_in_phrase = (bar - start_bar) % 4
        if pos_in_phrase == 0:
            choice = rng.choice(len(rhythms), size=2, replace=True)
            phrase_rh = [rhythms[choice[0]], rhythms[choice[1]]]
        last_bar = bar == len(chords) - 1
        if last_bar:
            rh = [float(bpb)]
        elif pos_in_phrase == 3:
            rh = [bpb / 2.0, bpb / 2.0] if bpb % 2 == 0 else [2.0, 1.0]
        else:
            rh = phrase_rh[pos_in_phrase % 2]
        t = 0.0
        tones = key.chord_tones(ch, lo, hi, 4 if seventh else 3)
        for dur in rh:
            beat = bar * bpb + t
            strong = abs(t - round(t)) < 1e-6 and (int(round(t)) % 2 == 0 or bpb == 3)
            if last_bar:
                cands = [p for p in key.chord_tones(0, lo, hi)]  # tonic triad
                cur = min(cands, key=lambda p: (abs(p - cur), p))
            elif strong:
                cands = sorted(tones, key=lambda p: (abs(p - cur), p))[:2]
                cur = int(cands[rng.integers(len(cands))])
            else:
                if rng.random() < rest_p and dur <= 1.0:  # occasional rest
                    t += dur
                    continue
                i = int(np.searchsorted(scale, cur))
                i = min(max(i, 0), len(scale) - 1)
                step = int(rng.choice([-2, -1, 1, 2, 0], p=[0.12, 0.36, 0.36, 0.12, 0.04]))
                j = i + step
                if j < 0 or j >= len(scale):
                    j = i - step
                cur = scale[min(max(j, 0), len(scale) - 1)]
            st, d = beat, dur * legato
            if swing and abs((t % 1.0) - 0.5) < 1e-6:
                st, d = beat + 1.0 / 6.0, (dur - 1.0 / 6.0) * legato  # swung off-beat
            elif swing and abs(t % 1.0) < 1e-6 and abs(dur - 0.5) < 1e-6:
                d = (2.0 / 3.0) * legato  # long first eighth of a swung pair
            song.note(part, st, d, cur, vel + int(rng.integers(-8, 9))
                      + (8 if strong else 0))
            t += dur


R44 = [[1, 1, 1, 1], [1.5, 0.5, 1, 1], [0.5, 0.5, 1, 0.5, 0.5, 1], [2, 1, 1],
       [1, 0.5, 0.5, 2], [0.5, 0.5, 0.5, 0.5, 1, 1], [0.75, 0.25, 1, 2], [1, 1, 2]]
R44_SLOW = [[2, 2], [3, 1], [1, 1, 2], [4], [2, 1, 1], [1.5, 0.5, 2]]
R34 = [[1, 1, 1], [2, 1], [1.5, 0.5, 1], [0.5, 0.5, 1, 1], [1, 0.5, 0.5, 1]]


def piece_piano_waltz(rng):
    key = Key(65, MAJOR)  # F major
    s = Song(112, 3)
    s.part("piano_rh", 0, 0, 105, 70, 45)
    s.part("piano_lh", 1, 0, 90, 58, 45)
    chords = [0, 5, 3, 4, 0, 5, 1, 4, 3, 4, 0, 0]
    melody(s, "piano_rh", rng, key, chords, R34, 69, 86, vel=84)
    for bar, ch in enumerate(chords):
        b = bar * 3
        s.note("piano_lh", b, 0.95, key.bass(ch, 41), 78 + int(rng.integers(-5, 6)))
        voicing = key.chord_tones(ch, 55, 66)[:3]
        for beat in (1, 2):
            for p in voicing:
                s.note("piano_lh", b + beat, 0.6, p, 58 + int(rng.integers(-5, 6)))
    return s, len(chords) * 3


def piece_string_adagio(rng):
    key = Key(62, MINOR)  # D minor
    s = Song(76, 4)
    s.part("violin", 0, 40, 110, 72, 70)
    s.part("strings", 1, 48, 85, 60, 70)
    s.part("cello", 2, 42, 100, 50, 70)
    chords = [0, 5, 2, 6, 3, 6, 0]
    melody(s, "violin", rng, key, chords, R44_SLOW, 69, 86, vel=80, legato=1.0)
    for bar, ch in enumerate(chords):
        b = bar * 4
        for p in key.chord_tones(ch, 57, 70)[:3]:
            s.note("strings", b, 4.0, p, 62)
        bass = key.bass(ch, 38)
        s.note("cello", b, 2.0, bass, 80)
        s.note("cello", b + 2, 2.0, bass + (7 if bass + 7 <= 57 else -5), 72)
    return s, len(chords) * 4


def piece_guitar_flute(rng):
    key = Key(67, MAJOR)  # G major
    s = Song(100, 4)
    s.part("flute", 0, 73, 100, 70, 50)
    s.part("guitar", 1, 24, 110, 56, 40)
    s.part("bass", 2, 32, 95, 64, 30)
    chords = [0, 4, 5, 3, 0, 4, 3, 0]
    melody(s, "flute", rng, key, chords, R44, 74, 91, vel=82, start_bar=0)
    pattern = [0, 2, 1, 3, 2, 1, 3, 2]
    for bar, ch in enumerate(chords):
        b = bar * 4
        tones = [key.bass(ch, 43)] + key.chord_tones(ch, 55, 71)[:3]
        for i, k in enumerate(pattern):
            s.note("guitar", b + 0.5 * i, 0.9, tones[k], 70 + int(rng.integers(-8, 9)))
        s.note("bass", b, 1.8, key.bass(ch, 31), 85)
        s.note("bass", b + 2, 1.8, key.bass(ch, 31) + 7, 78)
    return s, len(chords) * 4


def drums_rock(s, rng, bars, fill_bars=()):
    for bar in range(bars):
        b = bar * 4
        if bar % 4 == 0:
            s.note("drums", b, 0.5, 49, 100)
        for k in range(8):
            s.note("drums", b + 0.5 * k, 0.25, 42, 70 + (15 if k % 2 == 0 else 0)
                   + int(rng.integers(-6, 7)))
        s.note("drums", b, 0.25, 36, 110)
        s.note("drums", b + 2.5 if rng.random() < 0.5 else b + 1.5, 0.25, 36, 95)
        s.note("drums", b + 2, 0.25, 36, 105)
        s.note("drums", b + 1, 0.25, 38, 105)
        if bar in fill_bars:
            for k, tom in enumerate([50, 48, 47, 45]):
                s.note("drums", b + 3 + 0.25 * k, 0.25, tom, 100)
        else:
            s.note("drums", b + 3, 0.25, 38, 108)


def piece_rock_band(rng):
    key = Key(64, MINOR)  # E minor
    s = Song(124, 4)
    s.part("lead", 0, 30, 95, 76, 40)
    s.part("rhythm", 1, 29, 90, 52, 30)
    s.part("bass", 2, 33, 105, 64, 20)
    s.part("drums", 9, 0, 110, 64, 30)
    chords = [0, 5, 2, 6, 0, 5, 2, 6, 3, 0]
    melody(s, "lead", rng, key, chords, R44, 64, 83, vel=92, start_bar=4)
    for bar, ch in enumerate(chords):
        b = bar * 4
        root = key.bass(ch, 40)
        for k in range(8):
            s.note("bass", b + 0.5 * k, 0.45, root, 92 if k % 2 == 0 else 80)
        pc = root + 12
        power = [pc, pc + 7, pc + 12]
        for st, du in ((0, 1.4), (1.5, 0.45), (2, 0.45), (2.5, 1.4)):
            for p in power:
                s.note("rhythm", b + st, du, p, 88)
    drums_rock(s, rng, len(chords), fill_bars=(3, 7))
    return s, len(chords) * 4


def piece_jazz_combo(rng):
    key = Key(70, MAJOR)  # Bb major
    s = Song(140, 4)
    s.part("sax", 0, 65, 100, 72, 45)
    s.part("epiano", 1, 4, 85, 56, 45, chorus=40)
    s.part("bass", 2, 32, 110, 64, 30)
    s.part("drums", 9, 0, 90, 64, 40)
    chords = [1, 4, 0, 5, 1, 4, 0, 5, 1, 4, 0]
    melody(s, "sax", rng, key, chords, R44, 65, 84, vel=86, swing=True,
           seventh=True, rest_p=0.15)
    for bar, ch in enumerate(chords):
        b = bar * 4
        root = key.bass(ch, 34)
        nxt = key.bass(chords[(bar + 1) % len(chords)], 34)
        tones = key.chord_tones(ch, root + 1, root + 14, 4)
        walk = [root, tones[int(rng.integers(len(tones)))],
                tones[int(rng.integers(len(tones)))], nxt + (1 if rng.random() < 0.5 else -1)]
        for k, p in enumerate(walk):
            s.note("bass", b + k, 0.9, p, 95 if k == 0 else 85)
        # Rootless voicing (3rd, 5th, 7th) around middle C, on syncopated hits.
        voicing = [p for p in key.chord_tones(ch, 58, 72, 4)
                   if p % 12 != key.pitch(ch) % 12][:3]
        hits = [(0, 1.3), (1 + 2 / 3, 0.5), (3 + 2 / 3, 0.3)] if bar % 2 == 0 else \
               [(0.5 + 1 / 6, 1.0), (2 + 2 / 3, 0.8)]
        for st, du in hits:
            for p in voicing:
                s.note("epiano", b + st, du, p, 62 + int(rng.integers(-6, 7)))
        for k in range(4):  # ride pattern with swung skip notes
            s.note("drums", b + k, 0.3, 51, 78 + int(rng.integers(-6, 7)))
            if k in (1, 3):
                s.note("drums", b + k + 2 / 3, 0.2, 51, 62)
                s.note("drums", b + k, 0.2, 44, 70)
        if rng.random() < 0.5:
            s.note("drums", b + 3 + 2 / 3, 0.2, 38, 48)
    return s, len(chords) * 4


def piece_brass_chorale(rng):
    key = Key(63, MAJOR)  # Eb major
    s = Song(84, 4)
    s.part("trumpet", 0, 56, 100, 70, 60)
    s.part("horn", 1, 60, 95, 60, 60)
    s.part("trombone", 2, 57, 95, 56, 60)
    s.part("tuba", 3, 58, 105, 64, 60)
    s.part("timpani", 4, 47, 90, 64, 60)
    # Two chords per bar, homophonic four-voice texture.
    chords = [0, 3, 4, 0, 5, 1, 4, 4, 0, 3, 1, 4, 0, 0]
    ranges = {"trumpet": (67, 82), "horn": (58, 72), "trombone": (50, 64)}
    cur = {"trumpet": 70, "horn": 63, "trombone": 55}
    for i, ch in enumerate(chords):
        b = 2.0 * i
        last = i == len(chords) - 1
        for v, (lo, hi) in ranges.items():
            cands = sorted(key.chord_tones(ch, lo, hi), key=lambda p: (abs(p - cur[v]), p))
            if v == "trumpet" and not last and len(cands) > 1:
                cur[v] = cands[int(rng.integers(2))]
            else:
                cur[v] = cands[0]
            s.note(v, b, 1.9 if not last else 2.6, cur[v], 80 + int(rng.integers(-6, 7)))
        s.note("tuba", b, 1.9 if not last else 2.6, key.bass(ch, 34), 88)
        if ch in (0, 4) and i % 2 == 0:
            s.note("timpani", b, 1.0, key.bass(ch, 41), 85)
    return s, len(chords) * 2 + 0.6


def piece_marimba_clarinet(rng):
    key = Key(57, MINOR)  # A minor
    s = Song(116, 4)
    s.part("clarinet", 0, 71, 100, 70, 45)
    s.part("marimba", 1, 12, 105, 56, 40)
    s.part("pizz", 2, 45, 105, 64, 40)
    chords = [0, 3, 6, 2, 5, 3, 4, 0, 0]
    melody(s, "clarinet", rng, key, chords, R44, 64, 81, vel=84)
    for bar, ch in enumerate(chords):
        b = bar * 4
        tones = key.chord_tones(ch, 57, 76)
        for k in range(8):
            p = tones[(k * 2 + (k // 4)) % len(tones)]
            s.note("marimba", b + 0.5 * k, 0.45, p, 72 + int(rng.integers(-8, 9)))
        root = key.bass(ch, 40)
        for k, p in enumerate([root, root + 7, root + 12, root + 7]):
            s.note("pizz", b + k, 0.5, p, 90)
    return s, len(chords) * 4


def piece_synth_pop(rng):
    key = Key(60, MAJOR)  # C major (vi-IV-I-V)
    s = Song(120, 4)
    s.part("lead", 0, 80, 85, 70, 40)
    s.part("pad", 1, 89, 80, 58, 60, chorus=60)
    s.part("bass", 2, 38, 100, 64, 20)
    s.part("drums", 9, 25, 105, 64, 20)  # TR-808 kit (bank 128, program 25)
    chords = [5, 3, 0, 4, 5, 3, 0, 4, 0]
    melody(s, "lead", rng, key, chords, R44, 67, 84, vel=88, start_bar=1)
    for bar, ch in enumerate(chords):
        b = bar * 4
        for p in key.chord_tones(ch, 60, 74)[:3]:
            s.note("pad", b, 4.0, p, 60)
        root = key.bass(ch, 36)
        for k in range(8):
            s.note("bass", b + 0.5 * k, 0.4, root + (12 if k % 2 else 0), 90)
        if bar < len(chords) - 1:
            for k in range(4):
                s.note("drums", b + k, 0.25, 36, 110)
                s.note("drums", b + k + 0.5, 0.25, 42, 75 + int(rng.integers(-6, 7)))
            s.note("drums", b + 1, 0.25, 39, 100)
            s.note("drums", b + 3, 0.25, 39, 100)
        else:
            s.note("drums", b, 0.25, 36, 110)
            s.note("drums", b, 1.0, 49, 100)
    return s, len(chords) * 4


PIECES = [
    ("piano_waltz_fmaj", piece_piano_waltz, "acoustic grand piano (GM 0), 3/4"),
    ("string_adagio_dmin", piece_string_adagio,
     "violin (40), string ensemble (48), cello (42)"),
    ("guitar_flute_gmaj", piece_guitar_flute,
     "nylon guitar (24), flute (73), acoustic bass (32)"),
    ("rock_band_emin", piece_rock_band,
     "distortion guitar (30), overdriven guitar (29), finger bass (33), drums"),
    ("jazz_combo_bbmaj", piece_jazz_combo,
     "alto sax (65), electric piano (4), acoustic bass (32), drums; swing"),
    ("brass_chorale_ebmaj", piece_brass_chorale,
     "trumpet (56), french horn (60), trombone (57), tuba (58), timpani (47)"),
    ("marimba_clarinet_amin", piece_marimba_clarinet,
     "clarinet (71), marimba (12), pizzicato strings (45)"),
    ("synth_pop_cmaj", piece_synth_pop,
     "square lead (80), warm pad (89), synth bass (38), TR-808 drum kit"),
]


def render_midi(mid: Path, wav: Path, soundfont: Path) -> np.ndarray:
    run(["fluidsynth", "-n", "-i", "-q", "-g", "0.5", "-r", str(SR),
         "-O", "float", "-T", "wav", "-F", str(wav), str(soundfont), str(mid)])
    x, sr = read_mono(wav)  # stereo -> mono by averaging the channels
    if sr != SR:
        die(f"fluidsynth rendered at {sr} Hz instead of {SR} Hz")
    return x


def build_music(corpus: Corpus, soundfont: tuple[str, Path, str],
                fs_version: str, midi_dir: Path | None) -> None:
    sf_pkg, sf_path, sf_license = soundfont
    print(f"music (fluidsynth + {sf_path.name})")
    with tempfile.TemporaryDirectory() as td:
        for name, fn, instruments in PIECES:
            rng = rng_for(name)
            song, length = fn(rng)
            mid = (midi_dir or Path(td)) / f"{name}.mid"
            mid.parent.mkdir(parents=True, exist_ok=True)
            song.write_midi(mid, length, tail_beats=3.0)
            x = render_midi(mid, Path(td, f"{name}.wav"), sf_path)
            x = trim_edges(x, SR, -60, 0.02)
            x = fade(x, SR, 0.005, 0.3)
            corpus.write(
                "music", name, x, MUSIC_PEAK_DBFS,
                source=(f"notes generated by build_corpus.py (seeded), MIDI via mido, "
                        f"rendered with fluidsynth {fs_version} -r {SR} "
                        f"(reverb/chorus on) using {sf_path.name} "
                        f"({sf_pkg} {deb_version(sf_pkg)}); stereo mixed to mono; "
                        f"{instruments}; {song.bpm:g} bpm"),
                license=(f"{LICENSE_OURS} (composition/MIDI); rendered with "
                         f"{sf_path.name}, {sf_license}"))


# --------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------

def colored_noise(rng, n: int, exponent: float, f_lo: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (above f_lo)."""
    w = rng.standard_normal(n)
    return fft_filter(w, lambda f: 1.0 / np.maximum(f, f_lo) ** (exponent / 2))


def noise_white(rng, dur):
    return rng.standard_normal(int(dur * SR))


def noise_pink(rng, dur):
    return colored_noise(rng, int(dur * SR), 1.0)


def noise_brown(rng, dur):
    x = colored_noise(rng, int(dur * SR), 2.0, f_lo=20.0)
    return fft_filter(x, lambda f: (f > 15.0).astype(float))  # no DC / sub-sonic drift


def mains_hum(rng, dur, f0, harmonic_amps, jitter_hz=0.05, hiss_db=-50):
    n = int(dur * SR)
    t = np.arange(n) / SR
    # Slowly wandering mains frequency.
    drift = np.cumsum(rng.standard_normal(n)) / np.sqrt(n) * jitter_hz
    phase = 2 * np.pi * np.cumsum(f0 + drift) / SR
    x = np.zeros(n)
    for k, a in enumerate(harmonic_amps, start=1):
        x += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    x *= 1.0 + 0.05 * np.sin(2 * np.pi * 0.37 * t)
    x += 10 ** (hiss_db / 20) * rng.standard_normal(n)
    return x


def noise_hum50(rng, dur):
    amps = [1.0, 0.35, 0.5, 0.12, 0.25, 0.06, 0.12, 0.04, 0.07, 0.02, 0.04, 0.01, 0.02]
    return mains_hum(rng, dur, 50.0, amps)


def noise_hum60_buzz(rng, dur):
    # Buzzy 60 Hz: soft-clipped fundamental plus strong 120/180 Hz components.
    x = mains_hum(rng, dur, 60.0, [1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.08], hiss_db=-45)
    return np.tanh(2.5 * x / np.abs(x).max())


def noise_fan_rumble(rng, dur):
    n = int(dur * SR)
    t = np.arange(n) / SR
    base = colored_noise(rng, n, 1.0)

    def band(f):  # smooth band-pass 40 .. 600 Hz plus weak air noise to 3 kHz
        return (1 / (1 + (40 / np.maximum(f, 1)) ** 4)) * (
            1 / (1 + (f / 600) ** 4) + 0.08 / (1 + (f / 3000) ** 4))

    x = fft_filter(base, band)
    x /= np.abs(x).max()
    blade = 87.0  # blade-pass tone with harmonics, slightly wobbling
    ph = 2 * np.pi * np.cumsum(blade + 0.8 * np.sin(2 * np.pi * 0.2 * t)) / SR
    tone = 0.12 * np.sin(ph) + 0.05 * np.sin(2 * ph + 1.0) + 0.02 * np.sin(3 * ph + 2.0)
    return (x + tone) * (1 + 0.15 * np.sin(2 * np.pi * 0.6 * t + 0.5))


def noise_crackle(rng, dur):
    n = int(dur * SR)
    x = 10 ** (-38 / 20) * colored_noise(rng, n, 0.5)  # surface hiss
    n_clicks = rng.poisson(45 * dur)
    pos = rng.integers(0, n - 200, size=n_clicks)
    amp = rng.pareto(2.5, size=n_clicks) * 0.05 + 0.01
    amp *= rng.choice([-1.0, 1.0], size=n_clicks)
    for p, a in zip(pos, amp):
        L = int(rng.integers(8, 120))
        decay = np.exp(-np.arange(L) / (L / 4.0))
        x[p:p + L] += a * decay * rng.standard_normal(L)
    # A few louder pops, as on a worn record (about 1.8 per second).
    for p in rng.integers(0, n - 400, size=int(1.8 * dur)):
        L = int(rng.integers(100, 300))
        x[p:p + L] += rng.uniform(0.2, 0.5) * np.exp(-np.arange(L) / 40.0) * \
            np.sign(rng.standard_normal()) * (1 + 0.3 * rng.standard_normal(L))
    return fft_filter(x, lambda f: 1 / (1 + (f / 7000) ** 2))  # a bit of HF roll-off


BABBLE_TALKERS = [("en-us+m1", "en"), ("en-gb+f3", "en"), ("de+m4", "de"),
                  ("fr-fr+m2", "fr"), ("es+f4", "es"), ("it+m6", "it"),
                  ("en-us+f1", "en"), ("nl+m3", "nl")]


def noise_babble(rng, dur):
    n = int(dur * SR)
    mix = np.zeros(n)
    for voice, lang in BABBLE_TALKERS:
        order = rng.permutation(len(SENTENCES[lang]))
        speed, pitch = int(rng.integers(150, 195)), int(rng.integers(30, 70))
        stream, k = [], 0
        while sum(len(a) for a in stream) < n:
            u = trim_edges(espeak(SENTENCES[lang][order[k % len(order)]], voice,
                                  speed, pitch), SR, -50, 0.02)
            stream += [u, silence(rng.uniform(0.1, 0.4))]
            k += 1
        talker = np.concatenate(stream)
        talker = np.roll(talker, -int(rng.integers(0, len(talker))))[:n]
        talker /= np.sqrt(np.mean(talker**2)) + 1e-12
        mix += 10 ** (rng.uniform(-8, 0) / 20) * talker
    return mix


NOISES = [
    ("white", noise_white, 8.0, "white Gaussian noise (numpy)"),
    ("pink", noise_pink, 8.0, "pink (1/f) noise, FFT-shaped Gaussian (numpy)"),
    ("brown", noise_brown, 7.0, "brown (1/f^2) noise, FFT-shaped, high-passed at 15 Hz (numpy)"),
    ("hum_50hz", noise_hum50, 6.0,
     "50 Hz mains hum, 13 partials, slow drift, faint hiss (numpy)"),
    ("hum_60hz_buzz", noise_hum60_buzz, 6.0,
     "60 Hz buzz: 8 partials, soft-clipped (tanh), hiss (numpy)"),
    ("fan_rumble", noise_fan_rumble, 8.0,
     "fan/rumble: pink noise band-passed 40-600 Hz + 87 Hz blade tone, slow AM (numpy)"),
    ("crackle", noise_crackle, 7.0,
     "vinyl-style clicks and pops (Poisson, Pareto amplitudes) over faint hiss (numpy)"),
    ("babble", noise_babble, 10.0,
     "multi-talker babble: 8 overlapping espeak-ng voices (en, de, fr, es, it, nl), random gains/offsets"),
]


def build_noise(corpus: Corpus, espeak_version: str) -> None:
    print("noise")
    for name, fn, dur, desc in NOISES:
        x = fade(fn(rng_for("noise_" + name), dur), SR, 0.02, 0.02)
        src = desc
        if name == "babble":
            src += f"; espeak-ng {espeak_version} (Debian)"
        corpus.write("noise", name, x, NOISE_PEAK_DBFS, source=src,
                     license=LICENSE_OURS + (" (espeak-ng output; our text)"
                                             if name == "babble" else ""))


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

def check_prerequisites() -> tuple[str, Path, str]:
    missing = [p for p in ("espeak-ng", "fluidsynth") if shutil.which(p) is None]
    if soxr is None and shutil.which("sox") is None:
        missing.append("sox (or: pip install soxr)")
    if missing:
        die("missing program(s): " + ", ".join(missing) + "\n  install with: "
            "sudo apt-get install -y --no-install-recommends espeak-ng fluidsynth "
            "fluid-soundfont-gm asterisk-core-sounds-en-wav sox")
    try:
        import mido  # noqa: F401
    except ImportError:
        die("python package 'mido' is missing (pip install mido); it is used to "
            "write the generated MIDI files")
    if not ASTERISK_DIR.is_dir():
        die(f"{ASTERISK_DIR} not found; install asterisk-core-sounds-en-wav")
    for sfont in SOUNDFONTS:
        if sfont[1].exists():
            if sfont[0] != SOUNDFONTS[0][0]:
                print(f"warning: {SOUNDFONTS[0][1]} not found, using {sfont[1]}; "
                      "music will differ from the committed corpus", file=sys.stderr)
            return sfont
    die("no General MIDI soundfont found; install fluid-soundfont-gm")
    raise AssertionError


def verify(out_dir: Path) -> bool:
    """Check every FLAC file and the manifest; print a summary table."""
    ok = True
    files = sorted(p for k in ("speech", "music", "noise")
                   for p in (out_dir / k).glob("*.flac"))
    manifest = {}
    mpath = out_dir / "manifest.jsonl"
    if mpath.exists():
        for line in mpath.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            manifest[e["path"]] = e
    totals = {"speech": 0.0, "music": 0.0, "noise": 0.0}
    nbytes = 0
    print(f"\n{'file':44s} {'dur_s':>6s} {'peak':>7s} {'rms':>7s} {'kB':>6s}")
    for p in files:
        rel = p.relative_to(out_dir).as_posix()
        info = sf.info(p)
        x, sr = sf.read(p, dtype="int16")
        dur = len(x) / sr
        peak = np.abs(x.astype(np.int32)).max() / 32768
        rms = np.sqrt(np.mean((x / 32768.0) ** 2))
        size = p.stat().st_size
        nbytes += size
        totals[rel.split("/")[0]] += dur
        problems = []
        if info.format != "FLAC" or info.subtype != "PCM_16":
            problems.append(f"format {info.format}/{info.subtype}")
        if sr != SR or info.channels != 1:
            problems.append(f"{sr} Hz, {info.channels} ch")
        if not (MIN_DUR_S <= dur <= MAX_DUR_S):
            problems.append(f"duration {dur:.2f}")
        if peak >= 0.999 or np.sum(np.abs(x.astype(np.int32)) >= 32767) > 0:
            problems.append("clipped")
        if 20 * np.log10(rms + 1e-12) < -45:
            problems.append("(nearly) silent")
        if rel not in manifest:
            problems.append("not in manifest")
        elif abs(manifest[rel]["duration_s"] - dur) > 1e-3:
            problems.append("manifest duration mismatch")
        print(f"{rel:44s} {dur:6.2f} {20*np.log10(peak):7.2f} "
              f"{20*np.log10(rms):7.2f} {size/1024:6.0f}"
              + ("  <-- " + ", ".join(problems) if problems else ""))
        ok &= not problems
    for rel in manifest:
        if not (out_dir / rel).exists():
            print(f"manifest entry without file: {rel}")
            ok = False
    print()
    for k, v in totals.items():
        flag = "" if v >= MIN_TOTAL_S[k] else f"  <-- below {MIN_TOTAL_S[k]:.0f} s"
        ok &= v >= MIN_TOTAL_S[k]
        print(f"total {k:7s} {v:7.1f} s ({v/60:.2f} min){flag}")
    print(f"total size    {nbytes/1e6:7.2f} MB ({nbytes} bytes, {len(files)} files)"
          + ("" if nbytes <= MAX_TOTAL_BYTES else "  <-- too large"))
    ok &= nbytes <= MAX_TOTAL_BYTES
    print("verify:", "OK" if ok else "FAILED")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE,
                    help="output directory (default: this script's folder)")
    ap.add_argument("--midi-dir", type=Path, default=None,
                    help="also keep the generated .mid files in this folder")
    ap.add_argument("--verify-only", action="store_true",
                    help="only check the existing corpus")
    args = ap.parse_args()
    out = args.out.resolve()
    if args.verify_only:
        sys.exit(0 if verify(out) else 1)

    soundfont = check_prerequisites()
    v_espeak = deb_version("espeak-ng")
    v_fluid = deb_version("fluidsynth")
    v_ast = deb_version("asterisk-core-sounds-en-wav")
    print(f"espeak-ng {v_espeak}, fluidsynth {v_fluid}, "
          f"asterisk-core-sounds-en-wav {v_ast}, soundfont {soundfont[1]}, "
          f"resampler {'soxr ' + soxr.__version__ if soxr else 'sox'}")
    for k in ("speech", "music", "noise"):
        (out / k).mkdir(parents=True, exist_ok=True)
        for old in (out / k).glob("*.flac"):
            old.unlink()
    corpus = Corpus(out)
    build_espeak_speech(corpus, v_espeak)
    build_asterisk_speech(corpus, v_ast)
    build_music(corpus, soundfont, v_fluid, args.midi_dir)
    build_noise(corpus, v_espeak)
    corpus.write_manifest()
    if not verify(out):
        sys.exit(1)


if __name__ == "__main__":
    main()
