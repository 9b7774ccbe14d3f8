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

from sscodec.cli import eval as cli_eval, listen as cli_listen
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
    _add_ship_parser(sub)

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

    data = sub.add_parser("data", help="index, inspect and prepare training data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    index = data_sub.add_parser("index", help="scan a folder once into a JSONL manifest")
    index.add_argument("folder", help="corpus root; speech/ music/ noise/ and train/ test/ "
                                      "folders below it label kind and split")
    index.add_argument("--out", required=True, help="manifest to write (paths relative to it)")
    index.add_argument("--deep", action="store_true",
                       help="decode every file in full (finds truncated files and NaN samples)")
    index.add_argument("--workers", type=int, default=16, help="parallel probing threads")
    stats = data_sub.add_parser("stats", help="hours, files, rates, kinds and unreadable files")
    stats.add_argument("spec", help="'embedded', a folder, a manifest or tfds:NAME[/CONFIG]:SPLIT")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a report")
    stats.add_argument("--deep", action="store_true", help="decode every file in full")
    stats.add_argument("--data-dir", default="", help="TFDS data_dir")
    prepare = data_sub.add_parser("prepare", help="download (or read from --manual-dir) and write "
                                                  "a TFDS dataset: libritts, magnatagatune, "
                                                  "audio_folder; or the folder recipes asterisk "
                                                  "and noise")
    prepare.add_argument("name", help="e.g. libritts/clean100, magnatagatune, audio_folder; "
                                      "asterisk writes real speech (5 speakers) and music from "
                                      "Debian's Asterisk G.722 packages as 24 kHz FLAC to "
                                      "DATA_DIR/train and DATA_DIR/eval (whole speakers held out), "
                                      "with manifest.jsonl per split and PROVENANCE.md; noise "
                                      "writes real recorded background noise (rain, wind, fire, "
                                      "water, engines, machinery, crowd...) from five Debian game "
                                      "data packages the same way (whole packages held out)")
    prepare.add_argument("--data-dir", default=None, help="TFDS data_dir (default TFDS's own); "
                                                          "asterisk, noise: the output folder "
                                                          "(required)")
    prepare.add_argument("--manual-dir", default=None,
                         help="folder holding the archives or extracted corpus (no download); "
                              "asterisk: the sound root with sounds/ and moh/ (default "
                              "/usr/share/asterisk, missing packages fetched by apt-get download); "
                              "noise: a folder laid out like / holding the packages' files "
                              "(default /, missing packages fetched by apt-get download)")
    prepare.add_argument("--eval-speakers", default="it,ru",
                         help="asterisk: languages held out whole for eval (of en,es,fr,it,ru)")
    prepare.add_argument("--eval-sources", default="opensfx,minetest",
                         help="noise: source packages held out whole for eval (of "
                              "ufoai,megaglest,etr,opensfx,minetest)")
    return parser


def _add_ship_parser(sub) -> None:
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


def _ship_command(args: argparse.Namespace) -> int:
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
    if args.command == "ship":
        return _ship_command(args)
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


def _data_command(args: argparse.Namespace) -> int:
    if args.data_command == "index":
        from data_pipelines.manifest import scan_folder, write_manifest
        files, skipped = scan_folder(args.folder, deep=args.deep, workers=args.workers,
                                     progress=True)
        write_manifest(args.out, files, skipped)
        hours = sum(f.duration for f in files) / 3600
        print(f"{args.out}: {len(files)} files ({hours:.3f} h), {len(skipped)} unreadable")
        return 0
    if args.data_command == "stats":
        from data_pipelines.stats import data_stats, format_stats
        stats = data_stats(args.spec, data_dir=args.data_dir, deep=args.deep,
                           progress=not args.json)
        print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
        return 0
    if args.name in ("asterisk", "noise"):
        if not args.data_dir:
            raise ValueError(f"data prepare {args.name}: --data-dir OUT (the folder to write) is "
                             "needed")
        if args.name == "asterisk":
            from data_pipelines.recipes.asterisk import format_summary, prepare_asterisk as prepare
            held_out = {"eval_speakers": [s for s in args.eval_speakers.split(",") if s]}
        else:
            from data_pipelines.recipes.noise import format_summary, prepare_noise as prepare
            held_out = {"eval_sources": [s for s in args.eval_sources.split(",") if s]}
        print(format_summary(prepare(args.data_dir, args.manual_dir, progress=True, **held_out)))
        return 0
    from data_pipelines.tfds_builders import prepare
    counts = prepare(args.name, data_dir=args.data_dir, manual_dir=args.manual_dir)
    print(", ".join(f"{split}: {n} examples" for split, n in counts.items()))
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

    if args.command == "data":
        try:
            return _data_command(args)
        except (OSError, ValueError) as e:
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2
    if args.command in ("eval", "sweep", "report", "curve"):
        try:
            return cli_eval.run(args)
        except (OSError, ValueError) as e:  # ConfigError included
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2
    if args.command == "listen":
        try:
            return cli_listen.run(args)
        except (OSError, ValueError) as e:
            print(f"sscodec: error: {e}", file=sys.stderr)
            return 2
    if args.command in ("compress", "decompress", "export", "ship"):
        try:
            return _codec_command(args)
        except (OSError, ValueError) as e:
            # BundleError, BitstreamError, ConfigError included
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
