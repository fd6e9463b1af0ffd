"""ManageSites: admin routes for sites, doors, terminals, pairing codes, hosts and the audit trail (and ``/me``).

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import hosts, sites

resolver = build_resolver(sites.router, hosts.router)
lambda_handler = lambda_entry(resolver)
