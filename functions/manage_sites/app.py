"""ManageSites: admin routes for sites, doors, terminals and the audit trail.

A thin Lambda handler: the resolver is built once per warm instance; the event is never logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from facegate.api.app import build_resolver
from facegate.api.observability import logger, metrics, tracer
from facegate.api.routes import sites

resolver = build_resolver(sites.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one API Gateway HTTP API (payload 2.0) event."""
    return resolver.resolve(event, context)
