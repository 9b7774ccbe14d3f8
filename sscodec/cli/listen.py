"""`sscodec listen`: a static listening page for a model, or the table of MUSHRA ratings.

  sscodec listen --model speech_cpu_24khz --data data/asterisk/eval --noise data/noise/eval
                 --out listen/ [--kbps 1.5,3,6] [--opus-kbps 6,24] [--mushra]
  sscodec listen --collect ratings/*.json [--out table.md]

Argument parsing only; the work is in sscodec.evaluation.listen.
"""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    """Adds `listen` to the `sscodec` sub-command parsers."""
    p = sub.add_parser(
        "listen", help="a static listening page (no server): each clip as the original, sscodec "
                       "at each bitrate, Opus and codec2, with A/B switching; or --collect "
                       "MUSHRA ratings into a table",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="a model name (e.g. speech_cpu_24khz) or a bundle folder")
    p.add_argument("--data", default="embedded", help="data spec of the clips")
    p.add_argument("--noise", default="",
                   help="data spec of noise for noisy speech (default: the data's noise items)")
    p.add_argument("--out", default=None,
                   help="page folder (index.html, audio/, spectrograms/); with --collect: a "
                        "Markdown file for the table (it is printed too)")
    p.add_argument("--kbps", default=None,
                   help="model bitrates, e.g. 1.5,3,6 (default: the top rate, ~1/2 and ~1/4)")
    p.add_argument("--opus-kbps", default=None,
                   help="Opus target bitrates (default: comparable with the model's top rate, "
                        "at least 6, and 4x that)")
    p.add_argument("--no-codec2", action="store_true", help="leave codec2 out")
    p.add_argument("--no-denoise", action="store_true",
                   help="FiLM models: leave the denoised versions out")
    p.add_argument("--per-category", type=int, default=2, help="clips per category")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="length of each clip")
    p.add_argument("--categories", default=None,
                   help="comma list of clean_speech, noisy_speech, music, audio (default: all "
                        "with material)")
    p.add_argument("--seed", type=int, default=0,
                   help="picks the clips, the SNRs and the MUSHRA orders")
    p.add_argument("--mushra", action="store_true",
                   help="also write mushra.html: hidden names in random order, 0-100 sliders, "
                        "ratings saved as JSON")
    p.add_argument("--screenshot", default=None,
                   help="also write a PNG of the page's top (needs chromium)")
    p.add_argument("--data-dir", default="", help="TFDS data_dir")
    p.add_argument("--collect", nargs="+", default=None, metavar="RATINGS.json",
                   help="aggregate ratings files saved from mushra.html into a MUSHRA table "
                        "(mean ± 95%% CI per system) instead of building a page")


def run(args: argparse.Namespace) -> int:
    """Runs `sscodec listen`."""
    if args.collect:
        from sscodec.evaluation.listen.mushra import collect
        print(collect(args.collect, args.out))
        return 0
    if not args.model or not args.out:
        raise ValueError("listen: give --model NAME_OR_BUNDLE and --out DIR (or --collect FILES)")
    from sscodec.evaluation.evaluate import parse_kbps
    from sscodec.evaluation.listen.build import build_page

    categories = [c.strip() for c in args.categories.split(",")] if args.categories else None
    page = build_page(args.out, args.model, data=args.data, noise=args.noise,
                      kbps=parse_kbps(args.kbps), opus_kbps=parse_kbps(args.opus_kbps),
                      per_category=args.per_category, clip_seconds=args.clip_seconds,
                      categories=categories, denoise=not args.no_denoise,
                      codec2=not args.no_codec2, with_mushra=args.mushra, seed=args.seed,
                      data_dir=args.data_dir)
    versions = sum(len(c["versions"]) for c in page["clips"])
    print(f"{os.path.join(args.out, 'index.html')}: {len(page['clips'])} clips, {versions} "
          "versions" + (f"; {os.path.join(args.out, 'mushra.html')}" if page["mushra"] else ""))
    if args.screenshot:
        from sscodec.evaluation.listen.browser import screenshot_page
        print(screenshot_page(os.path.join(args.out, "index.html"), args.screenshot,
                              height=1500, colors=256))
    return 0
