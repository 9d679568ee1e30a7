"""KerasHub text classifiers: export the backbone + head to ONNX and the preprocessor to a serve-time spec."""

from model_export.kerashub.export import export_kerashub_task, is_kerashub_task

__all__ = ["export_kerashub_task", "is_kerashub_task"]
