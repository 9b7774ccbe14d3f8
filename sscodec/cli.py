"""The `sscodec` command: parses arguments and calls the library, nothing else.

  sscodec train --config experiments/tiny.py --workdir runs/tiny [--config.KEY=VALUE ...]
  sscodec info  --config experiments/soundstream_24khz.py [--json] [--config.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separates `--config.KEY=VALUE` / `--config.KEY VALUE` overrides from the other arguments."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            if "=" not in arg and i + 1 < len(argv):
                arg, i = f"{arg}={argv[i + 1]}", i + 1
            overrides.append(arg)
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sscodec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) a model; --config.KEY=VALUE overrides")
    train.add_argument("--config", required=True, help="experiment file, e.g. experiments/tiny.py")
    train.add_argument("--workdir", required=True,
                       help="run folder: checkpoints, metrics.jsonl, tensorboard/, samples/")
    info = sub.add_parser("info", help="parameter counts, frame rate, latency, bitrates")
    info.add_argument("--config", required=True, help="experiment file")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, overrides = _split_overrides(argv)
    args = _parser().parse_args(rest)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "jax._src", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from sscodec.config import ConfigError, load_config
    try:
        config = load_config(args.config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        print(f"sscodec: error: {e}", file=sys.stderr)
        return 2

    if args.command == "info":
        from sscodec.info import format_info, model_info
        info = model_info(config)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0
    if args.command == "train":
        from sscodec.train.loop import NonFiniteLossError, train_and_evaluate
        try:
            train_and_evaluate(config, args.workdir)
        except NonFiniteLossError as e:
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 3
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
