"""Sources, specs, manifests and bad input: the embedded corpus, folders, manifests, broken files."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_pipelines import pipeline
from data_pipelines.audio_io import EMBEDDED_DIR, AudioReadError, read_audio
from data_pipelines.manifest import labels_from_path, read_manifest, scan_folder, write_manifest
from data_pipelines.sources import open_source
from data_pipelines.specs import parse_spec
from sscodec.config import mixture
from data_pipelines.stats import data_stats
from sscodec.config import ConfigError, apply_overrides, default_config, validate


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
    assert {f.kind for f in files} == {"speech", "music", "noise"}
    assert os.path.exists(os.path.join(EMBEDDED_DIR, "PROVENANCE.md"))


@pytest.fixture
def messy_folder(tmp_path):
    """Good files (one 16 kHz stereo) among corrupt, empty, non-audio, truncated and NaN files."""
    speech = sorted(os.listdir(os.path.join(EMBEDDED_DIR, "speech")))
    good = os.path.join(EMBEDDED_DIR, "speech", speech[0])
    shutil.copy(good, tmp_path / "good.flac")
    x = read_audio(good, 16000)
    sf.write(tmp_path / "stereo16k.wav", np.stack([x, 0.5 * x], 1), 16000)
    (tmp_path / "garbage.wav").write_bytes(os.urandom(4000))
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "text.mp3").write_text("not audio either")
    data = open(good, "rb").read()
    (tmp_path / "truncated.flac").write_bytes(data[: len(data) // 50])
    sf.write(tmp_path / "nan.wav", np.full(48000, np.nan, np.float32), 24000, subtype="FLOAT")
    return tmp_path


def test_bad_files_are_skipped_counted_and_never_reach_a_batch(messy_folder):
    files, skipped = scan_folder(str(messy_folder))
    names = sorted(os.path.basename(f.path) for f in files)
    assert "good.flac" in names and "stereo16k.wav" in names
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert set(reasons) >= {"garbage.wav", "empty.flac", "text.mp3"} and all(reasons.values())
    # A deep scan decodes everything and also finds the truncated and NaN files.
    deep_files, deep_skipped = scan_folder(str(messy_folder), deep=True)
    assert sorted(os.path.basename(f.path) for f in deep_files) == ["good.flac", "stereo16k.wav"]
    assert {"truncated.flac", "nan.wav"} <= {os.path.basename(p) for p, _ in deep_skipped}

    config = default_config()
    config.data.train, config.data.kinds = str(messy_folder), ()
    config.data.crop_frames, config.data.batch_size, config.num_steps = 30, 4, 6
    data = pipeline.make_training_data(config)
    assert data.scan_skips() == len(skipped)
    replaced = 0
    for s in range(len(data.dataset)):
        batch, n = pipeline.split_batch(data.dataset[s])
        replaced += n
        assert batch["input"].shape == (4, 9600) and batch["input"].dtype == np.float32
        assert np.isfinite(batch["input"]).all() and np.isfinite(batch["target"]).all()
        assert (np.sqrt((batch["input"] ** 2).mean(1)) > 1e-3).all()
        assert np.abs(batch["input"]).max() <= 1.0
    assert replaced > 0  # the truncated and NaN files were met, counted and replaced


def test_a_source_with_nothing_readable_fails_clearly(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"RIFF....")
    with pytest.raises(FileNotFoundError, match="no readable audio"):
        open_source(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data not found"):
        open_source(str(tmp_path / "nope"))
    sf.write(tmp_path / "nan.wav", np.full(4800, np.nan, np.float32), 24000, subtype="FLOAT")
    source = open_source(str(tmp_path))
    with pytest.raises(AudioReadError, match="unreadable items in a row"):
        from data_pipelines.transforms import draw_crop
        draw_crop(source, 0, 2400, 24000, np.random.default_rng(0))


def test_spec_forms(tmp_path):
    assert parse_spec("embedded").form == "manifest"
    assert parse_spec(str(tmp_path)).form == "folder"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    assert parse_spec(str(manifest)).form == "manifest"
    spec = parse_spec("tfds:libritts/clean100:train")
    assert (spec.form, spec.name, spec.split) == ("tfds", "libritts/clean100", "train")
    assert str(spec) == "tfds:libritts/clean100:train"
    for bad in ("tfds:libritts", "tfds::train", ""):
        with pytest.raises(ValueError):
            parse_spec(bad)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="manifest"):
        parse_spec(str(tmp_path / "x.txt"))
    # The config names a dataset by a spec (overridable) or a mixture list.
    config = default_config()
    apply_overrides(config, [f"--config.data.train={tmp_path}"])
    assert mixture(config.data.train, ("speech",)) == [
        {"spec": str(tmp_path), "weight": 1.0, "kinds": ("speech",), "kind": ""}]
    config.data.train = ["embedded", dict(spec="embedded", weight=3, kind="music")]
    validate(config)
    config.data.train = [dict(spec="embedded", wieght=3)]
    with pytest.raises(ConfigError, match="data.train"):
        validate(config)


def test_manifest_index_round_trip_and_labels(messy_folder, tmp_path):
    corpus = messy_folder / "corpus"
    for sub in ("train/speech", "test/music"):
        os.makedirs(corpus / sub)
    shutil.copy(messy_folder / "good.flac", corpus / "train/speech/a.flac")
    shutil.copy(messy_folder / "stereo16k.wav", corpus / "test/music/b.wav")
    shutil.copy(messy_folder / "garbage.wav", corpus / "train/speech/bad.wav")
    assert labels_from_path("train/speech/x.wav") == ("speech", "train")
    assert labels_from_path("Noise/dev/x.wav") == ("noise", "validation")
    assert labels_from_path("x.wav") == ("", "")
    files, skipped = scan_folder(str(corpus))
    path = str(corpus / "manifest.jsonl")
    write_manifest(path, files, skipped)
    lines = [json.loads(line) for line in open(path)]
    assert lines[0]["path"] == "test/music/b.wav" and lines[0]["channels"] == 2
    assert any("error" in line for line in lines)
    again, again_skipped = read_manifest(path)
    assert again == files and [p for p, _ in again_skipped] == [p for p, _ in skipped]
    stats = data_stats(path, progress=False)
    assert stats["files"] == 2 and len(stats["unreadable"]) == 1
    assert set(stats["hours_by_kind"]) == {"speech", "music"}
    assert set(stats["sample_rates"]) == {16000, 24000}
    source = open_source(path, kinds=("music",))
    assert len(source) == 1 and source.kind(0) == "music"
    (tmp_path / "broken.jsonl").write_text('{"path": "a.wav"}\n')
    with pytest.raises(ValueError, match="broken.jsonl:1"):
        read_manifest(str(tmp_path / "broken.jsonl"))


def test_wrong_rate_and_multichannel_files_are_resampled_and_mixed_down(messy_folder):
    source = open_source(str(messy_folder))
    index = [os.path.basename(f.path) for f in source.files].index("stereo16k.wav")
    clip = source.clip(index, 1000.0, 24000)
    good = read_audio(str(messy_folder / "good.flac"), 24000)
    n = min(len(clip), len(good)) - 2000
    assert abs(len(clip) - len(good)) < 50  # 16 kHz -> 24 kHz keeps the duration
    # Left x, right 0.5 x: the mono mix is 0.75 x (up to the 16 kHz band limit).
    scale = np.dot(clip[:n], good[:n]) / np.dot(good[:n], good[:n])
    assert 0.7 < scale < 0.78
    crop = source.crop(index, 4800, 24000, np.random.default_rng(0))
    assert crop.dtype == np.float32 and crop.shape == (4800,)
