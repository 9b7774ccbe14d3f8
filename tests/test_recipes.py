"""Dataset recipes: the Asterisk recipe on a tiny synthetic sound root (no Debian packages needed)."""

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.manifest import read_manifest
from data_pipelines.recipes import asterisk, common
from data_pipelines.recipes.asterisk import PackageUnavailable, prepare_asterisk
from tests.conftest import sscodec

RATE = 16_000


def _tone(seconds: float, freq: float = 300.0, rate: int = RATE, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
            ).astype(np.float32)


def _write_g722(path, x: np.ndarray) -> None:
    import av
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(str(path), "w", format="g722") as container:
        stream = container.add_stream("g722", rate=RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32767).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            container.mux(packet)


def _write_wav(path, x: np.ndarray, rate: int = RATE) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(str(path), x, rate)


VOICE_DIRS = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June",
              "it": "it_IT_m_Carlo", "ru": "ru_RU_f_IvrvoiceRU"}


@pytest.fixture
def sound_root(tmp_path):
    """sounds/<voice>/ for the five languages (G.722 and WAV prompts) and moh/ with two tracks.

    Bad files: en/hi (0.4 s, short), en/silence/1 (silent), fr/broken.wav (corrupt),
    it/old-8k.wav (narrowband) -> 4 skipped.
    """
    root = tmp_path / "asterisk"
    sounds = root / "sounds"
    for i, (lang, voice) in enumerate(VOICE_DIRS.items()):
        _write_g722(sounds / voice / "welcome.g722", _tone(1.3, 200 + 40 * i))
        _write_g722(sounds / voice / "digits" / "1.g722", _tone(1.1, 220 + 40 * i))
        _write_wav(sounds / voice / "goodbye.wav", _tone(1.2, 250 + 40 * i))
    _write_g722(sounds / VOICE_DIRS["en"] / "hi.g722", _tone(0.4))
    _write_g722(sounds / VOICE_DIRS["en"] / "silence" / "1.g722", np.zeros(RATE * 2, np.float32))
    (sounds / VOICE_DIRS["fr"] / "broken.wav").write_bytes(b"RIFF\x00\x00not a wave file" * 10)
    _write_wav(sounds / VOICE_DIRS["it"] / "old-8k.wav", _tone(1.5, rate=8000), rate=8000)
    _write_g722(root / "moh" / "macroform-tune.g722", _tone(3.0, 440))
    _write_wav(root / "moh" / "reno_project-system.wav", _tone(2.5, 660))
    return root


def _prepare(out, root, **kw):
    kw = {"music_segment_s": 1.0, "progress": False, **kw}
    return prepare_asterisk(str(out), str(root), **kw)


def test_split_by_whole_speakers(tmp_path, sound_root):
    out = tmp_path / "out"
    summary = _prepare(out, sound_root)
    train, train_bad = read_manifest(str(out / "train" / "manifest.jsonl"))
    evals, eval_bad = read_manifest(str(out / "eval" / "manifest.jsonl"))
    assert not train_bad and not eval_bad

    def langs(files):
        return {os.path.relpath(f.path, out).split(os.sep)[2] for f in files if f.kind == "speech"}

    assert langs(train) == {"en", "es", "fr"} and langs(evals) == {"it", "ru"}
    assert not any(f"{os.sep}it{os.sep}" in f.path or f"{os.sep}ru{os.sep}" in f.path
                   for f in train)
    assert {f.split for f in train} == {"train"} and {f.split for f in evals} == {"test"}
    # Music: whole tracks held out, cut into 1 s pieces.
    assert {os.path.basename(os.path.dirname(f.path)) for f in train if f.kind == "music"} == {
        "macroform-tune"}
    assert {os.path.basename(os.path.dirname(f.path)) for f in evals if f.kind == "music"} == {
        "reno_project-system"}
    # 24 kHz mono FLAC, durations kept through G.722 decoding and resampling.
    for f in train + evals:
        info = sf.info(f.path)
        assert (info.samplerate, info.channels, info.format) == (24_000, 1, "FLAC")
    welcome = [f for f in train if f.path.endswith(os.path.join("en", "welcome.flac"))]
    assert len(welcome) == 1 and abs(welcome[0].duration - 1.3) < 0.01
    assert os.path.exists(out / "train" / "speech" / "en" / "digits" / "1.flac")
    # Skipped files counted (and listed), not fatal.
    assert summary["skip_counts"] == {"short": 1, "silent": 1, "corrupt": 1, "narrowband": 1}
    provenance = (out / "PROVENANCE.md").read_text()
    assert "broken.wav" in provenance and "CC-BY-3.0" in provenance and "Carlo Flora" in provenance
    assert summary["splits"]["eval"]["speaker_files"] == {"it": 3, "ru": 3}
    assert summary["splits"]["train"]["speaker_files"] == {"en": 3, "es": 3, "fr": 3}


def test_idempotent(tmp_path, sound_root):
    out = tmp_path / "out"
    first = _prepare(out, sound_root)
    flacs = sorted(str(p) for p in out.rglob("*.flac"))
    mtimes = [os.stat(p).st_mtime_ns for p in flacs]
    manifest = (out / "train" / "manifest.jsonl").read_text()
    second = _prepare(out, sound_root)
    assert first["written"] == len(flacs) > 0 and first["existing"] == 0
    assert second["written"] == 0 and second["existing"] == len(flacs)
    assert sorted(str(p) for p in out.rglob("*.flac")) == flacs
    assert [os.stat(p).st_mtime_ns for p in flacs] == mtimes
    assert (out / "train" / "manifest.jsonl").read_text() == manifest
    assert second["skip_counts"] == first["skip_counts"]
    # A deleted file is written again, nothing else.
    os.remove(flacs[0])
    assert _prepare(out, sound_root)["written"] == 1


def test_speaker_choice_is_checked(tmp_path, sound_root):
    with pytest.raises(ValueError, match="Allison Smith"):  # es is en's speaker
        _prepare(tmp_path / "o", sound_root, eval_speakers=("es",))
    with pytest.raises(ValueError, match="eval speakers"):
        _prepare(tmp_path / "o", sound_root, eval_speakers=("de",))
    summary = _prepare(tmp_path / "o", sound_root, eval_speakers=("fr",), music=False)
    assert summary["eval_speakers"] == ["fr"] and summary["splits"]["eval"]["music_files"] == 0
    shutil.rmtree(sound_root / "sounds" / VOICE_DIRS["ru"])
    with pytest.raises(FileNotFoundError, match="asterisk-core-sounds-ru-g722"):
        _prepare(tmp_path / "o2", sound_root)


def test_no_apt_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(asterisk, "DEFAULT_ROOT", str(tmp_path / "nothing"))
    monkeypatch.setattr(common.shutil, "which", lambda name: None)
    with pytest.raises(PackageUnavailable, match="apt-get install .*asterisk-core-sounds-en-g722"):
        prepare_asterisk(str(tmp_path / "out"))


def test_cli_end_to_end(tmp_path, sound_root):
    out = tmp_path / "out"
    result = sscodec("data", "prepare", "asterisk", "--data-dir", str(out),
                     "--manual-dir", str(sound_root))
    text = result.stdout.decode()
    assert "eval: speech" in text and "it " in text and "skipped: 1 corrupt" in text
    assert os.path.isfile(out / "train" / "manifest.jsonl") and os.path.isfile(out / "PROVENANCE.md")
    stats = sscodec("data", "stats", str(out / "eval" / "manifest.jsonl")).stdout.decode()
    assert "24000 Hz" in stats and "speech" in stats and "splits:       test" in stats
    folder = sscodec("data", "stats", str(out / "train")).stdout.decode()
    assert "music" in folder and "unreadable:   0" in folder
    bad = sscodec("data", "prepare", "asterisk", "--manual-dir", str(sound_root), check=False)
    assert bad.returncode == 2 and b"--data-dir" in bad.stderr
