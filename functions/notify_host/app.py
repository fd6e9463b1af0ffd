"""NotifyHost: the EventBridge subscriber that e-mails a host on their visitor's first grant.

A thin Lambda handler: the rule (``FirstArrivalRule`` in template.yaml) sends only first grants; the use case
checks the invite's opt-in and sends the mail. A failed send fails the invocation, which Lambda retries
(EventBridge invokes asynchronously; ``EventInvokeConfig`` in template.yaml).
The event is never logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from facegate.api.deps import provide_services
from facegate.api.observability import count, logger, metrics, tracer
from facegate.usecases.delivery import DOOR_DECISION, notify_arrival

resolver = None
"""No HTTP routes: this function is the target of the ``FirstArrivalRule`` EventBridge rule."""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one EventBridge event (``source`` facegate, ``detail-type`` door.decision)."""
    detail = event.get("detail")
    if event.get("source") != "facegate" or event.get("detail-type") != DOOR_DECISION or not isinstance(detail, dict):
        return {"notified": False}
    notified = notify_arrival(provide_services(), detail)
    if notified:
        count("ArrivalNotices")
    return {"notified": notified}
