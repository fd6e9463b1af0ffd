"""Local delivery: SES and EventBridge on moto's server, the outbox, and the EventBridge -> Lambda hop.

What runs where (the honest, simplest path):

- The API functions send mail with boto3 ``ses`` and publish door decisions with boto3 ``events`` against moto's
  server, exactly as on AWS (the sender is verified in moto's SES, the bus is the template's ``EventBus``).
- moto evaluates the template's ``FirstArrivalRule`` pattern itself; its target here is an SQS queue in moto
  (moto cannot invoke an in-process function). A second rule sends every ``facegate`` event to a queue kept
  for the local event log. :class:`LocalDelivery` long-polls both queues in a thread: first-arrival events are
  handed to ``functions/notify_host/app.py``'s handler in-process, as EventBridge would invoke the Lambda, and
  every event is kept for ``GET /_local/events``.
- ``GET /_local/outbox`` lists the mail moto's SES accepted: ``{items: [{to, subject, kind, sent_at, links,
  html}]}`` (``sent_at``: when the relay first saw the message, within half a second; ``links`` and ``html``
  are local extras so a developer or a test can follow the link in a mail). ``GET /_local/outbox.html`` shows
  the same as a page. None of this is in ``template.yaml``.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from facegate_tools.local.inprocess import ApiResponse

OUTBOX = "/_local/outbox"
OUTBOX_PAGE = "/_local/outbox.html"
EVENTS = "/_local/events"
LOCAL_SENDER = "facegate@facegate.local"
POLL_SECONDS = 0.5
_LINK = re.compile(r'href="([^"]+)"')
_KIND = re.compile(r'<meta name="facegate-kind" content="([a-z_]+)">')
Handler = Callable[[dict[str, Any], Any], Any]


def _ses_messages() -> list[Any]:
    """Every message moto's SES accepted in this process (all accounts and regions)."""
    from moto.ses.models import ses_backends

    messages: list[Any] = []
    for account in list(ses_backends.keys()):
        for region in list(ses_backends[account].keys()):
            messages.extend(ses_backends[account][region].sent_messages)
    return messages


def _json(status: int, value: Any) -> ApiResponse:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    return ApiResponse(status=status, headers=headers, body=json.dumps(value, ensure_ascii=False).encode())


@dataclass
class LocalDelivery:
    """Creates the local SES sender, event bus, rules and queues; relays events; answers the outbox routes.

    Args:
        events_client, sqs_client, ses_client: boto3 clients of moto's server.
        bus_name: the template's event bus name; ``pattern``: the first-arrival rule's event pattern.
        subscriber: the notify_host Lambda handler (called with the event and a context).
        context: builds the Lambda context object passed to ``subscriber``.
    """

    events_client: Any
    sqs_client: Any
    ses_client: Any
    bus_name: str
    pattern: Mapping[str, Any]
    subscriber: Handler
    context: Callable[[], Any]
    sender: str = LOCAL_SENDER
    events: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    _seen: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _queues: dict[str, str] = field(default_factory=dict)

    def start(self) -> dict[str, str]:
        """Verify the sender, create the bus, both rules and their queues, start the relay; returns the
        environment the functions need (``FACEGATE_MAIL_FROM``, ``FACEGATE_EVENT_BUS_NAME``)."""
        self.ses_client.verify_email_identity(EmailAddress=self.sender)
        self.events_client.create_event_bus(Name=self.bus_name)
        rules = {
            "first-arrival": dict(self.pattern),
            "event-log": {"source": ["facegate"]},
        }
        for name, pattern in rules.items():
            queue_url = self.sqs_client.create_queue(QueueName=f"facegate-local-{name}")["QueueUrl"]
            arn = self.sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            self.events_client.put_rule(
                Name=f"facegate-local-{name}", EventBusName=self.bus_name, EventPattern=json.dumps(pattern)
            )
            self.events_client.put_targets(
                Rule=f"facegate-local-{name}",
                EventBusName=self.bus_name,
                Targets=[{"Id": name, "Arn": arn["Attributes"]["QueueArn"]}],
            )
            self._queues[name] = queue_url
        self._thread = threading.Thread(target=self._run, name="facegate-local-delivery", daemon=True)
        self._thread.start()
        return {"FACEGATE_MAIL_FROM": self.sender, "FACEGATE_EVENT_BUS_NAME": self.bus_name}

    def stop(self) -> None:
        """Stop the relay (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- the relay ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._stamp_mail()
                for name, queue_url in self._queues.items():
                    self._drain(name, queue_url)
            except Exception:  # the emulator went away while stopping; the relay must not die noisily
                self.failures += 1
            self._stop.wait(POLL_SECONDS)

    def _stamp_mail(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock:
            for message in _ses_messages():
                self._seen.setdefault(str(message.id), now)

    def _drain(self, name: str, queue_url: str) -> None:
        received = self.sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for message in received.get("Messages", []):
            event = json.loads(message["Body"])
            if name == "first-arrival":
                self._invoke(event)
            else:
                with self._lock:
                    self.events.append(event)
            self.sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _invoke(self, event: dict[str, Any]) -> None:
        """Call the subscriber like EventBridge would (a failure is counted; EventBridge would retry)."""
        try:
            self.subscriber(event, self.context())
        except Exception:
            self.failures += 1

    # --- the local routes --------------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        """The mail moto's SES accepted, oldest first."""
        self._stamp_mail()
        items = []
        with self._lock:
            for message in _ses_messages():
                body = str(message.body or "")
                kind = _KIND.search(body)
                recipients = [address for addresses in message.destinations.values() for address in addresses]
                items.append(
                    {
                        "to": recipients[0] if len(recipients) == 1 else recipients,
                        "subject": message.subject,
                        "kind": kind.group(1) if kind else "unknown",
                        "sent_at": self._seen[str(message.id)],
                        "links": [html.unescape(link) for link in _LINK.findall(body)],
                        "html": body,
                    }
                )
        return items

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> ApiResponse | None:
        """``GET /_local/outbox`` (JSON), ``GET /_local/outbox.html`` (page), ``GET /_local/events`` (JSON);
        None for any other path."""
        path = urlsplit(target).path
        if method.upper() != "GET" or path not in (OUTBOX, OUTBOX_PAGE, EVENTS):
            return None
        if path == EVENTS:
            with self._lock:
                return _json(200, {"items": list(self.events)})
        wants_page = path == OUTBOX_PAGE or "text/html" in {k.lower(): v for k, v in headers.items()}.get("accept", "")
        if not wants_page:
            return _json(200, {"items": self.outbox()})
        return ApiResponse(
            status=200,
            headers={"content-type": "text/html; charset=utf-8", "cache-control": "no-store"},
            body=outbox_page(self.outbox()).encode(),
        )


def outbox_page(items: list[dict[str, Any]]) -> str:
    """A page listing the mail: when, to whom, the subject, the kind, and each mail in a sandboxed frame."""
    rows = []
    for item in reversed(items):
        to = item["to"] if isinstance(item["to"], str) else ", ".join(item["to"])
        rows.append(
            "<article class=mail>"
            f"<h2>{html.escape(str(item['subject']))}</h2>"
            f"<p class=meta><span class=kind>{html.escape(item['kind'])}</span> · to {html.escape(to)} · "
            f"<time>{html.escape(item['sent_at'])}</time></p>"
            f'<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" title="{html.escape(str(item["subject"]))}"'
            f' srcdoc="{html.escape(item["html"], quote=True)}"></iframe>'
            "</article>"
        )
    empty = "<p>No mail yet. Create an invite with an e-mail address.</p>" if not items else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Local outbox - facegate</title><style>"
        "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1b1b}"
        ".mail{border:1px solid #ccc;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}"
        ".meta{color:#555}.kind{font-weight:600}iframe{width:100%;height:28rem;border:1px solid #ddd}"
        "</style></head><body><h1>Local outbox</h1>"
        "<p>Mail the local stack sent through the SES emulator (newest first). On AWS this mail goes out "
        f"through Amazon SES.</p><p id=count>{len(items)} message(s)</p>{empty}{''.join(rows)}</body></html>"
    )


def chain(*handlers: Callable[[str, str, Mapping[str, str], bytes], ApiResponse | None]) -> Any:
    """One local handler from several: the first answer wins."""

    def handle(method: str, target: str, headers: Mapping[str, str], body: bytes) -> ApiResponse | None:
        for handler in handlers:
            answer = handler(method, target, headers, body)
            if answer is not None:
                return answer
        return None

    return handle
