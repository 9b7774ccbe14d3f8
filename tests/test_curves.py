"""`sscodec curve`: eval points against training hours over a chain of runs."""

import json
import os

import pytest

from sscodec.cli.main import main
from sscodec.evaluation.curves import curve_points, curve_table


def write_run(path, records):
    os.makedirs(path)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


@pytest.fixture
def chain(tmp_path):
    warmup = [{"step": s, "perf/steps_per_s": 0.5} for s in (10, 20)]
    warmup[-1]["eval/visqol_speech@6kbps"] = 1.2
    # A resumed run logs step 20 again: it counts once (the last record wins).
    warmup.append({"step": 20, "perf/steps_per_s": 1.0, "eval/visqol_speech@6kbps": 1.3})
    gan = [{"step": 10, "perf/steps_per_s": 0.25, "eval/visqol_speech@6kbps": 2.0,
            "eval/pesq@6kbps": 1.5, "eval/failed_scores": 0.0}]
    write_run(tmp_path / "warmup", warmup)
    write_run(tmp_path / "gan", gan)
    return [str(tmp_path / "warmup"), str(tmp_path / "gan")]


def test_hours_accumulate_over_the_chain(chain):
    rows = curve_points(chain)
    assert [(r["run"], r["step"]) for r in rows] == [("warmup", 20), ("gan", 10)]
    # warm-up: 10 steps at 0.5/s + 10 at 1.0/s = 30 s; then 10 steps at 0.25/s = 40 s more.
    assert rows[0]["hours"] == pytest.approx(30 / 3600)
    assert rows[1]["hours"] == pytest.approx(70 / 3600)
    assert rows[0]["eval/visqol_speech@6kbps"] == 1.3 and "eval/failed_scores" not in rows[1]
    table = curve_table(rows)
    assert "visqol_speech@6kbps" in table and "| gan | 10 | 0.02 |" in table


def test_cli_writes_the_png_and_refuses_runs_without_evals(chain, tmp_path, capsys):
    out = tmp_path / "curve.png"
    assert main(["curve", *chain, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "training hours" in capsys.readouterr().out
    write_run(tmp_path / "plain", [{"step": 10, "perf/steps_per_s": 1.0}])
    assert main(["curve", str(tmp_path / "plain"), "--out", str(out)]) == 2
    assert main(["curve", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
