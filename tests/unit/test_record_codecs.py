"""One definition per record: the DynamoDB items and the API bodies follow the domain dataclasses' fields,
and items in the stored format written before the generic codec read back unchanged."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from facegate.adapters.dynamodb.codecs import (
    SERIALIZER,
    decode,
    door_item,
    invite_item,
    invite_of,
    record_of,
    site_item,
    site_of,
    template_item_of,
    template_of,
    terminal_item,
    terminal_of,
)
from facegate.api.schemas import (
    AuditItem,
    ConsentOut,
    DoorSummary,
    ErasureOut,
    QualityOut,
    SiteSummary,
    StatusOut,
    TerminalSummary,
)
from facegate.domain.models import (
    AuditKind,
    AuditRecord,
    Consent,
    Door,
    ErasureReceipt,
    SecurityLevel,
    Site,
    StoredTemplate,
    Terminal,
)
from facegate.usecases.visitor import VisitorStatus
from facegate.vision.types import QualityReport

AT = datetime(2026, 11, 28, 9, 0, 0, 120000, tzinfo=UTC)
AT_TEXT = "2026-11-28T09:00:00.120000Z"


def item_of(kind: str, object_id: str, pk: str, list_pk: str, values: dict[str, Any]) -> dict[str, Any]:
    """A listed directory item as the hand-written codecs wrote it: keys, ``kind``, then ``values``."""
    keys = {"pk": pk, "sk": kind.upper(), "list_pk": list_pk, "list_sk": f"{AT_TEXT}#{object_id}", "kind": kind}
    return {name: SERIALIZER.serialize(value) for name, value in {**keys, **values}.items()}


def test_a_site_item_in_the_stored_format_reads_back_and_is_written_the_same() -> None:
    # Given a site item as the hand-written codec stored it (no template_version: an older item)
    stored = item_of(
        "site",
        "s1",
        "SITE#s1",
        "SITES",
        {
            "site_id": "s1",
            "name": "HQ",
            "timezone": "Asia/Seoul",
            "created_at": AT_TEXT,
            "data_key_blob": b"blob",
            "security_level": "high",
        },
    )
    # When it is read
    site = site_of(decode(stored))
    # Then every field is typed, the missing one takes its default, and writing it gives the same item back
    assert site == Site("s1", "HQ", "Asia/Seoul", AT, b"blob", SecurityLevel.HIGH, template_version=0)
    assert site_item(site) == {**stored, "template_version": {"N": "0"}}


def test_an_invite_item_in_the_stored_format_reads_back_with_its_flattened_consent() -> None:
    # Given an invite item as put_invite stored it, with a consent and an enrollment
    stored = item_of(
        "invite",
        "i1",
        "INVITE#i1",
        "SITE#s1#INVITES",
        {
            "invite_id": "i1",
            "site_id": "s1",
            "door_ids": ["d1", "d2"],
            "valid_from": AT_TEXT,
            "valid_until": "2026-11-28T18:00:00.000000Z",
            "token_hash": "ab" * 32,
            "created_at": AT_TEXT,
            "created_by": "host-sub",
            "display_name": "Kim",
            "consent_version": "2026-11",
            "consent_at": AT_TEXT,
            "enrolled_at": AT_TEXT,
            "claim_code_ct": b"sealed",
            "notify_on_arrival": True,
            "rev": Decimal(0),
            "expires_at": Decimal(1_800_000_000),
        },
    )
    # When it is read and written again
    invite = invite_of(decode(stored))
    again = invite_item(invite, 1_800_000_000)
    # Then the record has every field (tuples, times, bytes, the nested consent) and the item is the same
    assert invite.door_ids == ("d1", "d2") and invite.valid_until == datetime(2026, 11, 28, 18, tzinfo=UTC)
    assert invite.consent == Consent("2026-11", AT) and invite.claim_code_ct == b"sealed"
    assert invite.notify_on_arrival is True and invite.email is None
    assert again == stored


def test_doors_terminals_and_templates_round_trip() -> None:
    # Given one record of each with optional fields set and unset
    door = Door("d1", "s1", "Front", AT, b"key", retired_at=AT + timedelta(days=1))
    terminal = Terminal("t1", "s1", "Lobby", ("d1",), "k1", b"secret", AT, paired_at=AT)
    template = StoredTemplate(
        site_id="s1",
        visitor_id="v1",
        ciphertext=b"ct",
        model_id="sface-int8",
        n_images=3,
        door_ids=("d1",),
        valid_from=AT,
        valid_until=AT + timedelta(hours=2),
        claim_hash="h",
        enrolled_at=AT,
    )
    # When each is written and read back
    # Then it is the same record
    assert record_of(Door, decode(door_item(door))) == door
    assert terminal_of(decode(terminal_item(terminal, "KEY#k1", "KEY"))) == terminal
    assert template_of(decode(template_item_of(template, 99))) == template
    # And the stored format keeps its conventions: fixed-width times, lists, no attribute for None or False
    item = terminal_item(terminal, "TERMINAL#t1", "TERMINAL")
    assert item["created_at"] == {"S": AT_TEXT} and item["door_ids"] == {"L": [{"S": "d1"}]}
    assert "revoked_at" not in item and "attests_liveness" not in item


def test_a_missing_required_field_is_an_error() -> None:
    # Given a door item without its name
    values = decode(door_item(Door("d1", "s1", "Front", AT, b"key")))
    del values["name"]
    # When it is read, Then the missing field is named
    with pytest.raises(KeyError, match="name"):
        record_of(Door, values)


@pytest.mark.parametrize(
    ("schema", "record", "body_only"),
    [
        (AuditItem, AuditRecord, {"actor_name"}),
        (QualityOut, QualityReport, {"ok"}),
        (SiteSummary, Site, set()),
        (DoorSummary, Door, set()),
        (TerminalSummary, Terminal, set()),
        (StatusOut, VisitorStatus, set()),
        (ErasureOut, ErasureReceipt, set()),
        (ConsentOut, Consent, set()),
    ],
)
def test_api_bodies_take_their_fields_from_the_record(schema: Any, record: type[Any], body_only: set[str]) -> None:
    # Given an API body built from a domain record
    record_keys = {key for _, key in schema.record_fields}
    # Then its fields are the record's (as named in the body) plus the body's own computed ones
    assert set(schema.model_fields) == record_keys | body_only
    assert {name for name, _ in schema.record_fields} <= {f.name for f in dataclasses.fields(record)}


def test_an_audit_body_is_made_from_the_record() -> None:
    # Given an audit record
    record = AuditRecord(
        "s1", "e1", AuditKind.VERIFY, AT, AT, "t1", door_id="d1", similarity=0.5, details={"liveness": "challenge"}
    )
    # When its body is made
    body = AuditItem.of(record, actor_name="Lobby kiosk").model_dump(mode="json")
    # Then the enum is its value, the kind is called event, and nothing internal is in it
    assert body["event"] == "verify" and body["door_id"] == "d1" and body["similarity"] == 0.5
    assert body["details"] == {"liveness": "challenge"} and body["actor_name"] == "Lobby kiosk"
    assert "site_id" not in body and "expires_at" not in body
