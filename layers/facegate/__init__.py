"""facegate: consent-first face verification for building access."""

__version__ = "0.1.0"
