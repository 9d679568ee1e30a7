"""Export Keras multi-label classifiers (logit outputs) to ONNX with an appended Sigmoid.

`read_metadata` and the label helpers import without TensorFlow; `export_model` pulls
TensorFlow in lazily on first use.
"""

from typing import TYPE_CHECKING, Any

from model_export.errors import ExportError
from service.contract.version import VERSION as __version__

__all__ = [
    "ExportError",
    "ExportReport",
    "__version__",
    "calibrate_model",
    "describe_model",
    "export_model",
    "read_metadata",
    "verify_exported",
]

if TYPE_CHECKING:
    from model_export.calibration.calibrate_command import calibrate_model
    from model_export.describe import describe_model
    from model_export.export import ExportReport, export_model
    from model_export.metadata import read_metadata
    from model_export.parity.verify_command import verify_exported


def __getattr__(name: str) -> Any:
    # Lazy so that `import model_export` (e.g. for read_metadata) never loads TensorFlow.
    if name in ("export_model", "ExportReport"):
        from model_export import export

        return getattr(export, name)
    if name == "read_metadata":
        from model_export.metadata import read_metadata

        return read_metadata
    if name == "calibrate_model":  # ONNX Runtime only: no TensorFlow
        from model_export.calibration.calibrate_command import calibrate_model

        return calibrate_model
    if name == "describe_model":
        from model_export.describe import describe_model

        return describe_model
    if name == "verify_exported":
        from model_export.parity.verify_command import verify_exported

        return verify_exported
    raise AttributeError(f"module 'model_export' has no attribute {name!r}")
