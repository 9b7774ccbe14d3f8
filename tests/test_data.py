"""The embedded corpus and the minimal Grain pipeline: shapes, determinism, bad files."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_pipelines import pipeline
from data_pipelines.audio_io import EMBEDDED_DIR, read_audio, scan_folder


def test_embedded_corpus_meets_its_spec():
    with open(os.path.join(EMBEDDED_DIR, "manifest.jsonl")) as f:
        manifest = [json.loads(line) for line in f]
    total = {}
    size = 0
    for entry in manifest:
        path = os.path.join(EMBEDDED_DIR, entry["path"])
        info = sf.info(path)
        assert info.samplerate == 24000 and info.channels == 1 and info.format == "FLAC"
        assert abs(info.frames / 24000 - entry["duration_s"]) < 0.01
        total[entry["kind"]] = total.get(entry["kind"], 0.0) + entry["duration_s"]
        size += os.path.getsize(path)
    assert total["speech"] >= 180 and total["music"] >= 120 and total["noise"] > 0
    assert size <= 15 * 2 ** 20
    files, skipped = scan_folder(EMBEDDED_DIR)
    assert len(files) == len(manifest) and not skipped
    assert os.path.exists(os.path.join(EMBEDDED_DIR, "PROVENANCE.md"))


@pytest.fixture
def messy_folder(tmp_path):
    """Two good files (one 16 kHz stereo) among corrupt, empty, truncated and NaN files."""
    speech = sorted(os.listdir(os.path.join(EMBEDDED_DIR, "speech")))
    good = os.path.join(EMBEDDED_DIR, "speech", speech[0])
    shutil.copy(good, tmp_path / "good.flac")
    x = read_audio(good, 16000)
    sf.write(tmp_path / "stereo16k.wav", np.stack([x, 0.5 * x], 1), 16000)
    (tmp_path / "garbage.wav").write_bytes(os.urandom(4000))
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    data = open(good, "rb").read()
    (tmp_path / "truncated.flac").write_bytes(data[: len(data) // 50])
    sf.write(tmp_path / "nan.wav", np.full(48000, np.nan, np.float32), 24000, subtype="FLOAT")
    return tmp_path


def test_bad_files_are_skipped_and_counted(messy_folder, caplog):
    files, skipped = scan_folder(str(messy_folder))
    names = sorted(os.path.basename(f.path) for f in files)
    assert "good.flac" in names and "stereo16k.wav" in names
    assert {os.path.basename(p) for p, _ in skipped} >= {"garbage.wav", "empty.flac"}
    before = pipeline.SKIPPED.total
    ds = pipeline.make_dataset(files, sample_rate=24000, crop_length=9600, batch_size=4,
                               num_batches=6, seed=0)
    for i in range(len(ds)):
        batch = ds[i]
        assert batch["input"].shape == (4, 9600) and batch["input"].dtype == np.float32
        assert np.isfinite(batch["input"]).all()
        assert (np.sqrt((batch["input"] ** 2).mean(1)) > 1e-3).all()
    assert pipeline.SKIPPED.total > before  # truncated / NaN files were met and counted


def test_pipeline_is_deterministic_and_resumable():
    files = pipeline.list_training_files("embedded", ("speech", "music"))
    make = lambda seed: pipeline.make_dataset(files, sample_rate=24000, crop_length=6400,
                                              batch_size=3, num_batches=8, seed=seed)
    a = [b["input"] for b in pipeline.iterate(make(1))]
    b = [b["input"] for b in pipeline.iterate(make(1), start=5)]
    c = make(2)[0]["input"]
    assert len(a) == 8 and len(b) == 3
    for x, y in zip(a[5:], b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c)
    assert np.abs(a[0]).max() <= 1.0


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no readable audio"):
        pipeline.list_training_files(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not found"):
        pipeline.list_training_files(str(tmp_path / "nope"))
