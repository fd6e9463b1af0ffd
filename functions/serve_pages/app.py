"""ServePages: the OpenAPI document, the visitor and kiosk pages and their static assets.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import pages

resolver = build_resolver(pages.router)
lambda_handler = lambda_entry(resolver)
