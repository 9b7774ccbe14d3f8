"""TFDS builders (data_pipelines.tfds_builders): small offline copies of each corpus' real layout
are prepared as array_record files and read back with tfds.data_source, without TensorFlow."""

import contextlib
import functools
import http.server
import logging
import os
import shutil
import tarfile
import threading
import types
import zipfile

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from data_pipelines import tfds_builders  # registers the builders with TFDS
from data_pipelines.tfds_builders import kind_of, prepare

RNG = np.random.default_rng(0)


def write_audio(path, rate, seconds=0.25, channels=1, **kwargs) -> np.ndarray:
    """Writes random float samples in [-0.5, 0.5]; returns them as [T, C]."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    x = RNG.uniform(-0.5, 0.5, (int(rate * seconds), channels)).astype(np.float32)
    sf.write(path, x, rate, **kwargs)
    return x


def write_bytes(path, data=b"\x00not audio" * 64):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def serve(directory):
    """A local HTTP server for `directory`: yields (base URL, the list of paths requested)."""
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep the test output quiet
            return

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requested
    finally:
        server.shutdown()
        thread.join()


def read_split(name, split, data_dir) -> dict[str, dict]:
    """{id: record} of a prepared split."""
    data = tfds.data_source(name, split=split, data_dir=str(data_dir))
    records = [data[i] for i in range(len(data))]
    return {r["id"].decode(): r for r in records}


def skipped_ids(name, data_dir) -> dict[str, list[str]]:
    skipped = tfds.builder(name, data_dir=str(data_dir)).info.metadata["skipped"]
    return {split: [file_id for file_id, _ in entries] for split, entries in skipped.items()}


def assert_audio(record, written: np.ndarray, rate: int):
    """int16 mono at the native rate, equal to the written samples (channel mean) up to rounding."""
    audio = record["audio"]
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert int(record["sample_rate"]) == rate
    np.testing.assert_allclose(audio, written.mean(axis=1) * 32767, atol=2)


# ---------------------------------------------------------------- LibriTTS


def make_libritts_subset(root, subset, utterances, text=True) -> dict[str, np.ndarray]:
    """LibriTTS/<subset>/<speaker>/<chapter>/<speaker>_<chapter>_<utt>.wav (+ .normalized.txt)."""
    written = {}
    for speaker, chapter, utt in utterances:
        stem = f"{speaker}_{chapter}_{utt}"
        base = os.path.join(root, "LibriTTS", subset, speaker, chapter, stem)
        written[f"{subset}/{speaker}/{chapter}/{stem}"] = write_audio(base + ".wav", 24000)
        if text:
            for kind in ("normalized", "original"):
                with open(f"{base}.{kind}.txt", "w", encoding="utf-8") as f:
                    f.write(f"{kind} text of {stem}\n")
    return written


@pytest.fixture(scope="module")
def libritts(tmp_path_factory):
    """clean100 from a manual_dir mixing the three accepted forms, then clean460 whose missing
    train-clean-360 is downloaded (from a local HTTP server)."""
    tmp = tmp_path_factory.mktemp("libritts")
    src, manual, data_dir = tmp / "src", tmp / "manual", tmp / "data"
    written = make_libritts_subset(src, "train-clean-100", [("19", "198", "000000_000000"),
                                                            ("19", "198", "000001_000000"),
                                                            ("26", "495", "000004_000000")])
    written.update(make_libritts_subset(src, "train-clean-100", [("26", "495", "000005_000000")],
                                        text=False))
    write_bytes(str(src / "LibriTTS/train-clean-100/26/495/26_495_000009_000000.wav"))
    written.update(make_libritts_subset(src, "train-clean-360", [("14", "208", "000000_000000")]))
    written.update(make_libritts_subset(src, "dev-clean", [("84", "121", "000000_000000")]))
    written.update(make_libritts_subset(src, "test-clean", [("61", "70968", "000000_000000"),
                                                            ("61", "70968", "000001_000000")]))
    shutil.copytree(src / "LibriTTS/train-clean-100", manual / "LibriTTS/train-clean-100")
    shutil.copytree(src / "LibriTTS/dev-clean", manual / "dev-clean")
    with tarfile.open(manual / "test-clean.tar.gz", "w:gz") as tar:
        tar.add(src / "LibriTTS/test-clean", arcname="LibriTTS/test-clean")

    served = tmp / "served"
    served.mkdir()
    with tarfile.open(served / "train-clean-360.tar.gz", "w:gz") as tar:
        tar.add(src / "LibriTTS/train-clean-360", arcname="LibriTTS/train-clean-360")

    with serve(served) as (url, requested), pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfds_builders.libritts, "URL", url)
        counts100 = prepare("libritts/clean100", str(data_dir), str(manual))
        requested100 = list(requested)
        counts460 = prepare("libritts/clean460", str(data_dir), str(manual))
    return types.SimpleNamespace(data_dir=data_dir, written=written, counts100=counts100,
                                 counts460=counts460, requested100=requested100,
                                 requested460=requested[len(requested100):])


def test_libritts_clean100_from_manual_dir(libritts):
    assert libritts.counts100 == {"train": 4, "validation": 1, "test": 2}
    assert libritts.requested100 == []  # extracted trees and archives in manual_dir: no download
    for split in ("train", "validation", "test"):
        records = read_split("libritts/clean100", split, libritts.data_dir)
        assert len(records) == libritts.counts100[split]
        for file_id, record in records.items():
            assert_audio(record, libritts.written[file_id], 24000)
            stem = file_id.rsplit("/", 1)[1]
            expected = "" if stem == "26_495_000005_000000" else f"normalized text of {stem}"
            assert record["text"].decode() == expected
    assert set(read_split("libritts/clean100", "test", libritts.data_dir)) == {
        "test-clean/61/70968/61_70968_000000_000000", "test-clean/61/70968/61_70968_000001_000000"}


def test_libritts_skips_corrupt_file(libritts):
    assert skipped_ids("libritts/clean100", libritts.data_dir) == {
        "train": ["train-clean-100/26/495/26_495_000009_000000"], "validation": [], "test": []}


def test_libritts_clean460_downloads_only_missing_subset(libritts):
    assert libritts.requested460 == ["/train-clean-360.tar.gz"]
    assert libritts.counts460 == {"train": 5, "validation": 1, "test": 2}
    train = read_split("libritts/clean460", "train", libritts.data_dir)
    assert_audio(train["train-clean-360/14/208/14_208_000000_000000"],
                 libritts.written["train-clean-360/14/208/14_208_000000_000000"], 24000)


# ---------------------------------------------------------------- MagnaTagATune

MTT_TAGS = ("guitar", "classical", "slow")
MTT_CLIPS = {  # mp3_path: tags
    "0/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-0-29.mp3":
        ["classical", "slow"],
    "0/jacob_heringman-josquin_des_prez_lute_settings-19-gintzler__pater_noster-146-175.mp3":
        ["guitar"],
    "c/lisa_debenedictis-tigers-01-low_and_slow-30-59.mp3": [],
    "d/rapoon-vernal_crossing-08-dahina-88-117.mp3": ["guitar", "slow"],  # in column order
}
MTT_BROKEN = "d/broken_artist-album-01-song-0-29.mp3"


def make_mtt(root):
    """root/<folder>/<clip>.mp3 (16 kHz sines) + a broken clip; returns {id: sine}."""
    sines = {}
    for i, clip in enumerate(MTT_CLIPS):
        t = np.arange(4800) / 16000
        x = (0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t)).astype(np.float32)[:, None]
        os.makedirs(os.path.dirname(root / clip), exist_ok=True)
        sf.write(root / clip, x, 16000, format="MP3")
        sines[clip[: -len(".mp3")]] = x
    write_bytes(str(root / MTT_BROKEN))
    return sines


def write_annotations(path):
    """annotations_final.csv as distributed: tab-separated, quoted, one 0/1 column per tag."""
    lines = ["\t".join(f'"{c}"' for c in ("clip_id", *MTT_TAGS, "mp3_path"))]
    for i, (clip, tags) in enumerate({**MTT_CLIPS, MTT_BROKEN: ["guitar"]}.items()):
        values = [str(i + 2)] + ["1" if t in tags else "0" for t in MTT_TAGS] + [clip]
        lines.append("\t".join(f'"{v}"' for v in values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_zip_parts(src, dest):
    """The clips zipped, the zip cut in three: dest/mp3.zip.001-003."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest / "mp3.zip", "w") as z:
        for clip in [*MTT_CLIPS, MTT_BROKEN]:
            z.write(src / clip, arcname=clip)
    data = (dest / "mp3.zip").read_bytes()
    (dest / "mp3.zip").unlink()
    cut = len(data) // 3
    for i, part in enumerate((data[:cut], data[cut:2 * cut], data[2 * cut:])):
        (dest / f"mp3.zip.00{i + 1}").write_bytes(part)


@pytest.fixture(scope="module", params=["folders", "zip_parts", "download"])
def mtt(request, tmp_path_factory):
    """manual_dir holding the extracted folders (under mp3/) or the three parts of the split zip
    with the annotations, or no manual_dir and all of it downloaded (from a local HTTP server)."""
    tmp = tmp_path_factory.mktemp(f"mtt_{request.param}")
    src, manual, data_dir = tmp / "src", tmp / "manual", tmp / "data"
    sines = make_mtt(src)
    if request.param == "folders":
        shutil.copytree(src, manual / "mp3")
    else:
        write_zip_parts(src, manual)
    write_annotations(manual / "annotations_final.csv")
    if request.param == "download":
        with serve(manual) as (url, requested), pytest.MonkeyPatch.context() as mp:
            mp.setattr(tfds_builders.magnatagatune, "URL", url)
            counts = prepare("magnatagatune", str(data_dir))
        assert sorted(requested) == ["/annotations_final.csv", "/mp3.zip.001", "/mp3.zip.002",
                                     "/mp3.zip.003"]
    else:
        counts = prepare("magnatagatune", str(data_dir), str(manual))
    return types.SimpleNamespace(data_dir=data_dir, sines=sines, counts=counts)


def test_magnatagatune_splits_audio_and_tags(mtt):
    assert mtt.counts == {"train": 2, "validation": 1, "test": 1}
    for split in ("train", "validation", "test"):
        for file_id, record in read_split("magnatagatune", split, mtt.data_dir).items():
            assert record["audio"].dtype == np.int16 and int(record["sample_rate"]) == 16000
            sine = mtt.sines[file_id][:, 0] * 32767
            audio = record["audio"].astype(np.float32)
            assert abs(len(audio) - len(sine)) < 1200  # mp3 frames may pad the end
            n = min(len(audio), len(sine))
            assert np.corrcoef(audio[:n], sine[:n])[0, 1] > 0.95
            assert [t.decode() for t in record["tags"]] == MTT_CLIPS[file_id + ".mp3"]
    assert skipped_ids("magnatagatune", mtt.data_dir)["test"] == [MTT_BROKEN[: -len(".mp3")]]


# ---------------------------------------------------------------- audio_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folder")
    root, data_dir = tmp / "corpus", tmp / "data"
    written = {
        "train/speech/a": (write_audio(str(root / "train/speech/a.wav"), 16000), 16000),
        "train/speech/sub/b": (write_audio(str(root / "train/speech/sub/b.flac"), 22050), 22050),
        "train/noise/n": (write_audio(str(root / "train/noise/n.wav"), 16000), 16000),
        "valid/music/m": (write_audio(str(root / "valid/music/m.wav"), 32000), 32000),
        "test/stereo": (write_audio(str(root / "test/stereo.wav"), 44100, channels=2), 44100),
    }
    write_bytes(str(root / "train/notes.txt"), b"not audio")
    write_audio(str(root / "stray.wav"), 16000)  # outside the split folders: left out
    write_bytes(str(root / "test/corrupt.wav"))
    x = np.full((800, 1), np.nan, np.float32)
    sf.write(root / "test/nan.wav", x, 16000, subtype="FLOAT")
    counts = prepare("audio_folder", str(data_dir), str(root))
    return types.SimpleNamespace(data_dir=data_dir, written=written, counts=counts)


def test_audio_folder_splits_kinds_and_audio(folder):
    assert folder.counts == {"train": 3, "validation": 1, "test": 1}
    kinds = {}
    for split in ("train", "validation", "test"):
        for file_id, record in read_split("audio_folder", split, folder.data_dir).items():
            written, rate = folder.written[file_id]
            assert_audio(record, written, rate)  # the stereo file is averaged to mono
            kinds[file_id] = record["kind"].decode()
    assert kinds == {"train/speech/a": "speech", "train/speech/sub/b": "speech",
                     "train/noise/n": "noise", "valid/music/m": "music", "test/stereo": ""}


def test_audio_folder_skips_unreadable_files(folder):
    assert skipped_ids("audio_folder", folder.data_dir) == {
        "train": [], "validation": [], "test": ["test/corrupt", "test/nan"]}


def test_audio_folder_without_split_folders_is_all_train(tmp_path, caplog):
    root = tmp_path / "noises"
    write_audio(str(root / "noise/hum.ogg"), 16000)
    write_audio(str(root / "rain.aiff"), 16000)
    write_bytes(str(root / "noise/broken.mp3"))
    with caplog.at_level(logging.WARNING):
        counts = prepare("audio_folder", str(tmp_path / "data"), str(root))
    assert counts == {"train": 2}
    assert "noise/broken.mp3" in caplog.text
    records = read_split("audio_folder", "train", tmp_path / "data")
    assert {i: r["kind"].decode() for i, r in records.items()} == {"noise/hum": "noise", "rain": ""}


def test_audio_folder_needs_manual_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="manual_dir"):
        prepare("audio_folder", str(tmp_path / "data"), str(tmp_path / "missing"))


def test_kind_of():
    assert kind_of("libritts") == kind_of("libritts/clean100") == "speech"
    assert kind_of("magnatagatune") == "music"
    assert kind_of("audio_folder") == kind_of("mnist") == ""
