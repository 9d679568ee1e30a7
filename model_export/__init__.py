"""Export Keras multi-label classifiers (logit outputs) to ONNX with an appended Sigmoid.

`read_metadata` and the label helpers import without TensorFlow; `export_model` pulls
TensorFlow in lazily on first use.
"""

from typing import TYPE_CHECKING, Any

from model_export.errors import ExportError

__version__ = "0.1.0"

__all__ = ["ExportError", "ExportReport", "__version__", "export_model", "read_metadata"]

if TYPE_CHECKING:
    from model_export.export import ExportReport, export_model
    from model_export.metadata import read_metadata


def __getattr__(name: str) -> Any:
    # Lazy so that `import model_export` (e.g. for read_metadata) never loads TensorFlow.
    if name in ("export_model", "ExportReport"):
        from model_export import export

        return getattr(export, name)
    if name == "read_metadata":
        from model_export.metadata import read_metadata

        return read_metadata
    raise AttributeError(f"module 'model_export' has no attribute {name!r}")
