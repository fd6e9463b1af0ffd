"""PairKiosk: ``POST /pair``, a kiosk trades a one-time pairing code for its terminal's credentials.

A thin Lambda handler of its own (no authorizer in front of it, so it gets only what pairing needs); the
resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import pairing

resolver = build_resolver(pairing.router)
lambda_handler = lambda_entry(resolver)
