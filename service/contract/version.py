"""The project's version, written once in pyproject.toml and read from the installed package's metadata."""

from importlib.metadata import version

VERSION = version("sigmoid-serve")
