"""`sscodec data`: index, inspect and prepare training data.

  sscodec data index DIR --out MANIFEST.jsonl [--deep] [--workers N]
  sscodec data stats SPEC [--json] [--deep] [--data-dir DIR]
  sscodec data prepare NAME[/CONFIG] [--data-dir DIR] [--manual-dir DIR]
  sscodec data prepare asterisk --data-dir OUT [--eval-speakers it,ru]   (a folder recipe)
  sscodec data prepare noise --data-dir OUT [--eval-sources opensfx,minetest]   (a folder recipe)

Argument parsing only; the work is in data_pipelines.
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    """Adds `data` and its sub-commands to the `sscodec` sub-command parsers."""
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


def run(args: argparse.Namespace) -> int:
    """Runs `sscodec data index|stats|prepare`."""
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
