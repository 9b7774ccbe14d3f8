"""The evaluation commands of `sscodec`: eval, sweep (run / submit / collect), report and curve.

Argument parsing only; the work is in sscodec.evaluation: evaluate, sweeps and sweep_runs,
report and curves.
"""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    """Adds `eval`, `sweep`, `report` and `curve` to the `sscodec` sub-command parsers."""
    ev = sub.add_parser("eval", help="score a model and the Opus / codec2 baselines: ViSQOL, "
                                     "PESQ, STOI, SI-SDR, mel distance per file and category")
    ev.add_argument("--model", default=None, help="bundle folder from `sscodec export`")
    ev.add_argument("--workdir", default=None,
                    help="a training run instead of --model (exported to WORKDIR/bundle)")
    ev.add_argument("--step", type=int, default=None, help="with --workdir: checkpoint step")
    ev.add_argument("--name", default=None, help="the model's name in tables and plots")
    ev.add_argument("--data", default="embedded", help="data spec of the evaluation audio")
    ev.add_argument("--noise", default="",
                    help="data spec of noise for noisy speech (default: the data's noise items)")
    ev.add_argument("--kbps", default=None,
                    help="model bitrates, e.g. 3,6,12 (default: every bitrate of the model)")
    ev.add_argument("--out", required=True, help="folder for eval.json and eval.md")
    ev.add_argument("--baselines", default="opus,codec2", help="comma list, or 'none'")
    ev.add_argument("--opus-kbps", default=",".join(str(k) for k in (6, 9, 12, 18, 24)),
                    help="Opus target bitrates")
    ev.add_argument("--denoise", default="auto", choices=("auto", "on", "off", "both"),
                    help="auto: denoise noisy speech if the model has FiLM; both: score the "
                         "model with and without")
    ev.add_argument("--clip-seconds", type=float, default=4.0, help="length of each clip")
    ev.add_argument("--per-category", type=int, default=50, help="clips per category")
    ev.add_argument("--categories", default=None,
                    help="comma list of clean_speech, noisy_speech, music, audio (default: all "
                         "with material)")
    ev.add_argument("--metrics", default=None,
                    help="comma list (default all): visqol_audio, visqol_speech, pesq, stoi, "
                         "si_sdr, mel_distance")
    ev.add_argument("--no-speed", action="store_true", help="skip the real-time-factor timing")
    ev.add_argument("--data-dir", default="", help="TFDS data_dir")

    sweep = sub.add_parser("sweep", help="run a sweep of experiments/sweeps/ (train, export, "
                                         "eval per point), or submit it to a cluster")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True)
    for verb, what in (("run", "run the points here, one after another"),
                       ("submit", "submit one cluster job per point (SLURM array or XPK)"),
                       ("collect", "gather the points' results into SWEEP_DIR/results.json")):
        p = sweep_sub.add_parser(verb, help=what)
        if verb != "collect":
            p.add_argument("sweep", help="sweep file, e.g. experiments/sweeps/bitrate_scalability.py")
        p.add_argument("--out", required=True, help="sweep folder (one sub-folder per point)")
        if verb == "collect":
            continue
        p.add_argument("--only", default=None, help="comma list of point names (or indices)")
        p.add_argument("--smoke", action="store_true",
                       help="shrink everything (model width, steps, crops, eval set) for a "
                            "quick end-to-end check")
        p.add_argument("--steps", type=int, default=None, help="override every point's num_steps")
        p.add_argument("--scale", default=None, choices=("paper", "cpu"),
                       help="paper: the paper's configs (accelerators); cpu: each point derived "
                            "from the CPU speech recipe on a fixed step budget, keeping what the "
                            "sweep varies (default: the sweep file's own, paper for the paper's "
                            "sweeps)")
        p.add_argument("--data", default=None,
                       help="evaluation data spec (default: the sweep's, usually 'embedded')")
        if verb == "submit":
            p.add_argument("--cluster", required=True, choices=("slurm", "xpk"))
            p.add_argument("--dry-run", action="store_true",
                           help="write the job files and print the commands, submit nothing")
            p.add_argument("--xpk-cluster", default="", help="XPK: cluster name")
            p.add_argument("--tpu-type", default="v5litepod-8", help="XPK: TPU type per point")
            p.add_argument("--sbatch-args", default="",
                           help="SLURM: extra sbatch arguments, e.g. "
                                "'--partition=gpu --time=48:00:00'")
    report = sub.add_parser("report", help="rate-quality plots (PNG) and tables in the paper's "
                                           "layout for a sweep folder")
    report.add_argument("sweep_dir", help="folder written by `sscodec sweep run`")
    report.add_argument("--metrics", default="visqol_audio,visqol_speech,pesq",
                        help="metrics to plot")
    curve = sub.add_parser("curve", help="quality against training hours from the runs' "
                                         "in-training evals (train.eval_every): table and PNG")
    curve.add_argument("workdirs", nargs="+",
                       help="training runs; several form one chain (e.g. a warm-up, then a run "
                            "--init-from it), each starting where the previous one ended")
    curve.add_argument("--out", required=True, help="PNG to write (the table goes to stdout)")
    curve.add_argument("--metrics", default="visqol_speech,pesq", help="metrics to plot")


def comma_list(text: str | None) -> list[str] | None:
    """"a, b,,c" -> ["a", "b", "c"]; None for an empty or missing option."""
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


def _eval(args: argparse.Namespace) -> int:
    from sscodec.evaluation.evaluate import parse_kbps, run_eval
    baseline_names = [] if args.baselines == "none" else comma_list(args.baselines) or []
    kwargs = {"metric_names": comma_list(args.metrics)} if args.metrics else {}
    result = run_eval(args.out, model=args.model, workdir=args.workdir, step=args.step,
                      name=args.name, data=args.data, noise=args.noise,
                      kbps=parse_kbps(args.kbps), baseline_names=baseline_names,
                      opus_kbps=parse_kbps(args.opus_kbps) or [], denoise=args.denoise,
                      clip_seconds=args.clip_seconds, per_category=args.per_category,
                      categories=comma_list(args.categories), speed=not args.no_speed,
                      data_dir=args.data_dir, **kwargs)
    from sscodec.evaluation.eval_table import summary_table
    overall = [e for e in result["summary"] if e["category"] == "all"]
    print(summary_table(overall, result["settings"]["metrics"]))
    print(f"\n{args.out}/eval.json, {args.out}/eval.md: {len(result['clips'])} clips, "
          f"{len(result['rows'])} scored outputs")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sscodec.evaluation import sweep_runs, sweeps
    if args.command == "report":
        from sscodec.evaluation.report import write_report
        for path in write_report(args.sweep_dir, comma_list(args.metrics)):
            print(path)
        return 0
    if args.sweep_command == "collect":
        print(sweep_runs.collect(args.out))
        return 0
    sweep = sweeps.load_sweep(args.sweep, args.scale)
    if args.data:
        sweep.eval["data"] = args.data
    only = comma_list(args.only)
    if args.sweep_command == "run":
        sweep_runs.run_sweep(sweep, args.out, only=only, smoke=args.smoke, steps=args.steps)
        print(sweep_runs.collect(args.out))
        return 0
    from sscodec.evaluation.sweep_jobs import submit
    for line in submit(sweep, args.sweep, args.out, args.cluster, only=only, smoke=args.smoke,
                       steps=args.steps, dry_run=args.dry_run, sbatch_args=args.sbatch_args,
                       xpk_cluster=args.xpk_cluster, tpu_type=args.tpu_type, data=args.data,
                       scale=args.scale):
        print(line)
    return 0


def _curve(args: argparse.Namespace) -> int:
    from sscodec.evaluation.curves import curve_points, curve_table, plot_curve
    rows = curve_points(args.workdirs)
    if not rows:
        raise ValueError("no eval/* metrics in these runs: train with train.eval_every > 0")
    print(curve_table(rows))
    plot_curve(rows, args.out, comma_list(args.metrics))
    print(f"\n{args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs an eval, sweep, report or curve command."""
    if args.command == "curve":
        return _curve(args)
    return _eval(args) if args.command == "eval" else _sweep(args)
