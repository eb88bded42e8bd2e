"""voc: voice-of-customer text mining for Chinese."""

__version__ = "0.1.0"
