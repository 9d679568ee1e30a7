"""The `calibrate`, `optimize`, `verify` and `inspect` subcommands (registered in cli.SUBCOMMANDS).

Exit status: 0 success / verification passed, 1 verification failed, 2 a usage error or a
model, file or argument that cannot be used (message on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from model_export.errors import ExportError
from model_export.keras.load import UNSAFE_FLAG, UNSAFE_WARNING
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
    from model_export.calibration.calibrate_command import calibrate_model

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


def run_optimize(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export optimize",
        description="Write an int8, float16 or graph-optimized version of a model (a new file or the next version "
        "folder), proven per label on validation data: refused when a label's F1 drops by more than --max-f1-drop "
        "or the new model is slower than float32 on this machine.",
        epilog="Exit status 2 when refused (the tables say why) or when the model or data cannot be used.",
    )
    parser.add_argument("model", help="exported ONNX model, e.g. models/NAME/1/model.onnx")
    parser.add_argument(
        "--data",
        required=True,
        help="as for calibrate: .npz with one array per model input plus 'y' multi-hot [rows, labels], or .jsonl / "
        ".csv rows (raw text for text inputs) with labels as names or multi-hot",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", "-o", help="new ONNX file to write (not the input)")
    where.add_argument(
        "--output-version", action="store_true", help="write models/NAME/<highest+1>/model.onnx beside the input"
    )
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--int8", action="store_const", dest="variant", const="int8", help="ONNX Runtime int8")
    kind.add_argument("--fp16", action="store_const", dest="variant", const="float16", help="float16 weights")
    kind.add_argument(
        "--graph-only", action="store_const", dest="variant", const="graph-only", help="graph optimizations only"
    )
    parser.add_argument("--keep-thresholds", action="store_true", help="keep the thresholds instead of re-choosing")
    parser.add_argument("--max-f1-drop", type=float, default=0.01, help="largest F1 drop allowed per label")
    parser.add_argument(
        "--min-speedup",
        type=float,
        default=None,
        help="speed-up over float32 required at batch 1 and the best batch (default 1; for a transformer's int8, "
        "1.5 at batch 1 and 8)",
    )
    parser.add_argument("--force", action="store_true", help="write the best candidate even when it is refused")
    parser.add_argument(
        "--calibration-data",
        help="rows for int8 calibration, in any --data format; labels not needed (default: the --data rows)",
    )
    parser.add_argument("--report", help="write an HTML report (both models' PR curves per label)")
    args = parser.parse_args(argv)
    if not 0 <= args.max_f1_drop <= 1:
        raise ExportError(f"--max-f1-drop must be between 0 and 1, got {args.max_f1_drop:g}")
    if args.min_speedup is not None and args.min_speedup < 0:
        raise ExportError(f"--min-speedup must be 0 or more, got {args.min_speedup:g}")
    from model_export.optimize.optimize_command import OptimizationRefused, optimize_model

    try:
        result = optimize_model(
            args.model,
            args.data,
            args.output,
            output_version=args.output_version,
            variant=args.variant,
            keep_thresholds=args.keep_thresholds,
            max_f1_drop=args.max_f1_drop,
            min_speedup=args.min_speedup,
            force=args.force,
            calibration_data=args.calibration_data,
            report=args.report,
            show_progress=True,
        )
    except OptimizationRefused as refused:
        print(refused.report)
        if args.report:
            print(f"report     {args.report}")
        raise
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
        help=".npz with one array per input, or .jsonl / .csv rows (default: random rows, batches 1, 7, 64); for a "
        "text model, rows of raw text checked besides the built-in text corpus",
    )
    parser.add_argument("--tolerance", type=float, default=None, help="max abs error on probabilities (default 1e-5)")
    parser.add_argument(
        UNSAFE_FLAG, action="store_true", help="load Lambda layers (Python code in the model file): trusted files only"
    )
    args = parser.parse_args(argv)
    from model_export.parity.compare import PROBABILITY_TOLERANCE
    from model_export.parity.verify_command import verify_exported

    tolerance = PROBABILITY_TOLERANCE if args.tolerance is None else args.tolerance
    outcome = verify_exported(
        args.model,
        args.keras,
        args.data,
        tolerance=tolerance,
        show_progress=True,
        unsafe_deserialization=args.unsafe_deserialization,
    )
    print(outcome.format())
    if args.unsafe_deserialization:
        print(f"warning   {UNSAFE_WARNING}")
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
