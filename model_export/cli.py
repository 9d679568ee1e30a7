"""Command line: `python -m model_export SOURCE ...` exports; a known subcommand name dispatches instead."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from model_export.commands import run_calibrate, run_inspect, run_optimize, run_verify
from model_export.errors import ExportError
from model_export.head import ACCEPT_FLAG
from model_export.labels import DEFAULT_THRESHOLD, parse_labels_arg, parse_threshold, parse_thresholds_arg

EXIT_USAGE = 2


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_export [export]",
        description="Export a Keras multi-label classifier (logit outputs) to ONNX with an appended Sigmoid.",
        epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (without one, the arguments are for 'export'). "
        "Exit status 2 when the model or an argument cannot be exported; nothing is written then.",
    )
    parser.add_argument("source", help=".keras or .h5 file, or a SavedModel directory")
    parser.add_argument("--output", "-o", required=True, help="ONNX file to write, e.g. models/NAME/1/model.onnx")
    parser.add_argument("--labels", required=True, help="a,b,c or @labels.txt (one label per line)")
    parser.add_argument(
        "--threshold",
        default=str(DEFAULT_THRESHOLD),
        help="threshold for every label not named in --thresholds",
    )
    parser.add_argument("--thresholds", help="per-label thresholds: a=0.3,b=0.7")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, 13..18 (tf2onnx refuses above 18)")
    parser.add_argument(
        "--sample-data",
        help=".npz with one array per input name, for the parity check; for a text model also .jsonl / .csv "
        "rows of raw text (checked besides the built-in text corpus)",
    )
    parser.add_argument(
        ACCEPT_FLAG,
        dest="accept_sigmoid_output",
        action="store_true",
        help="for models ending in a sigmoid whose logits cannot be recovered: export the output unchanged "
        "as probabilities (logits approximated as log(p)-log(1-p))",
    )
    return parser


def run_export(argv: Sequence[str]) -> int:
    args = build_export_parser().parse_args(argv)
    from model_export.export import export_model  # TensorFlow loads only once arguments are valid

    report = export_model(
        args.source,
        args.output,
        parse_labels_arg(args.labels),
        thresholds=parse_thresholds_arg(args.thresholds) if args.thresholds else None,
        opset=args.opset,
        sample_data=args.sample_data,
        default_threshold=parse_threshold(args.threshold),
        accept_sigmoid_output=args.accept_sigmoid_output,
        show_progress=True,
    )
    print(report.format())
    return 0


# Subcommand name → handler.
SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "export": run_export,
    "calibrate": run_calibrate,
    "optimize": run_optimize,
    "verify": run_verify,
    "inspect": run_inspect,
}
DEFAULT_SUBCOMMAND = "export"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command, rest = argv[0], argv[1:]
    else:
        command, rest = DEFAULT_SUBCOMMAND, argv
    try:
        return SUBCOMMANDS[command](rest)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
