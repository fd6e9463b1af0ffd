"""VerifyAtDoor: the door route (HMAC-signed terminal request) that grants or denies entry.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import door

resolver = build_resolver(door.router)
lambda_handler = lambda_entry(resolver)
