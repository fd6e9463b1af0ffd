"""Issue 15 delivery against the emulators: the invite mail through SES, door decisions on an EventBridge bus
routed by the template's own first-arrival rule, the NotifyHost function fed the event read back from the
emulator, and the e-mail address gone from the stored invite after erasure (moto: DynamoDB, KMS, SES,
EventBridge, SQS as the rules' target).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from security_support import REGION, create_stores, kms_key, moto_aws

from facegate.adapters import memory
from facegate.adapters.dynamodb import DynamoAuditLog, DynamoEphemeral, DynamoRepository, idempotency_store
from facegate.adapters.events import EventBridgePublisher
from facegate.adapters.kms import KmsKeyService
from facegate.adapters.ses import SesMailer
from facegate.api.deps import use_services
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.usecases.context import Services
from facegate_tools.local.aws import load_template
from facegate_tools.local.events import LambdaContext
from facegate_tools.local.stack import load_handler

REPO = Path(__file__).resolve().parents[2]
SENDER = "facegate@example.org"
HOST_EMAIL = "host@example.org"
VISITOR_EMAIL = "visitor@example.com"
BUS = "facegate-test-events"


@dataclass
class Emulated:
    stack: Any
    services: Services
    sqs: Any
    ses: Any
    queues: dict[str, str]
    directory_table: str


def _ses_sent() -> list[Any]:
    from moto.ses.models import ses_backends

    return [m for account in ses_backends for m in ses_backends[account][REGION].sent_messages]


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def emulated(clock: Any, make_stack: Any) -> Iterator[Emulated]:
    """Services over moto's DynamoDB, KMS, SES and EventBridge; the template's FirstArrivalRule and a rule for
    every facegate event deliver to SQS queues; one site; person A's selfies a1-a3 and door frame a4."""
    engine = memory.MemoryFaceEngine()
    person = np.random.default_rng(1).normal(size=128).astype(np.float32)
    for i in range(1, 5):
        jitter = np.random.default_rng(i).normal(size=128).astype(np.float32)
        engine.register(f"a{i}".encode(), person / np.linalg.norm(person) + 0.15 * jitter / np.linalg.norm(jitter))
    with moto_aws() as clients:
        settings = create_stores(clients).with_overrides(kms_key_id=kms_key(clients))
        ses, events, sqs = (boto3.client(name, region_name=REGION) for name in ("ses", "events", "sqs"))
        ses.verify_email_identity(EmailAddress=SENDER)
        events.create_event_bus(Name=BUS)
        template = load_template(REPO / "template.yaml")
        patterns = {
            "first-arrival": template["Resources"]["FirstArrivalRule"]["Properties"]["EventPattern"],
            "all": {"source": ["facegate"]},
        }
        queues = {}
        for name, pattern in patterns.items():
            url = sqs.create_queue(QueueName=f"t-{name}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, EventBusName=BUS, Targets=[{"Id": name, "Arn": arn}])
            queues[name] = url
        services = Services(
            settings=settings,
            repo=DynamoRepository(clients.dynamodb, settings),
            audit=DynamoAuditLog(clients.dynamodb, settings),
            ephemeral=DynamoEphemeral(clients.dynamodb, settings),
            keys=KmsKeyService(clients.kms, settings.kms_key_id),
            engine=lambda: engine,
            idempotency=idempotency_store(clients.dynamodb, settings),
            clock=clock,
            policy=DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03))),
            mailer=SesMailer(ses, SENDER),
            events=EventBridgePublisher(events, BUS),
        )
        stack = make_stack(services)
        stack.create_site()
        yield Emulated(stack, services, sqs, ses, queues, settings.directory_table)
        use_services(None)


def host_invite(stack: Any, **extra: Any) -> dict[str, Any]:
    now = stack.clock()
    body = {
        "door_ids": [stack.door_id],
        "valid_from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_name": "Kim Visitor",
        **extra,
    }
    claims = {"sub": "host-1", "cognito:groups": "[hosts]", "custom:site_ids": stack.site_id, "email": HOST_EMAIL}
    response = stack.api.request("POST", f"/sites/{stack.site_id}/invites", json_body=body, claims=claims)
    assert response.status == 201, response.body
    invite: dict[str, Any] = response.json()
    return invite


def raw_items_holding(emulated: Emulated, text: str) -> list[dict[str, Any]]:
    """Every directory item whose stored form contains ``text`` anywhere."""
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.scan(TableName=emulated.directory_table)["Items"]
    return [item for item in items if text in json.dumps(item, default=str)]


def test_the_invite_mail_goes_through_ses_and_the_address_is_erased_with_the_invite(emulated: Emulated) -> None:
    # Given a host who invites a visitor with an e-mail
    invite = host_invite(emulated.stack, email=VISITOR_EMAIL)
    # Then SES accepted one message from the configured sender to the visitor, holding the link
    assert invite["email_sent"] is True
    (message,) = _ses_sent()
    assert message.source == SENDER and message.destinations["ToAddresses"] == [VISITOR_EMAIL]
    assert invite["registration_url"] in message.body
    # And the address is stored in the invite item only, which expires (TTL) with the invite's token item
    (stored,) = raw_items_holding(emulated, VISITOR_EMAIL)
    (token_item,) = [i for i in raw_items_holding(emulated, invite["invite_id"]) if i["sk"]["S"] == "TOKEN"]
    assert stored["sk"]["S"] == "INVITE" and stored["expires_at"] == token_item["expires_at"]

    # When the host erases the invite
    receipt = emulated.stack.admin("DELETE", f"/invites/{invite['invite_id']}").json()
    # Then the receipt names the e-mail, and no stored item holds the address or the sealed link any more
    assert "email" in receipt["items"]
    assert raw_items_holding(emulated, VISITOR_EMAIL) == []
    assert all("link_ct" not in item for item in raw_items_holding(emulated, invite["invite_id"]))


def test_an_unverified_sender_in_the_sandbox_does_not_fail_the_invite_and_resend_says_so(emulated: Emulated) -> None:
    # Given SES refusing the sender (not verified: what the SES sandbox does)
    emulated.ses.delete_identity(Identity=SENDER)
    # When an invite with an e-mail is created
    invite = host_invite(emulated.stack, email=VISITOR_EMAIL)
    # Then the invite exists and says the mail was not sent; a resend answers 503 delivery_failed
    assert invite["email_sent"] is False and _ses_sent() == []
    response = emulated.stack.admin("POST", f"/invites/{invite['invite_id']}/email")
    assert (response.status, response.error_code) == (503, "delivery_failed")
    # When the sender is verified again, Then the resend delivers the same link
    emulated.ses.verify_email_identity(EmailAddress=SENDER)
    response = emulated.stack.admin("POST", f"/invites/{invite['invite_id']}/email")
    assert response.status == 200 and invite["registration_url"] in _ses_sent()[0].body


def test_door_decisions_reach_the_bus_and_the_first_arrival_rule_feeds_the_host_notice(emulated: Emulated) -> None:
    # Given an enrolled visitor whose invite asked for an arrival notice
    stack = emulated.stack
    invite = host_invite(stack, email=VISITOR_EMAIL, notify_on_arrival=True)
    assert stack.consent(invite["token"]).status == 201
    assert stack.enroll(invite["token"], [b"a1", b"a2", b"a3"]).status == 201
    # When they pass the door twice
    answers = [stack.verify(b"a4").json() for _ in range(2)]
    assert [a["decision"] for a in answers] == ["grant", "grant"]
    # Then both decisions are on the bus (source facegate, detail-type door.decision), without any score
    every = _drain(emulated.sqs, emulated.queues["all"])
    assert sorted(e["detail"]["decision_id"] for e in every) == sorted(a["decision_id"] for a in answers)
    assert {(e["source"], e["detail-type"]) for e in every} == {("facegate", "door.decision")}
    assert all(not {"similarity", "threshold", "reason", "unlock_token"} & set(e["detail"]) for e in every)
    # And the template's first-arrival rule matched only the first grant
    (first,) = _drain(emulated.sqs, emulated.queues["first-arrival"])
    assert (first["detail"]["decision_id"], first["detail"]["invite_id"]) == (
        answers[0]["decision_id"],
        invite["invite_id"],
    )

    # When the NotifyHost function is invoked with that event, as EventBridge would
    use_services(emulated.services)
    handler = load_handler(REPO / "functions" / "notify_host" / "app.py").lambda_handler
    result = handler(first, LambdaContext("NotifyHostFunction"))
    # Then the host's arrival mail went out through SES
    assert result == {"notified": True}
    arrival = [m for m in _ses_sent() if m.destinations["ToAddresses"] == [HOST_EMAIL]]
    assert len(arrival) == 1 and "Kim Visitor" in arrival[0].body and "arrival" in arrival[0].body


def test_no_log_line_audit_record_or_event_holds_the_address_or_the_link(
    emulated: Emulated, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the whole delivery flow with logs captured at the deployed level (INFO; facegate's own loggers at
    # DEBUG): invite by e-mail, a failed resend, a grant
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="facegate")
    stack = emulated.stack
    invite = host_invite(stack, email=VISITOR_EMAIL, notify_on_arrival=True)
    assert stack.consent(invite["token"]).status == 201
    assert stack.enroll(invite["token"], [b"a1", b"a2", b"a3"]).status == 201
    emulated.ses.delete_identity(Identity=SENDER)
    refused = host_invite(stack, email="second@example.com")
    assert refused["email_sent"] is False
    assert stack.admin("POST", f"/invites/{invite['invite_id']}/email").status == 503
    assert stack.verify(b"a4").json()["decision"] == "grant"
    events = _drain(emulated.sqs, emulated.queues["all"])
    # Then neither the visitor's address nor the link (its token) is in any log line, metric line, audit
    # record or event (the address is only in the invite item, the link only in the mail)
    printed = capsys.readouterr()
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    audit = boto3.client("dynamodb", region_name=REGION).scan(TableName=emulated.services.settings.audit_table)
    for secret in (VISITOR_EMAIL, "second@example.com", invite["token"], refused["token"]):
        assert secret not in logged and secret not in printed.out and secret not in printed.err
        assert secret not in json.dumps(audit["Items"], default=str)
        assert secret not in json.dumps(events)
    assert any(record.getMessage() == "delivery failed" for record in caplog.records)
