"""The `calibrate`, `verify` and `inspect` subcommands (registered in cli.SUBCOMMANDS).

Exit status: 0 success / verification passed, 1 verification failed, 2 a usage error or a
model, file or argument that cannot be used (message on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from model_export.labels import parse_threshold, parse_thresholds_arg

EXIT_PASS = 0
EXIT_FAIL = 1


def parse_target(value: str, option: str) -> float | dict[str, float]:
    """`0.9` (every label) or `a=0.9,b=0.8` (named labels)."""
    if "=" not in value:
        return parse_threshold(value, what=option)
    return parse_thresholds_arg(value, option)


def run_calibrate(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export calibrate",
        description="Choose a threshold per label on validation data and write them into a new model "
        "(a new file or the next version folder; never in place). Default: maximise F1 per label.",
    )
    parser.add_argument("model", help="exported ONNX model, e.g. models/NAME/1/model.onnx")
    parser.add_argument(
        "--data",
        required=True,
        help=".npz: one array per model input, plus 'y' multi-hot [rows, labels]; or .jsonl / .csv rows (raw text "
        "for text inputs) with labels as names or multi-hot",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", "-o", help="new ONNX file to write (not the input)")
    where.add_argument(
        "--output-version", action="store_true", help="write models/NAME/<highest+1>/model.onnx beside the input"
    )
    parser.add_argument("--target-precision", help="0.9 for every label, or a=0.9,b=0.8: best recall at that precision")
    parser.add_argument("--target-recall", help="0.9 for every label, or a=0.9,b=0.8: best precision at that recall")
    parser.add_argument("--report", help="write an HTML report (PR curve per label, scores before/after)")
    args = parser.parse_args(argv)
    from model_export.calibrate import calibrate_model

    result = calibrate_model(
        args.model,
        args.data,
        args.output,
        output_version=args.output_version,
        target_precision=parse_target(args.target_precision, "--target-precision") if args.target_precision else None,
        target_recall=parse_target(args.target_recall, "--target-recall") if args.target_recall else None,
        report=args.report,
        show_progress=True,
    )
    print(result.format())
    if args.report:
        print(f"report     {args.report}")
    return EXIT_PASS


def run_verify(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export verify",
        description="Re-run the parity check of an exported model against its Keras source. "
        "Exit 0: parity holds; 1: it does not; 2: the check could not run.",
    )
    parser.add_argument("model", help="exported ONNX model")
    parser.add_argument("--keras", required=True, help="the source: .keras, .h5 or SavedModel directory")
    parser.add_argument(
        "--data",
        help=".npz with one array per input (default: random rows, batches 1, 7, 64); for a text model also "
        ".jsonl / .csv rows of raw text, checked besides the built-in text corpus",
    )
    parser.add_argument("--tolerance", type=float, default=None, help="max abs error on probabilities (default 1e-5)")
    args = parser.parse_args(argv)
    from model_export.recheck import verify_exported
    from model_export.verify import PROBABILITY_TOLERANCE

    tolerance = PROBABILITY_TOLERANCE if args.tolerance is None else args.tolerance
    outcome = verify_exported(args.model, args.keras, args.data, tolerance=tolerance, show_progress=True)
    print(outcome.format())
    return EXIT_PASS if outcome.passed else EXIT_FAIL


def run_inspect(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export inspect",
        description="Show an exported model's inputs, outputs, labels, thresholds and provenance.",
    )
    parser.add_argument("model", help="exported ONNX model")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    from model_export.describe import describe_model, format_description

    info = describe_model(args.model)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return EXIT_PASS
