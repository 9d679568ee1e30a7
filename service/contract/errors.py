"""The contract's two refusals: a file that is not a model the service can serve, and a text a model cannot read.

Both are ValueErrors with a message for a person. The service turns `InvalidModelFile` into a rejected version and
`InvalidText` into a 400; the exporter turns either into its own one-line error.
"""


class InvalidModelFile(ValueError):
    """The ONNX file breaks the contract (labels, thresholds, outputs, text steps); the message says how."""


class InvalidText(ValueError):
    """A text a model's text step cannot read (not a string, a lone surrogate, no token where one is needed)."""
