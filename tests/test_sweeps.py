"""Sweeps: every sweep file loads, --smoke shrinks points but keeps their differences, cluster
submission files, and a two-point sweep end to end (train, export, eval, baselines, report)."""

import glob
import json
import os
import re
import subprocess

import pytest

from sscodec.sweeps import _stopped_early, load_sweep, point_config
from tests.conftest import ROOT, sscodec

SWEEPS = sorted(glob.glob(os.path.join(ROOT, "experiments", "sweeps", "*.py")))


def test_every_sweep_loads_and_smoke_keeps_what_the_sweep_varies():
    names = {os.path.basename(s)[:-3]: load_sweep(s) for s in SWEEPS}
    assert {"bitrate_scalability", "codebook_depth", "capacity", "denoising", "tiny"} <= set(names)
    depth = names["codebook_depth"]
    for point in depth.points:
        config, _ = point_config(point)
        smoke, args = point_config(point, smoke=True)
        rate = 75 * config.quantizer.num_quantizers * (config.quantizer.codebook_size.bit_length() - 1)
        assert rate == 6000  # every Table II point is 6 kbps
        assert (smoke.quantizer.num_quantizers, smoke.quantizer.codebook_size) == (
            config.quantizer.num_quantizers, config.quantizer.codebook_size)
        assert smoke.num_steps == 3 and smoke.model.encoder_channels == 4
    capacity = {p.name: point_config(p, smoke=True)[0] for p in names["capacity"].points}
    assert (capacity["enc8_dec32"].model.encoder_channels,
            capacity["enc8_dec32"].model.decoder_channels) == (1, 4)
    films = [point_config(p)[0].model.film for p in names["denoising"].points]
    assert films == ["encoder", "decoder", "none"]
    scalability = {p.name: point_config(p, steps=7)[0] for p in names["bitrate_scalability"].points}
    assert scalability["scalable"].quantizer.dropout and scalability["scalable"].num_steps == 7
    assert not scalability["no_dropout_18kbps"].quantizer.dropout


def test_bad_sweep_files_are_refused(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sscodec.sweeps import Point, Sweep\n"
                   "def get_sweep():\n"
                   "    return Sweep('bad', 'Bad', [Point('a', 'experiments/tiny.py',"
                   " {'quantizer.num_quantizerz': 3})])\n")
    with pytest.raises(ValueError, match="quantizer.num_quantizerz"):
        load_sweep(str(bad))
    with pytest.raises(ValueError, match="has no point 'c'"):
        load_sweep(os.path.join(ROOT, "experiments", "sweeps", "tiny.py")).select(["c"])


def test_submit_writes_a_slurm_array_and_xpk_workloads(tmp_path):
    tiny = os.path.join(ROOT, "experiments", "sweeps", "tiny.py")
    out = sscodec("sweep", "submit", tiny, "--out", str(tmp_path / "s"), "--cluster", "slurm",
                  "--dry-run", "--steps", "100", "--sbatch-args=--partition=gpu").stdout.decode()
    script = (tmp_path / "s" / "slurm" / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0,1,2" in script  # two points, then the baselines
    assert f'sweep run {tiny} --out {tmp_path / "s"} --only "$SLURM_ARRAY_TASK_ID" --steps 100' \
        in script
    assert subprocess.run(["bash", "-n", str(tmp_path / "s" / "slurm" / "sweep.sbatch")]).returncode == 0
    assert "sbatch --parsable --partition=gpu" in out and "--dependency=afterany:" in out
    assert "report" in out
    out = sscodec("sweep", "submit", tiny, "--out", "/mnt/sweeps/tiny", "--cluster", "xpk",
                  "--xpk-cluster", "c1", "--only", "tiny_no_dropout", "--dry-run").stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith("xpk workload create")]
    assert len(lines) == 1 and "--only tiny_no_dropout" in lines[0]
    assert "experiments/sweeps/tiny.py" in lines[0] and "/mnt/sweeps/tiny" in lines[0]
    result = sscodec("sweep", "submit", tiny, "--out", str(tmp_path / "x"), "--cluster", "xpk",
                     "--dry-run", check=False)
    assert result.returncode == 2 and b"--xpk-cluster" in result.stderr


def test_tiny_sweep_end_to_end(tmp_path):
    tiny = os.path.join(ROOT, "experiments", "sweeps", "tiny.py")
    out = tmp_path / "sweep"
    # No --smoke: the tiny model as it is, so training hits the test session's compile cache.
    result = sscodec("sweep", "run", tiny, "--out", str(out), "--steps", "2")
    assert b"2 of 2 points" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["points"]) == {"tiny_scalable", "tiny_no_dropout"}
    assert results["missing"] == [] and results["baselines"]["rows"]
    for name, point in results["points"].items():
        assert {r["kbps"] for r in point["rows"]} == {0.45, 0.9, 1.35, 1.8}
        assert {r["system"] for r in point["rows"]} == {name}
    report = sscodec("report", str(out), "--metrics", "visqol_audio,pesq").stdout.decode()
    png = out / "rate_quality_visqol_audio.png"
    assert str(png) in report and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "rate_quality_pesq.png").stat().st_size > 10_000
    text = (out / "report.md").read_text()
    assert "| kbps | tiny_scalable | tiny_no_dropout | Opus |" in text
    assert "**Shortened run** (smoke: False, steps: 2)" in text and "## noisy speech" in text
    # A preempted point (checkpoint short of num_steps, exit code 0) is not evaluated.
    point = load_sweep(tiny).points[0]
    workdir = str(out / "points" / point.name / "run")
    assert not _stopped_early(workdir, point, False, 2) and _stopped_early(workdir, point, False, 3)
    # A second run finds every point evaluated and only re-collects.
    again = sscodec("sweep", "run", tiny, "--out", str(out), "--steps", "2")
    assert b"already evaluated" in again.stderr


def test_recipe_sweep_two_points_end_to_end_scored_by_validation(tmp_path):
    """Two points of the recipe sweep (smoke size, on the embedded corpus instead of the Asterisk
    speech): trained, summarized from their validation (no export, no `sscodec eval`), reported
    as one table and one curve per metric."""
    import dataclasses
    from sscodec.report import write_report
    from sscodec.sweeps import host_description, run_sweep, write_json

    sweep = load_sweep(os.path.join(ROOT, "experiments", "sweeps", "recipe.py"))
    embedded = {"data.train": "embedded", "data.kinds": ("speech", "music"),
                "train.eval_data": "", "train.eval_metrics": ("mel", "visqol_speech", "pesq"),
                "train.eval_clips": 2}
    points = [dataclasses.replace(p, overrides={**p.overrides, **embedded})
              for p in sweep.points if p.name in ("paper", "snake")]
    out = str(tmp_path / "recipe")
    run_sweep(dataclasses.replace(sweep, points=points), out, smoke=True, progress=False)
    for name in ("paper", "snake"):
        result = json.load(open(os.path.join(out, "points", name, "result.json")))
        assert result["steps"] == 3 and len(result["perplexity"]) == 8
        assert {"mel@1.5kbps", "pesq@3kbps", "mel@6kbps"} <= set(result["final"])
    paths = write_report(out, ["visqol_speech"])
    text = open(os.path.join(out, "report.md")).read()
    assert "| paper | the paper's recipe (CPU scale) | SoundStream | 3 |" in text
    snake = next(line for line in text.splitlines() if line.startswith("| snake |"))
    assert "| Snake activations in place of ELU | DAC | 3 |" in snake
    assert re.search(r"\| [+-]\d+\.\d\d \| [+-]\d+\.\d\d \|", snake)  # Δ against paper
    assert os.path.join(out, "recipe_pesq.png") in paths
    assert os.path.join(out, "recipe_mel.png") in paths
    # Each result says which CPU it was measured on, and the report names it.
    assert result["machine"] == host_description()
    assert f"Measured on: {host_description()}." in text
    # A result recovered from elsewhere (its run folder lost) is marked and its source named.
    result["recovered_from"] = "an earlier report"
    write_json(os.path.join(out, "points", "snake", "result.json"), result)
    write_report(out, ["visqol_speech"])
    text = open(os.path.join(out, "report.md")).read()
    assert "| snake † | Snake activations" in text and "| paper | the paper's" in text
    assert "† snake: recovered from an earlier report." in text


def test_recipe_table_deltas_from_last_and_recent_validations():
    """The Δ columns compare the last validation and the mean of the last three with the first
    point's; a point with fewer validations gets no recent mean."""
    from sscodec.recipe_report import recipe_table

    def result(visqol_curve):
        curve = [{"step": 100 * (i + 1), "visqol_speech@3kbps": v, "pesq@3kbps": 1.0,
                  "mel@3kbps": 2000.0} for i, v in enumerate(visqol_curve)]
        return {"final": dict(curve[-1]), "curve": curve, "steps": 100 * len(curve),
                "audio_s_per_budget_s": 1.0, "perplexity": [9.0], "codebook_size": 16}
    points = [{"name": n, "label": {"change": n}} for n in ("base", "noisy", "short")]
    results = {"sweep": {"table_kbps": 3, "points": points},
               "points": {"base": result([1.0, 1.2, 1.2, 1.2]),
                          "noisy": result([1.0, 1.2, 1.2, 1.5]),  # one lucky validation
                          "short": result([1.3])}}
    lines = recipe_table(results).splitlines()
    assert "Δ ViSQOL speech @ 3, last 3" in lines[0]
    cells = {line.split(" | ")[0][2:]: line.split(" | ") for line in lines[2:]}
    assert cells["noisy"][8:12] == ["+0.30", "+0.00", "+0.10", "+0.00"]
    assert cells["short"][8:12] == ["+0.10", "+0.00", "–", "–"]
