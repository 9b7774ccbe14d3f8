"""Sweeps: every sweep file loads, --smoke shrinks points but keeps their differences, cluster
submission files, and a two-point sweep end to end (train, export, eval, baselines, report)."""

import glob
import json
import os
import re
import subprocess

import pytest

from sscodec.evaluation.sweep_runs import _stopped_early
from sscodec.evaluation.sweeps import (CPU_COMMON, CPU_RECIPE, CPU_STEPS, SCALES, load_sweep,
                                       point_config)
from sscodec.config import dotted_items, load_config
from tests.conftest import ROOT, sscodec

SWEEPS = sorted(glob.glob(os.path.join(ROOT, "experiments", "sweeps", "*.py")))
PAPER_SWEEPS = ("bitrate_scalability", "codebook_depth", "capacity", "denoising")


def _sweep_file(name: str) -> str:
    return os.path.join(ROOT, "experiments", "sweeps", f"{name}.py")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", PAPER_SWEEPS)
def test_paper_sweeps_load_at_every_scale_and_points_differ_only_in_the_variable(name, scale):
    sweep = load_sweep(_sweep_file(name), scale)
    assert sweep.scale == scale and sweep.varies and len(sweep.points) >= 3
    configs = [dotted_items(point_config(p)[0].to_dict()) for p in sweep.points]
    differ = {k for a in configs for b in configs for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert differ == set(sweep.varies)  # every varied key varies, and nothing else does
    if scale == "cpu":
        # Derived from the CPU speech recipe: its data, size and schedule, on one step budget;
        # it differs from the recipe only in the variable, the common budget and what the sweep
        # holds fixed (no dropout for the paper's bitrate-specific models; noise for Fig. 8).
        recipe = dotted_items(load_config(os.path.join(ROOT, CPU_RECIPE)).to_dict())
        held = {"quantizer.dropout", "data.noise", "data.noisy_prob", "data.denoise_prob"}
        for config in configs:
            changed = {k for k in config if config[k] != recipe.get(k)}
            assert changed <= set(sweep.varies) | set(CPU_COMMON) | held, changed
            assert config["num_steps"] == CPU_STEPS
            assert config["data.train"] == recipe["data.train"]
        assert sweep.eval["data"] == "data/asterisk/eval" and sweep.table_metric == "visqol_speech"
    else:
        assert all(not p.config.endswith("speech_cpu_24khz.py") for p in sweep.points)
        assert sweep.table_metric == "visqol_audio"


def test_one_scale_sweeps_refuse_the_other_scale():
    assert load_sweep(_sweep_file("recipe")).scale == "cpu"
    with pytest.raises(ValueError, match="built at one scale only"):
        load_sweep(_sweep_file("recipe"), "paper")
    with pytest.raises(ValueError, match="scale must be one of paper, cpu"):
        load_sweep(_sweep_file("capacity"), "tpu")
    widths = [(p.label["C_enc"], p.label["C_dec"]) for p in load_sweep(_sweep_file("capacity"),
                                                                       "cpu").points]
    assert widths == [(16, 16), (8, 8), (8, 16), (4, 16), (16, 8), (16, 4)]  # the paper's / 2


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
    bad.write_text("from sscodec.evaluation.sweeps import Point, Sweep\n"
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
    # A paper sweep submitted at a scale: every job builds its point at that scale.
    depth = _sweep_file("codebook_depth")
    out = sscodec("sweep", "submit", depth, "--out", "/mnt/sweeps/t2", "--cluster", "xpk",
                  "--xpk-cluster", "c1", "--scale", "paper", "--dry-run").stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith("xpk workload create")]
    assert len(lines) == 4 and all("--scale paper" in line for line in lines)
    result = sscodec("sweep", "submit", tiny, "--out", str(tmp_path / "x"), "--cluster", "xpk",
                     "--dry-run", check=False)
    assert result.returncode == 2 and b"--xpk-cluster" in result.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_recipe_sweep_two_points_end_to_end_scored_by_validation(tmp_path):
    """Two points of the recipe sweep (smoke size, on the embedded corpus instead of the Asterisk
    speech): trained, summarized from their validation (no export, no `sscodec eval`), reported
    as one table and one curve per metric."""
    import dataclasses
    from sscodec.evaluation.report import write_report
    from sscodec.evaluation.sweep_runs import host_description, run_sweep, write_json

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
    from sscodec.evaluation.recipe_report import recipe_table

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


@pytest.mark.slow
def test_cpu_scale_sweep_two_points_end_to_end(tmp_path):
    """Two points of Fig. 7c at CPU scale (smoke size, 2 steps, on the embedded corpus instead
    of the Asterisk speech): trained, exported, evaluated, timed, and reported with the scale,
    the wall times and a verdict per claim of the paper."""
    import dataclasses
    from sscodec.evaluation.report import write_report
    from sscodec.evaluation.sweep_runs import run_sweep

    sweep = load_sweep(_sweep_file("bitrate_scalability"), "cpu")
    embedded = {"data.train": "embedded", "data.kinds": ("speech",), "train.eval_data": ""}
    points = [dataclasses.replace(p, overrides={**p.overrides, **embedded})
              for p in sweep.points if p.name in ("specific_1.5kbps", "scalable")]
    sweep = dataclasses.replace(sweep, points=points, baselines=("opus",), opus_kbps=(6,),
                                eval={**sweep.eval, "data": "embedded",
                                      "metric_names": ("visqol_speech", "pesq")})
    out = str(tmp_path / "fig7c")
    run_sweep(sweep, out, smoke=True, steps=2, progress=False)
    for name, rates in (("specific_1.5kbps", {1.5}), ("scalable", {1.5, 3.0, 4.5, 6.0})):
        result = json.load(open(os.path.join(out, "points", name, "eval", "eval.json")))
        assert {r["kbps"] for r in result["rows"]} == rates
        assert {r["category"] for r in result["rows"]} == {"clean_speech"}
        timing = json.load(open(os.path.join(out, "points", name, "timing.json")))
        assert timing["train_s"] > 0 and timing["eval_s"] > 0
    write_report(out, ["visqol_speech"])
    text = open(os.path.join(out, "report.md")).read()
    assert "Scale: **cpu**; each point trained 3,000 steps" in text
    assert re.search(r"Wall time here \(.*\): specific_1\.5kbps \d+\.\d min, scalable", text)
    assert "| kbps | specific_1.5kbps | scalable | Opus |" in text
    assert "**Claim 1: A scalable model (quantizer dropout) is as good as" in text
    assert "| scalable | specific_1.5kbps | 1.5 |" in text
    # One clip per category at smoke size: a difference without an interval is not judged.
    assert "Verdict: **inconclusive**" in text and "(one clip)" in text
    assert "**Claim 2: It beats a model trained without dropout" in text
    assert "no point of the sweep makes this comparison" in text  # no no-dropout point here


def test_wall_time_line_footnotes_a_corrected_clock(tmp_path):
    """A point whose timing.json was corrected by hand (its clock included pauses) is marked in
    the report's wall-time line, with its note quoted; other points are not."""
    from sscodec.evaluation.report import wall_time_line

    for name, timing in (("a", {"train_s": 540.0, "eval_s": 60.0, "machine": "m"}),
                         ("b", {"train_s": 1140.0, "eval_s": 60.0, "machine": "m",
                                "train_s_logged": 4000.0, "note": "paused for tests"})):
        os.makedirs(tmp_path / "points" / name)
        json.dump(timing, open(tmp_path / "points" / name / "timing.json", "w"))
    text = wall_time_line(str(tmp_path), {"points": {"a": {}, "b": {}}})
    assert text.splitlines()[0] == "Wall time here (m): a 10.0 min, b 20.0 min [1] (total 0.50 h)."
    assert text.endswith("\n\n[1] b: paused for tests.")


def _depth_results(base, *others):
    """Results of a Table II sweep whose points score `base` and `others` (one list of
    per-clip ViSQOL scores each) at 6 kbps."""
    names = ["nq8_n1024", "nq16_n32", "nq80_n2"][:1 + len(others)]
    points = {n: {"rows": [{"system": n, "kbps": 6.0, "category": "clean_speech",
                            "clip": f"c{i}", "visqol_speech": v, "pesq": 1.0 + v / 10}
                           for i, v in enumerate(scores)]}
              for n, scores in zip(names, (base, *others))}
    sweep = {"name": "codebook_depth", "table_kbps": 6, "table_metric": "visqol_speech",
             "points": [{"name": n, "label": {}, "kbps": [6]} for n in names]}
    return {"sweep": sweep, "points": points}


def test_claims_are_judged_on_paired_differences_with_a_margin():
    from sscodec.evaluation.paper_claims import check_claims, claims_markdown, judge

    base = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]  # spread far wider than the differences
    near = [v - 0.02 + 0.01 * (i % 2) for i, v in enumerate(base)]
    far = [v - 0.5 + 0.01 * (i % 2) for i, v in enumerate(base)]
    noisy = [v + (0.6 if i % 2 else -0.7) for i, v in enumerate(base)]
    (claim,) = check_claims(_depth_results(base, near, near))
    assert claim["verdict"] == "agrees"  # unpaired, the CIs of the means would overlap anyway
    assert claim["evidence"][0]["difference"]["mean"] == pytest.approx(-0.015)
    (claim,) = check_claims(_depth_results(base, near, far))
    assert claim["verdict"] == "disagrees" and "nq80_n2 - nq8_n1024 at 6 kbps (-0.50" in claim["why"]
    (claim,) = check_claims(_depth_results(base, near, noisy))
    assert claim["verdict"] == "inconclusive" and "too wide" in claim["why"]
    text = claims_markdown([claim])
    assert "| nq80_n2 | nq8_n1024 | 6 |" in text and "Verdict: **inconclusive**" in text
    diff = {"mean": 0.05, "ci95": 0.03}
    assert judge(">", diff, 0.1) == "agrees" and judge("~", diff, 0.1) == "agrees"
    assert judge(">", {"mean": -0.05, "ci95": 0.03}, 0.1) == "disagrees"
    assert judge("~", {"mean": 0.3, "ci95": 0.1}, 0.1) == "disagrees"
    assert judge("~", {"mean": 0.1, "ci95": 0.1}, 0.1) == "inconclusive"
    assert judge(">=", {"mean": -0.3, "ci95": 0.1}, 0.1) == "disagrees"
    assert judge(">=", None, 0.1) == "inconclusive"


@pytest.mark.slow
def test_sweep_cost_counts_step_flops_times_steps():
    from sscodec.evaluation.sweep_cost import ACCELERATORS, accelerator_hours, cost_markdown, point_cost

    tiny = os.path.join(ROOT, "experiments", "tiny.py")
    cost = point_cost(load_config(tiny, ["num_steps=10"]))
    wider = point_cost(load_config(tiny, ["num_steps=10", "model.decoder_channels=16"]))
    assert cost["steps"] == 10 and cost["total_flops"] == pytest.approx(10 * cost["step_flops"])
    assert 0 < cost["step_flops"] < wider["step_flops"]  # a wider decoder costs more
    hours = accelerator_hours(3600 * 1e12, ACCELERATORS[0], mfu=1.0)
    assert hours == pytest.approx(1e12 / ACCELERATORS[0].peak_bf16_flops)
    text = cost_markdown("Tiny", [{"point": "a", "batch": 2, "crop_s": 0.5, **cost}])
    assert "| a | 2 x 0.50 s | 10 |" in text and "| **sweep** |" in text


def test_as_good_as_is_inconclusive_where_the_metric_does_not_see_the_bitrate():
    """Fig. 7c: the scalable model level with a bitrate-specific one agrees only when the metric
    rises by at least the margin from the scalable model's lowest to its highest rate."""
    from sscodec.evaluation.paper_claims import check_claims

    def results(rise):
        base = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
        scores = {("scalable", 1.5): base, ("scalable", 6.0): [v + rise for v in base],
                  ("specific_1.5kbps", 1.5): [v + 0.01 * (i % 2) for i, v in enumerate(base)]}
        points = {}
        for (name, kbps), values in scores.items():
            points.setdefault(name, {"rows": []})["rows"] += [
                {"system": name, "kbps": kbps, "category": "clean_speech", "clip": f"c{i}",
                 "visqol_speech": v, "pesq": 1.0} for i, v in enumerate(values)]
        sweep = {"name": "bitrate_scalability", "table_metric": "visqol_speech",
                 "points": [{"name": n, "kbps": None} for n in ("specific_1.5kbps", "scalable")]}
        return {"sweep": sweep, "points": points}

    flat, steep = check_claims(results(0.02))[0], check_claims(results(0.3))[0]
    assert flat["verdict"] == "inconclusive" and flat["evidence"][0]["insensitive"]
    assert "rises only +0.02" in flat["why"] and "from scalable's 1.5 to 6 kbps" in flat["why"]
    assert flat["rate_contrast"]["mean"] == pytest.approx(0.02)
    assert steep["verdict"] == "agrees" and not steep["evidence"][0]["insensitive"]
