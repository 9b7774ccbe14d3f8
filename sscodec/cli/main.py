"""The `sscodec` command: parses arguments and calls the library, nothing else.

  sscodec train --config experiments/tiny.py --workdir runs/tiny [--config.KEY=VALUE ...]
                [--resume RUN_OR_CHECKPOINT] [--init-from RUN_OR_CHECKPOINT]
  sscodec compile --config experiments/soundstream_24khz.py --topology v5e:16x16 [--json]
  sscodec export --workdir runs/tiny [--step N] --out bundles/tiny [--entropy-data SPEC]
  sscodec export --workdir runs/tiny --out states/tiny --training-state   (for fine-tuning)
  sscodec compress IN.wav OUT.ssc [--model NAME|BUNDLE] [--kbps 1.8] [--raw] [--denoise]
  sscodec decompress IN.ssc OUT.wav [--model NAME|BUNDLE]    (paths may be - for stdin/stdout;
                                    the default model is the shipped speech_cpu_24khz; OUT.flac
                                    writes FLAC; a stereo model's files keep both channels)
  sscodec ship --workdir runs/speech_cpu --name speech_cpu_24khz --eval-data data/asterisk/eval
               [--config experiments/speech_cpu_24khz.py] [--kbps 1.5,3,6] [--out DIR]
  sscodec eval --model bundles/tiny (or --workdir runs/tiny) --data embedded --kbps 0.9,1.8
               --out evals/tiny [--baselines opus,codec2] [--opus-kbps 6,12,24]
  sscodec listen --model speech_cpu_24khz --data data/asterisk/eval --out listen [--mushra]
  sscodec listen --collect RATINGS.json... [--out table.md]   (MUSHRA table of the ratings)
  sscodec sweep run experiments/sweeps/bitrate_scalability.py --out sweeps/fig7c [--smoke]
  sscodec sweep submit experiments/sweeps/bitrate_scalability.py --out DIR --cluster slurm|xpk
  sscodec report sweeps/fig7c
  sscodec curve runs/warmup runs/gan --out curve.png   (quality against training hours)
  sscodec info  --config experiments/soundstream_24khz.py [--json] [--config.KEY=VALUE ...]
  sscodec data index DIR --out MANIFEST.jsonl [--deep] [--workers N]
  sscodec data stats SPEC [--json] [--deep] [--data-dir DIR]
  sscodec data prepare NAME[/CONFIG] [--data-dir DIR] [--manual-dir DIR]
  sscodec data prepare asterisk --data-dir OUT [--eval-speakers it,ru]   (a folder recipe)
  sscodec data prepare noise --data-dir OUT [--eval-sources opensfx,minetest]   (a folder recipe)

A data SPEC is 'embedded', a folder, a manifest .jsonl or tfds:NAME[/CONFIG]:SPLIT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from sscodec.cli import data as cli_data, eval as cli_eval, listen as cli_listen, ship as cli_ship
from sscodec.pretrained import DEFAULT_MODEL


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
    train.add_argument("--resume", default=None,
                       help="when the workdir has no checkpoint: continue another run's full state "
                            "(its run folder, checkpoints/ folder or one step's folder)")
    train.add_argument("--init-from", "--init_from", dest="init_from", default=None,
                       help="when neither the workdir nor --resume has a checkpoint: start from "
                            "that checkpoint's parameters and codebooks with fresh optimizers")
    compile_ = sub.add_parser("compile", help="compile the sharded train step for a TPU topology "
                                              "(no TPU needed): memory per chip, FLOPs, fit")
    compile_.add_argument("--config", required=True, help="experiment file")
    compile_.add_argument("--topology", required=True,
                          help="TPU topology, e.g. v5e:16x16, v4:4x4x4, v5p:2x2x2")
    compile_.add_argument("--num-slices", "--num_slices", dest="num_slices", type=int, default=1,
                          help="slices over DCN (set config.mesh.dcn_shape to match)")
    compile_.add_argument("--json", action="store_true", help="print JSON instead of a report")
    info = sub.add_parser("info", help="parameter counts, frame rate, latency, bitrates")
    info.add_argument("--config", required=True, help="experiment file")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")

    export = sub.add_parser("export", help="write a run's inference bundle (safetensors, "
                                           "config, StableHLO encode/decode)")
    export.add_argument("--workdir", required=True, help="the training run's folder")
    export.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    export.add_argument("--out", required=True, help="bundle folder to write")
    export.add_argument("--entropy-data", default="",
                        help="data spec to estimate the entropy tables on (default: the run's "
                             "training data)")
    export.add_argument("--entropy-seconds", type=float, default=120.0,
                        help="seconds of audio for the entropy tables")
    export.add_argument("--no-entropy", action="store_true", help="write no entropy tables")
    export.add_argument("--training-state", action="store_true",
                        help="write the run's full training state instead (generator, "
                             "discriminators, codebooks, optimizers: what fine-tuning with "
                             "--init-from or --resume needs), not an inference bundle")
    cli_eval.add_parsers(sub)
    cli_listen.add_parser(sub)
    cli_ship.add_parser(sub)

    for name, what in (("compress", "audio file -> .ssc stream"),
                       ("decompress", ".ssc stream -> WAV (FLAC for a .flac path) at the "
                                      "original rate and length, in the model's channels")):
        p = sub.add_parser(name, help=what)
        p.add_argument("input", help="input path, or - for stdin")
        p.add_argument("output", help="output path, or - for stdout")
        p.add_argument("--model", default=None,
                       help="a model name (a bundle shipped in sscodec/pretrained/ or in the "
                            "folder $SSCODEC_MODELS) or a bundle folder from `sscodec export`; "
                            f"default: the shipped model {DEFAULT_MODEL}")
        if name == "compress":
            p.add_argument("--kbps", type=float, default=None,
                           help="bitrate (default: all quantizers); see the bundle's bitrates")
            p.add_argument("--raw", action="store_true",
                           help="bit-pack the codes even if the bundle has entropy tables")
            p.add_argument("--denoise", action="store_true",
                           help="remove noise (models trained with model.film only)")

    cli_data.add_parser(sub)
    return parser


def _load_model(model: str | None):
    """The Codec of --model (a name or a bundle folder), or of the default shipped model."""
    from sscodec import pretrained
    from sscodec.codec import BundleError, Codec
    if model is None:
        if pretrained.DEFAULT_MODEL not in pretrained.available():
            raise BundleError(pretrained.default_model_error())
        model = pretrained.DEFAULT_MODEL
    from sscodec.platforms import executable_cache_dir
    # compiled once per machine and bundle, then loaded ready to run (sscodec.codec.executables)
    return Codec.load(model, executable_cache=executable_cache_dir())


def _codec_command(args: argparse.Namespace) -> int:
    if args.command == "export" and args.training_state:
        from sscodec.train.checkpoint import publish_training_state
        print(publish_training_state(args.workdir, args.out, args.step) + ": full training "
              "state (use with sscodec train --init-from or --resume)")
        return 0
    if args.command == "export":
        from sscodec.train.export import export_bundle
        manifest = export_bundle(args.workdir, args.out, args.step,
                                 None if args.no_entropy else args.entropy_data,
                                 args.entropy_seconds)
        print(f"{args.out}: step {manifest['step']}, {manifest['num_quantizers']} quantizers x "
              f"{manifest['bits_per_code']} bits at {manifest['sample_rate']} Hz, "
              f"{'with' if manifest['entropy_tables'] else 'no'} entropy tables, "
              f"sha256 {manifest['sha256'][:12]}")
        return 0
    from sscodec.codec import codec_io
    from sscodec.codec.bitstream import actual_bits_per_second, bits_per_second
    codec = _load_model(args.model)
    if args.command == "compress":
        header, size = codec_io.compress(codec, args.input, args.output, args.kbps,
                                         entropy=not args.raw, denoise=args.denoise)
    else:
        header, size = codec_io.decompress(codec, args.input, args.output)
    seconds = header.num_frames * header.frame_size / header.sample_rate
    actual = actual_bits_per_second(size, header) / 1000 if header.num_frames else 0.0
    channels = f" of {header.channels} channels" if header.channels > 1 else ""
    print(f"{args.command}ed {seconds:.2f} s{channels} at {header.num_quantizers} quantizers: "
          f"{bits_per_second(header) / 1000:g} kbps of codes, {actual:.3g} kbps as stored"
          f"{' (entropy coded)' if header.entropy_coded else ''}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from sscodec.platforms import choose_platforms
    choose_platforms()  # before anything imports JAX
    rest, overrides = _split_overrides(argv)
    args = _parser().parse_args(rest)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "jax._src", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    commands = {"data": cli_data.run, "eval": cli_eval.run, "sweep": cli_eval.run,
                "report": cli_eval.run, "curve": cli_eval.run, "listen": cli_listen.run,
                "ship": cli_ship.run, "compress": _codec_command, "decompress": _codec_command,
                "export": _codec_command}
    if args.command in commands:
        try:
            return commands[args.command](args)
        except (OSError, ValueError) as e:
            # BundleError, BitstreamError and ConfigError included
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2

    from sscodec.config import ConfigError, load_config
    try:
        config = load_config(args.config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        print(f"sscodec: error: {e}", file=sys.stderr)
        return 2

    if args.command == "info":
        from sscodec.train.info import format_info, model_info
        info = model_info(config)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0
    if args.command == "compile":
        from sscodec.train.aot import compile_for_topology, format_report
        try:
            report = compile_for_topology(config, args.topology, args.num_slices)
        except ValueError as e:
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0 if report["fits"] is not False else 4
    if args.command == "train":
        from sscodec.train import runtime
        from sscodec.train.loop import NonFiniteLossError, train_and_evaluate
        runtime.initialize()
        try:
            last = train_and_evaluate(config, args.workdir, resume=args.resume,
                                      init_from=args.init_from)
        except NonFiniteLossError as e:
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 3
        except OSError as e:  # a missing path, a file where a folder goes, a full disk...
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2
        except runtime.collective_errors() as e:
            if not runtime.is_multi_process():
                raise
            runtime.abort(f"a collective with the other processes failed ({str(e)[:300]}). "
                          "Another process has probably died: see its log.")
        if "preempted_at" in last and os.environ.get("SSCODEC_PREEMPTED_EXIT_CODE"):
            # For a launcher that restarts the job on this code (launch/slurm.sbatch requeues);
            # no process leaves before every process has saved and closed its checkpoints.
            runtime.barrier("preempted exit")
            return int(os.environ["SSCODEC_PREEMPTED_EXIT_CODE"])
        return 0
    return 1


def entry_point() -> None:
    """The `sscodec` command: main(), then an exit without the interpreter's teardown where
    that teardown only costs: after compress and decompress (shutting JAX's runtime down takes
    ~0.4 s, a quarter of a short file's decompress), and after a training run stopped by an
    error such as a full disk (Orbax's writer threads would print screens of tracebacks on
    their way down). Outputs are closed and the streams flushed first."""
    code = main()
    command = sys.argv[1:2]
    if command in (["compress"], ["decompress"]) or (command == ["train"] and code == 2):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()
