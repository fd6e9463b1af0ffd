"""Cryptographic primitives: request signatures, tokens, claim codes, template envelopes."""
