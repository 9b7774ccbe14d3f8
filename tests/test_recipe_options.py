"""Recipe options around the loop: the generator's weight EMA (used for validation and export),
a training-time budget that ends a run and survives a resume, validation at chosen bitrates with
the codebook perplexity per quantizer, and the recipe sweep that compares the options."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sscodec.config import ConfigError, load_config
from sscodec.nn.rvq import code_perplexity
from sscodec.evaluation.sweep_runs import _stopped_early, run_summary
from sscodec.evaluation.sweeps import load_sweep, point_config
from sscodec.train.state import update_ema
from tests.conftest import ROOT, TINY, sscodec


def test_weight_ema_update_ramps_its_decay():
    ema, params = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
    # Step 0: d = min(0.999, 1 / 10) = 0.1, so the average moves 90% of the way at once.
    np.testing.assert_allclose(update_ema(ema, params, jnp.array(0), 0.999)["w"], 0.9, rtol=1e-6)
    # Late: d = 0.999.
    np.testing.assert_allclose(update_ema(ema, params, jnp.array(10**6), 0.999)["w"], 1e-3,
                               rtol=1e-4)


def test_perplexity_counts_equally_used_codes():
    assert float(code_perplexity(jnp.array([5.0, 5.0, 5.0, 5.0]))) == pytest.approx(4.0)
    assert float(code_perplexity(jnp.array([0.0, 9.0, 0.0]))) == pytest.approx(1.0)
    assert float(code_perplexity(jnp.zeros(4))) == pytest.approx(1.0)


def test_bad_values_name_their_key():
    for override, key in [("optim.weight_ema_decay=1.0", "optim.weight_ema_decay"),
                          ("train.time_budget_s=-1.0", "train.time_budget_s"),
                          ("train.time_budget_clock='gpu'", "train.time_budget_clock"),
                          ("train.eval_kbps=(1.0,)", "train.eval_kbps"),
                          ("train.eval_mel_windows=(64, 128)", "train.eval_mel_bins")]:
        with pytest.raises(ConfigError, match=key):
            load_config(TINY, [f"--config.{override}"])


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    """A tiny run with the weight EMA, stopped by a 4 CPU-second budget, validated at two rates."""
    workdir = tmp_path_factory.mktemp("budget") / "run"
    args = ["train", "--config", TINY, "--workdir", str(workdir), "--config.num_steps=100000",
            "--config.optim.weight_ema_decay=0.99", "--config.train.time_budget_s=4.0",
            "--config.train.time_budget_clock=cpu", "--config.train.log_every=2",
            "--config.train.eval_every=1000", "--config.train.eval_kbps=(0.9, 1.8)",
            "--config.train.eval_metrics=('mel',)", "--config.train.sample_every=0",
            "--config.train.checkpoint_every=1000"]
    first = sscodec(*args)
    return workdir, args, first


@pytest.mark.slow
def test_time_budget_stops_saves_validates_and_holds_on_resume(budget_run):
    workdir, args, first = budget_run
    budget = json.loads((workdir / "time_budget.json").read_text())
    assert budget["clock"] == "cpu" and budget["seconds"] >= 4.0 and budget["step"] % 2 == 0
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert last["step"] == budget["step"] and last["perf/train_seconds"] == budget["seconds"]
    # Validated at the budget's end, at exactly the configured rates.
    assert sorted(k for k in last if k.startswith("eval/mel")) == ["eval/mel@0.9kbps",
                                                                 "eval/mel@1.8kbps"]
    assert sorted(k for k in last if k.startswith("rvq/perplexity_q")) == [
        f"rvq/perplexity_q{i}" for i in range(4)]
    assert os.path.isdir(workdir / "checkpoints" / str(budget["step"]))
    # Started again, the run finds its budget spent and trains nothing.
    again = sscodec(*args)
    assert b"time budget spent" in again.stderr
    assert json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])["step"] == \
        budget["step"]
    summary = run_summary(str(workdir))
    assert summary["steps"] == budget["step"] and len(summary["perplexity"]) == 4
    assert set(summary["final"]) == {"step", "train_seconds", "mel@0.9kbps", "mel@1.8kbps"}


@pytest.mark.slow
def test_export_takes_the_weight_average(budget_run):
    from sscodec.train.checkpoint import Checkpointer, locate
    from sscodec.config import config_from_dict
    from sscodec.train.export import load_run
    from sscodec.train.state import abstract_state, build_models

    workdir = budget_run[0]
    _, weights, _, _ = load_run(str(workdir), entropy_data=None)
    config = config_from_dict(json.loads((workdir / "config.json").read_text()))
    abstract = abstract_state(build_models(config), config)
    source = Checkpointer(locate(str(workdir))[0], read_only=True)
    saved = source.restore_weights({k: abstract[k] for k in ("gen_params", "gen_ema")})
    source.close()
    leaves = lambda t: [np.asarray(x) for x in jax.tree.leaves(t)]
    assert all(np.array_equal(a, b) for a, b in zip(leaves(weights["params"]),
                                                    leaves(saved["gen_ema"])))
    assert not all(np.array_equal(a, b) for a, b in zip(leaves(saved["gen_params"]),
                                                        leaves(saved["gen_ema"])))


def test_a_budget_stop_is_not_a_preemption_for_sweeps(budget_run, tmp_path):
    from sscodec.evaluation.sweeps import Point
    workdir = str(budget_run[0])
    point = Point("p", TINY, {"num_steps": 100000})
    assert not _stopped_early(workdir, point, False, None)
    os.rename(os.path.join(workdir, "time_budget.json"), tmp_path / "moved.json")
    try:
        assert _stopped_early(workdir, point, False, None)
    finally:
        os.rename(tmp_path / "moved.json", os.path.join(workdir, "time_budget.json"))


def test_recipe_sweep_changes_one_thing_per_point_from_the_paper_row():
    sweep = load_sweep(os.path.join(ROOT, "experiments", "sweeps", "recipe.py"))
    configs = {p.name: point_config(p)[0] for p in sweep.points}
    paper = configs["paper"]
    assert sweep.points[0].name == "paper" and not sweep.final_eval
    assert (paper.model.activation, paper.loss.balancer, paper.quantizer.codes,
            paper.discriminator.kind, paper.loss.adversarial_start_step,
            paper.quantizer.dropout_share, paper.optim.weight_ema_decay) == (
        "elu", False, "ema", "soundstream", 0, 1.0, 0.0)
    budgets = {(c.train.time_budget_s, c.train.time_budget_clock, c.optim.lr_schedule,
                tuple(c.train.eval_kbps), tuple(c.train.eval_mel_bins)) for c in configs.values()}
    assert len(budgets) == 1  # every point: same budget, schedule and yardstick
    flat = lambda c: dict(_flatten(c.to_dict()))
    base = flat(paper)
    for name, config in configs.items():
        if name in ("paper", "combined", "sscodec_cpu"):
            continue
        changed = {k for k, v in flat(config).items() if base[k] != v}
        assert changed and all(k.split(".")[0] in ("model", "loss", "quantizer", "discriminator",
                                                   "optim") for k in changed), (name, changed)
        # One option per point: the keys that differ belong to one switch.
        assert len({k.split(".")[0] for k in changed}) == 1, (name, changed)
    # The combination is the CPU recipe plus options that were measured alone.
    shipped = flat(configs["sscodec_cpu"])
    added = {k for k, v in flat(configs["combined"]).items() if shipped[k] != v}
    assert added and all(base[k] != v for k, v in flat(configs["combined"]).items() if k in added)


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.slow
def test_published_training_state_gives_init_from_the_discriminators_and_codebooks(budget_run,
                                                                                  tmp_path):
    from sscodec.train import parallel
    from sscodec.train.checkpoint import Checkpointer, locate
    from sscodec.config import INIT_FROM_WEIGHTS, config_from_dict
    from sscodec.train.loop import _restore
    from sscodec.train.state import build_models, create_state

    workdir = budget_run[0]
    state_dir = str(tmp_path / "state")
    out = sscodec("export", "--workdir", str(workdir), "--out", state_dir, "--training-state")
    assert b"full training state" in out.stdout
    assert not os.path.exists(os.path.join(state_dir, "checkpoints",
                                           os.listdir(os.path.join(state_dir, "checkpoints"))[0],
                                           "data"))
    assert "--init-from" in open(os.path.join(state_dir, "README.md")).read()
    config = config_from_dict(json.loads((workdir / "config.json").read_text()))
    fresh = create_state(build_models(config), config, parallel.make_mesh(config.mesh))
    source = Checkpointer(locate(str(workdir))[0], read_only=True)
    saved, _ = source.restore(fresh)
    source.close()
    state, step, _ = _restore(fresh, Checkpointer(str(tmp_path / "own")), None, state_dir,
                              INIT_FROM_WEIGHTS)
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(
        jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))))
    for part in ("gen_params", "disc_params", "quantizer"):
        assert same(state[part], saved[part]), part
    assert same(state["gen_ema"], saved["gen_params"])  # the average restarts at the weights
    assert step is None and int(state["step"]) == 0
    # Refused, not overwritten, when the folder exists.
    again = sscodec("export", "--workdir", str(workdir), "--out", state_dir, "--training-state",
                    check=False)
    assert again.returncode == 2 and b"exists" in again.stderr


@pytest.mark.parametrize("name", ["soundstream_24khz", "soundstream_24khz_6kbps",
                                  "soundstream_24khz_paper_recipe"])
def test_paper_configs_keep_their_sizes_and_every_new_option_off(name):
    from sscodec.train.info import model_info
    config = load_config(os.path.join(ROOT, "experiments", f"{name}.py"))
    assert (config.quantizer.codes, config.optim.weight_ema_decay, config.discriminator.kind,
            config.quantizer.dropout_share, config.model.activation, config.train.time_budget_s,
            tuple(config.train.eval_kbps)) == ("ema", 0.0, "soundstream", 1.0, "elu", 0.0, ())
    params = model_info(config)["parameters"]
    # Table I's 8.4 M (the paper recipe's residual units are compress=1, kernel 3).
    assert params["generator_trainable"] == (8_406_337 if name.endswith("recipe") else 8_415_426)
    assert "quantizer_trainable" not in params and "stft_discriminator" in params


def test_info_counts_the_new_quantizer_and_discriminators():
    from sscodec.train.info import format_info, model_info
    config = load_config(TINY, ["--config.quantizer.codes=factorized",
                                "--config.discriminator.kind=mpd_mrd",
                                "--config.discriminator.mrd_windows=(512, 256)"])
    params = model_info(config)["parameters"]
    assert params["quantizer_trainable"] > 0
    assert params["generator_trainable"] == (params["encoder"] + params["decoder"]
                                             + params["quantizer_trainable"])
    assert {f"mpd_mrd_period{p}" for p in (2, 3, 5, 7, 11)} <= set(params)
    assert sum(v for k, v in params.items() if k.startswith("mpd_mrd_")) == \
        params["discriminators_total"]
    assert "mpd_mrd_window512" in format_info(model_info(config))


def test_improved_config_is_the_paper_model_with_every_published_change_on():
    """soundstream_24khz_improved.py: the paper's widths and bitrates, the recipe switches on."""
    from sscodec.train.info import model_info
    paper = load_config(os.path.join(ROOT, "experiments", "soundstream_24khz.py"))
    config = load_config(os.path.join(ROOT, "experiments", "soundstream_24khz_improved.py"))
    assert (config.model.activation, config.quantizer.codes, config.quantizer.code_dim,
            config.quantizer.dropout_share, config.loss.mel_loss, len(config.loss.mel_windows),
            config.discriminator.kind, config.loss.balancer, config.optim.weight_ema_decay) == \
        ("snake", "factorized", 8, 0.5, "paper", 7, "ms_stft", True, 0.99)
    for section in ("data", "optim"):
        kept = {k: v for k, v in paper[section].items() if k != "weight_ema_decay"}
        assert kept == {k: v for k, v in config[section].items() if k in kept}, section
    assert (config.model.encoder_channels, config.model.embedding_dim,
            config.quantizer.num_quantizers, config.quantizer.codebook_size) == \
        (paper.model.encoder_channels, paper.model.embedding_dim,
         paper.quantizer.num_quantizers, paper.quantizer.codebook_size)
    ours, theirs = model_info(config)["parameters"], model_info(paper)["parameters"]
    # Snake adds one alpha per channel; the codebooks move into the trainable parameters.
    assert 1.0 < (ours["encoder"] + ours["decoder"]) / (theirs["encoder"] + theirs["decoder"]) < 1.01
    assert {f"ms_stft_window{w}" for w in (2048, 1024, 512, 256, 128)} <= set(ours)
