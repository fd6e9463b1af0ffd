"""ManageSites: admin routes for sites, doors, terminals and the audit trail.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import sites

resolver = build_resolver(sites.router)
lambda_handler = lambda_entry(resolver)
