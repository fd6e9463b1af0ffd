"""Building Powertools resolvers from route modules, with the one error table installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from facegate.api import guard
from facegate.api.errors import SECURITY_HEADERS, error_response, response_for
from facegate.api.observability import logger, metrics, tracer
from facegate.errors import FacegateError

RETRYABLE_AWS_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSInternalException",
        "DependencyTimeoutException",
        "TransactionConflictException",
    }
)


def _validation_message(error: RequestValidationError) -> str:
    problems = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        problems.append(f"{location}: {item.get('type', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def security_headers(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Every answer: ``no-store`` (many carry a secret shown once, a token or a claim code) unless the route
    set its own caching, and ``nosniff``."""
    response: Response[Any] = next_middleware(app)
    for name, value in SECURITY_HEADERS.items():
        if not any(existing.lower() == name.lower() for existing in response.headers):
            response.headers[name] = value
    return response


def build_resolver(*routers: Router) -> APIGatewayHttpResolver:
    """A resolver serving ``routers``, validating bodies with pydantic, mapping every error."""
    app = APIGatewayHttpResolver(enable_validation=True)
    guard.install(app)
    for router in routers:
        app.include_router(router)
    app.use(middlewares=[security_headers])

    @app.exception_handler(FacegateError)
    def typed_error(error: FacegateError) -> Response[str]:
        return response_for(error)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[str]:
        return error_response(400, "invalid_request", _validation_message(error))

    @app.not_found
    def not_found(_: NotFoundError) -> Response[str]:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(ClientError)
    def aws_error(error: ClientError) -> Response[str]:
        code = error.response.get("Error", {}).get("Code", "")
        logger.error("AWS call failed", extra={"aws_error_code": code})
        if code in RETRYABLE_AWS_CODES:
            return error_response(503, "service_unavailable", "the service is temporarily unavailable", 2)
        return error_response(500, "internal_error", "an internal error occurred")

    @app.exception_handler(BotoCoreError)
    def aws_transport_error(error: BotoCoreError) -> Response[str]:
        logger.error("AWS transport failed", extra={"aws_error": type(error).__name__})
        return error_response(503, "service_unavailable", "the service is temporarily unavailable", 2)

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        return error_response(500, "internal_error", "an internal error occurred")

    return app


LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def lambda_entry(resolver: APIGatewayHttpResolver) -> LambdaHandler:
    """The Lambda handler of a function that serves ``resolver`` (API Gateway HTTP API, payload 2.0): logs
    carry the request's correlation id, the event is never logged, traces never capture the response, metrics
    are flushed after each event."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return resolver.resolve(event, context)

    handler: LambdaHandler = lambda_handler
    return handler
