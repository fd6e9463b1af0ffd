"""InviteVisitors: host routes to invite a visitor and to erase an invite.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from facegate.api.app import build_resolver, lambda_entry
from facegate.api.routes import invites

resolver = build_resolver(invites.router)
lambda_handler = lambda_entry(resolver)
