"""Command line: `python -m model_export SOURCE ...` exports; a known subcommand name dispatches instead."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from model_export.commands import run_calibrate, run_inspect, run_optimize, run_verify
from model_export.data.label_warnings import DROP_OPTION
from model_export.errors import ExportError
from model_export.files import check_output_file
from model_export.keras.head import ACCEPT_FLAG
from model_export.keras.input_names import OPTION as INPUT_NAME_OPTION
from model_export.keras.input_names import parse_renames
from model_export.keras.load import UNSAFE_FLAG
from model_export.keras.served_interface import REFUSE_EMPTY_TEXTS_OPTION
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
    add_source_options(parser)
    parser.add_argument(
        "--force", action="store_true", help="replace --output when it exists (a served version, perhaps)"
    )
    add_interface_options(parser)
    return parser


def add_interface_options(parser: argparse.ArgumentParser) -> None:
    """What clients see besides the probabilities: input names, the labels served, texts without a known word."""
    parser.add_argument(
        INPUT_NAME_OPTION,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="serve input OLD under the name NEW (repeat for several inputs); e.g. input_layer_1=text for a model "
        "whose keras.Input had no name",
    )
    parser.add_argument(
        DROP_OPTION,
        action="append",
        default=[],
        metavar="NAME",
        help="leave label NAME (one of --labels) out of the served outputs, e.g. a StringLookup's '[UNK]' (repeat "
        "for several); parity is proved on the labels served",
    )
    parser.add_argument(
        REFUSE_EMPTY_TEXTS_OPTION,
        action="store_true",
        help="text models: answer a text with no word of the vocabulary (empty, or unknown words only) with a 400 "
        "instead of what Keras answers for it (its biases alone); recorded in the model",
    )


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """What export and publish both ask: labels, default thresholds and how to read and convert the source."""
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
        help=".npz with one array per input name, or .jsonl / .csv rows, for the parity check (for a text model, "
        "raw text checked besides the built-in text corpus); with labels, each label's reference rate",
    )
    parser.add_argument(
        ACCEPT_FLAG,
        dest="accept_sigmoid_output",
        action="store_true",
        help="for models ending in a sigmoid whose logits cannot be recovered: export the output unchanged "
        "as probabilities (logits approximated as log(p)-log(1-p))",
    )
    parser.add_argument(
        UNSAFE_FLAG,
        dest="unsafe_deserialization",
        action="store_true",
        help="load Lambda layers (Python code stored in the model file): only for files you trust",
    )


def run_export(argv: Sequence[str]) -> int:
    args = build_export_parser().parse_args(argv)
    output = check_output_file(args.output)
    if output.exists() and not args.force:
        from model_export.repository import overwrite_refusal

        raise overwrite_refusal(output)
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
        unsafe_deserialization=args.unsafe_deserialization,
        input_renames=parse_renames(args.input_name),
        drop_labels=args.drop_label,
        refuse_empty_texts=args.refuse_empty_texts,
    )
    print(report.format())
    return 0


def run_publish(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export publish",
        description="Export a Keras model as the next version of a model in a repository (REPO/NAME/<next>/"
        "model.onnx, written atomically), with the parity proof; with --data, calibrate it (with the methods the "
        "served version was calibrated with) and compare it label by label with the served version.",
        epilog="Exit status 2 when the model, the data or an argument cannot be used; nothing is written then.",
    )
    parser.add_argument("source", help=".keras or .h5 file, or a SavedModel directory")
    parser.add_argument("--repository", required=True, help="the folder a server serves (MODEL_REPOSITORY)")
    parser.add_argument("--name", required=True, help="the model's name: REPO/NAME/VERSION/model.onnx")
    add_source_options(parser)
    parser.add_argument(
        "--data",
        help="validation rows to calibrate on (as for calibrate: .npz with 'y', or .jsonl / .csv); without it the "
        "thresholds are --threshold / --thresholds",
    )
    parser.add_argument("--target-precision", help="as for calibrate; replaces the served version's method")
    parser.add_argument("--target-recall", help="as for calibrate; replaces the served version's method")
    args = parser.parse_args(argv)
    if not args.data and (args.target_precision or args.target_recall):
        raise ExportError("--target-precision and --target-recall choose thresholds on --data: give --data too")
    from model_export.commands import parse_target
    from model_export.publish import publish_version

    result = publish_version(
        args.source,
        args.repository,
        args.name,
        parse_labels_arg(args.labels),
        args.data,
        thresholds=parse_thresholds_arg(args.thresholds) if args.thresholds else None,
        default_threshold=parse_threshold(args.threshold),
        target_precision=parse_target(args.target_precision, "--target-precision") if args.target_precision else None,
        target_recall=parse_target(args.target_recall, "--target-recall") if args.target_recall else None,
        opset=args.opset,
        sample_data=args.sample_data,
        accept_sigmoid_output=args.accept_sigmoid_output,
        unsafe_deserialization=args.unsafe_deserialization,
        show_progress=True,
    )
    print(result.format())
    return 0


# Subcommand name → handler.
SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "export": run_export,
    "calibrate": run_calibrate,
    "optimize": run_optimize,
    "verify": run_verify,
    "inspect": run_inspect,
    "publish": run_publish,
}
DEFAULT_SUBCOMMAND = "export"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command, rest = argv[0], argv[1:]
    else:
        command, rest = DEFAULT_SUBCOMMAND, argv
    try:
        status = SUBCOMMANDS[command](rest)
        sys.stdout.flush()  # a reader that stopped reading is found here, not in the interpreter's last flush
        return status
    except BrokenPipeError:
        # The reader stopped early (`inspect ... | head`): nothing failed here, and there is nobody left to tell.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file or folder the checks before the work did not foresee: one line, too
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
