"""`sscodec ship`: a finished run becomes a named model in the package.

  sscodec ship --workdir runs/speech_cpu --name speech_cpu_24khz --data data/asterisk/eval
               [--config experiments/speech_cpu_24khz.py] [--kbps 1.5,3,6] [--out DIR]

Exports the bundle, evaluates it against codec2 and Opus and writes MODEL_CARD.md. Argument
parsing only; the work is in sscodec.evaluation.ship.
"""

from __future__ import annotations

import argparse

from sscodec.cli import eval as cli_eval


def add_parser(sub) -> None:
    """Adds `ship` to the `sscodec` sub-command parsers."""
    ship = sub.add_parser("ship", help="turn a finished run into a named model in the package: "
                                       "export, eval against codec2 / Opus, MODEL_CARD.md")
    ship.add_argument("--workdir", required=True, help="the training run's folder")
    ship.add_argument("--name", required=True, help="the model's name, e.g. speech_cpu_24khz")
    ship.add_argument("--eval-data", "--data", dest="eval_data", required=True,
                      help="data spec of held-out speech, e.g. data/asterisk/eval (--data, as "
                           "in eval and listen)")
    ship.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    ship.add_argument("--config", default=None,
                      help="the experiment file the run was started from (the card lists the "
                           "overrides against it; default: the closest experiments/*.py)")
    ship.add_argument("--kbps", default="1.5,3,6", help="model bitrates to evaluate")
    ship.add_argument("--out", default=None,
                      help="folder of named models (default: the package's sscodec/pretrained)")
    ship.add_argument("--force", action="store_true",
                      help="replace an existing OUT/NAME (its card then compares the new model "
                           "with the replaced one on the same clips)")
    ship.add_argument("--params-dtype", default="auto", choices=("auto", "float32", "float16"),
                      help="how params.safetensors stores the weights; auto: float16 only when "
                           "the float32 bundle is over --max-mb")
    ship.add_argument("--max-mb", type=float, default=10.0,
                      help="largest bundle allowed, in MB (0: no limit)")
    ship.add_argument("--no-float32-check", action="store_true",
                      help="with float16 parameters, do not score the float32 model for "
                           "comparison")
    ship.add_argument("--per-category", type=int, default=50, help="eval clips")
    ship.add_argument("--clip-seconds", type=float, default=4.0, help="length of each eval clip")
    ship.add_argument("--metrics", default=None, help="comma list (default: all of sscodec eval)")
    ship.add_argument("--baselines", default="opus,codec2", help="comma list, or 'none'")
    ship.add_argument("--opus-kbps", default="6,9,12", help="Opus target bitrates")
    ship.add_argument("--no-speed", action="store_true", help="skip the real-time-factor timing")
    ship.add_argument("--entropy-data", default="",
                      help="data spec for the entropy tables (default: the run's training data)")
    ship.add_argument("--entropy-seconds", type=float, default=120.0,
                      help="seconds of audio for the entropy tables")
    ship.add_argument("--provenance", default=None,
                      help="comma list of provenance files to ship (default: the PROVENANCE.md "
                           "of the training and eval data folders)")


def run(args: argparse.Namespace) -> int:
    """Runs `sscodec ship` and prints what it wrote and measured."""
    from sscodec.evaluation.evaluate import parse_kbps
    from sscodec.evaluation.ship import ship
    names = cli_eval.comma_list
    result = ship(args.workdir, args.name, args.eval_data, out=args.out, step=args.step,
                  kbps=parse_kbps(args.kbps), config_file=args.config,
                  params_dtype=args.params_dtype, max_mb=args.max_mb,
                  float32_check=not args.no_float32_check, per_category=args.per_category,
                  clip_seconds=args.clip_seconds, metric_names=names(args.metrics),
                  baseline_names=[] if args.baselines == "none" else names(args.baselines) or [],
                  opus_kbps=parse_kbps(args.opus_kbps) or [], entropy_data=args.entropy_data,
                  entropy_seconds=args.entropy_seconds, provenance=names(args.provenance),
                  speed=not args.no_speed, force=args.force)
    sizes, manifest = result["sizes"], result["manifest"]
    print(f"{result['path']}: {args.name}, step {manifest['step']}, sha256 "
          f"{manifest['sha256'][:12]}, {sizes['total'] / 1e6:.2f} MB (params "
          f"{sizes['params'] / 1e6:.2f} MB as {sizes['params_dtype']}); MODEL_CARD.md, eval.json, "
          "PROVENANCE.md")
    for row in result["float16_effect"] or []:
        print(f"float16 - float32 at {row['kbps']:g} kbps: " + ", ".join(
            f"{m} {v['difference']:+.4f}" for m, v in row.items()
            if isinstance(v, dict) and v["difference"] is not None) + f" ({row['clips']} clips)")
    replaced = result["replaces"]
    if replaced and "rows" not in replaced:
        print(f"not compared with the replaced model: {replaced['reason']}")
    for row in (replaced or {}).get("rows", []):
        print(f"new - replaced ({(replaced['sha256'] or '?')[:12]}) at {row['kbps']:g} kbps: "
              + ", ".join(f"{m} {row[m]['difference']:+.4f} ± {row[m]['ci95'] or 0:.4f}"
                          for m in replaced["metrics"] if row[m]["difference"] is not None)
              + f" ({row['clips']} clips)")
    return 0
