"""The exporter's version, recorded in every model it writes (kept apart so no module imports the package itself)."""

__version__ = "0.1.0"
