"""ServePages: the OpenAPI document, the visitor and kiosk pages and their static assets.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import lambda_entry
from facegate.api.catalog import pages_resolver

resolver = pages_resolver()
lambda_handler = lambda_entry(resolver)
