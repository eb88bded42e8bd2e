"""User-facing errors: each carries one sentence that says what to do.

The CLI prints these without a traceback; anything else is a bug.
"""


class VocError(Exception):
    """Base class for errors caused by user input or configuration."""


class ConfigError(VocError):
    """The pipeline configuration or a CLI override is invalid."""


class InputError(VocError):
    """The input file is missing, unreadable or lacks a required column."""


class ModelError(VocError):
    """A model or taxonomy cannot be found or loaded."""
