"""RegisterVisitor: visitor routes (invite token) for notice, consent, selfie enrollment, status, erasure.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import visitor

resolver = build_resolver(visitor.router)
lambda_handler = lambda_entry(resolver)
