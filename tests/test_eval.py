"""`sscodec eval`: the evaluation set, bitrate selection, summaries, and one end-to-end run."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.specs import EMBEDDED_DIR
from sscodec.quality.eval_data import build_eval_set
from sscodec.evaluation.eval_table import mean_ci, summarize
from sscodec.evaluation.evaluate import model_bitrates, parse_kbps
from tests.conftest import sscodec


def test_eval_set_categories_references_and_determinism():
    a = build_eval_set("embedded", per_category=2, clip_seconds=2.0, seed=3)
    b = build_eval_set("embedded", per_category=2, clip_seconds=2.0, seed=3)
    assert [c.category for c in a.clips].count("clean_speech") == 2
    assert {c.category for c in a.clips} == {"clean_speech", "noisy_speech", "music"}
    assert [c.name for c in a.clips] == [c.name for c in b.clips]
    for clip in a.clips:
        assert len(clip.input) == 48000 and np.max(np.abs(clip.input)) == pytest.approx(0.708, 1e-3)
        np.testing.assert_array_equal(clip.input, [c for c in b.clips if c.name == clip.name][0].input)
        if clip.category == "noisy_speech":
            # The reference is the clean speech inside the mixture, at the mixture's scale.
            noise = clip.input - clip.reference
            snr = 10 * np.log10(np.sum(clip.reference ** 2) / np.sum(noise ** 2))
            assert snr == pytest.approx(clip.snr_db, abs=0.05) and 0 <= snr <= 15
            clean = [c for c in a.clips if c.category == "clean_speech"
                     and clip.name.startswith(c.name + "+")][0]
            assert abs(np.corrcoef(clean.input, clip.reference)[0, 1] - 1) < 1e-6
        else:
            np.testing.assert_array_equal(clip.input, clip.reference)
    other = build_eval_set("embedded", per_category=2, clip_seconds=2.0, seed=4)
    assert [c.name for c in other.clips] != [c.name for c in a.clips]


def test_eval_set_skips_unreadable_and_silent_files(tmp_path):
    speech = tmp_path / "speech"
    speech.mkdir()
    good = sorted(os.listdir(os.path.join(EMBEDDED_DIR, "speech")))[0]
    shutil.copy(os.path.join(EMBEDDED_DIR, "speech", good), speech / "good.flac")
    data = (speech / "good.flac").read_bytes()
    (speech / "truncated.flac").write_bytes(data[: len(data) // 50])
    sf.write(speech / "nan.wav", np.full(48000, np.nan, np.float32), 24000, subtype="FLOAT")
    sf.write(speech / "silent.wav", np.zeros(48000, np.float32), 24000)
    (speech / "garbage.wav").write_bytes(os.urandom(3000))
    result = build_eval_set(str(tmp_path), clip_seconds=2.0)
    assert [c.name for c in result.clips] == ["good"]  # no noise here: no noisy speech
    reasons = dict(result.skipped)
    assert "non-finite" in reasons["nan"] and "silent" in reasons["silent"]
    assert len(result.skipped) >= 4  # garbage (at scan), truncated, nan, silent
    with pytest.raises(ValueError, match="unknown categories"):
        build_eval_set(str(tmp_path), categories=("speech",))
    with pytest.raises(FileNotFoundError, match="no usable clips"):
        build_eval_set(str(tmp_path), categories=("music",))


def test_bitrate_selection_and_parsing(codec):
    assert model_bitrates(codec, None) == pytest.approx([0.45, 0.9, 1.35, 1.8])
    assert model_bitrates(codec, [1.0, 0.9, 1.8, 6.0, 0.1]) == pytest.approx([0.9, 1.8])
    assert parse_kbps("3,6, 12") == [3.0, 6.0, 12.0] and parse_kbps("all") is None
    for bad in ("3,x", "-1", "nan"):
        with pytest.raises(ValueError, match="bitrates"):
            parse_kbps(bad)


def test_summary_means_and_confidence_intervals():
    rows = [{"system": "m", "kbps": 6, "kbps_actual": 5.0 + i, "category": cat, "pesq": p}
            for i, (cat, p) in enumerate([("music", None), ("clean_speech", 2.0),
                                          ("clean_speech", 4.0)])]
    summary = {(e["system"], e["category"]): e for e in summarize(rows, ["pesq"])}
    speech = summary[("m", "clean_speech")]
    assert speech["pesq"]["mean"] == 3.0 and speech["clips"] == 2
    assert speech["pesq"]["ci95"] == pytest.approx(1.96 * np.std([2, 4], ddof=1) / np.sqrt(2))
    assert summary[("m", "all")]["pesq"]["n"] == 2 and summary[("m", "all")]["clips"] == 3
    assert summary[("m", "music")]["pesq"]["mean"] is None
    assert mean_ci([]) == {"mean": None, "ci95": None, "n": 0}


@pytest.mark.slow
def test_eval_command_scores_model_and_baselines(trained_bundle, tmp_path):
    out = tmp_path / "eval"
    result = sscodec("eval", "--model", trained_bundle, "--data", "embedded", "--kbps",
                     "0.9,1.8,6", "--out", str(out), "--per-category", "1", "--clip-seconds",
                     "2", "--opus-kbps", "6,12", "--name", "tiny")
    assert b"outside this model's range" in result.stderr  # 6 kbps: the tiny model tops at 1.8
    report = json.loads((out / "eval.json").read_text())
    points = {(r["system"], r["kbps"]) for r in report["rows"]}
    assert points == {("tiny", 0.9), ("tiny", 1.8), ("Opus", 6), ("Opus", 12), ("codec2", 3.2)}
    assert {c["category"] for c in report["clips"]} == {"clean_speech", "noisy_speech", "music"}
    assert len(report["rows"]) == 5 * 3
    for row in report["rows"]:
        speech = row["category"] != "music"
        assert (row["pesq"] is not None) == speech and (row["stoi"] is not None) == speech
        assert np.isfinite(row["visqol_audio"]) and np.isfinite(row["si_sdr"])
        if row["system"] == "tiny":  # entropy-coded stream plus its header: near the nominal rate
            assert 0.3 * row["kbps"] < row["kbps_actual"] < row["kbps"] + 0.5
    assert report["model"]["parameters"]["total"] > 0 and report["speed"]["encode_rtf"] > 0
    table = (out / "eval.md").read_text()
    for text in ("## clean speech", "## noisy speech", "## music", "| Opus | 12 |", "PESQ-WB"):
        assert text in table
    assert "| tiny | 1.8 |" in result.stdout.decode()


def test_eval_command_refuses_bad_arguments(trained_bundle, tmp_path):
    for args, message in ((["--kbps", "x"], b"bitrates must be"),
                          (["--metrics", "visqol,pesq"], b"unknown metrics"),
                          (["--denoise", "on"], b"not trained to denoise"),
                          (["--data", str(tmp_path / "nothing")], b"data not found")):
        result = sscodec("eval", "--model", trained_bundle, "--out", str(tmp_path / "o"), *args,
                         check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr[-500:]
    result = sscodec("eval", "--out", str(tmp_path / "o"), "--baselines", "none", check=False)
    assert result.returncode == 2 and b"nothing to evaluate" in result.stderr
