"""Module-level Powertools Logger, Metrics and Tracer shared by every function.

Nothing here logs or traces request bodies, images, templates, tokens or secrets: events are
never logged, traced responses are disabled, and route paths that carry tokens are not logged.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "facegate"
NAMESPACE = "facegate"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def count(name: str, value: float = 1.0, **dimensions: str) -> None:
    """Emit one Count metric now, with its own dimensions (e.g. ``reason=no_face``)."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def milliseconds(name: str, value: float) -> None:
    """Record a latency metric in milliseconds."""
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
