"""The console's rules in isolation (issue 14): the invite status function, pairing codes, formula-safe CSV
cells and cursor pagination; pairing use cases over the in-memory adapters with an injected clock."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from facegate.adapters import memory
from facegate.domain.invite_status import InviteStatus, invite_status
from facegate.domain.models import AuditFilter, AuditKind, Consent, Invite
from facegate.errors import Conflict, InvalidRequest, NotFound, RateLimited
from facegate.usecases import admin, console, pairing
from facegate.usecases.context import Principal, Services

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ADMIN = Principal(subject="admin-1", groups=frozenset({"admins"}))


def invite(**changes: Any) -> Invite:
    base = Invite(
        invite_id="inv_1",
        site_id="site_a",
        door_ids=("door_1",),
        valid_from=T0,
        valid_until=T0 + timedelta(hours=4),
        token_hash="h",
        created_at=T0 - timedelta(hours=1),
        created_by="host-1",
    )
    return replace(base, **changes)


# --------------------------------------------------------------------------------------- invite status

CONSENT = Consent(version="v1", accepted_at=T0)
DURING, AFTER = T0 + timedelta(hours=1), T0 + timedelta(hours=5)


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        ({}, DURING, InviteStatus.INVITED),
        ({"consent": CONSENT}, DURING, InviteStatus.CONSENTED),
        ({"consent": CONSENT, "enrolled_at": T0}, DURING, InviteStatus.ENROLLED),
        ({"consent": CONSENT, "enrolled_at": T0, "arrived_at": DURING}, DURING, InviteStatus.ARRIVED),
        ({"consent": CONSENT, "enrolled_at": T0}, AFTER, InviteStatus.EXPIRED),
        ({}, AFTER, InviteStatus.EXPIRED),
        ({"erased_at": T0}, DURING, InviteStatus.ERASED),
        ({"revoked_at": T0, "erased_at": T0}, DURING, InviteStatus.ERASED),
        # precedence: a cancelled invite is erased whatever happened before; an arrival outlives the window;
        # consent given again after a visitor's own erasure counts
        ({"arrived_at": DURING, "revoked_at": AFTER, "erased_at": AFTER}, AFTER, InviteStatus.ERASED),
        ({"arrived_at": DURING}, AFTER, InviteStatus.ARRIVED),
        ({"erased_at": T0, "consent": CONSENT}, DURING, InviteStatus.CONSENTED),
        ({"revoked_at": T0}, AFTER, InviteStatus.ERASED),
    ],
)
def test_invite_status(changes: dict[str, Any], now: datetime, expected: InviteStatus) -> None:
    # Given an invite in some state, When its status is derived at `now`, Then it is the documented one
    assert invite_status(invite(**changes), now) is expected


def test_the_window_end_itself_is_expired() -> None:
    # Given an invite whose window ends exactly now, Then it is expired (windows are [from, until))
    assert invite_status(invite(), T0 + timedelta(hours=4)) is InviteStatus.EXPIRED
    assert invite_status(invite(), T0 + timedelta(hours=4) - timedelta(seconds=1)) is InviteStatus.INVITED


# --------------------------------------------------------------------------------------- pairing codes


def test_pairing_codes_are_grouped_crockford_base32() -> None:
    # When many codes are made, Then each is XXXX-XXXX-XXXX of the alphabet and they differ
    codes = {pairing.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4] and all(c in pairing.ALPHABET for c in "".join(groups))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCD-EFGH-JKMN", "ABCDEFGHJKMN"),
        ("abcd efgh jkmn", "ABCDEFGHJKMN"),
        ("0O1I-L000-1111", "001110001111"),
        ("ABCD-EFGH-JKM", None),
        ("ABCD-EFGH-JKMNP", None),
        ("ABCD-EFGH-JKMU", None),
        ("", None),
        ("A" * 65, None),
    ],
)
def test_typed_codes_are_normalised_or_refused(typed: str, expected: str | None) -> None:
    # Given what a person typed, Then it reads as the code (or as no code at all)
    assert pairing.normalize_code(typed) == expected


# --------------------------------------------------------------------------------------- CSV and pages


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("Lobby kiosk", "Lobby kiosk"),
        (-0.25, "-0.25"),
        (3, "3"),
        (None, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    # Given a value from an audit record, Then its cell cannot run as a spreadsheet formula
    assert console.csv_cell(value) == cell


def test_csv_cells_survive_quoting() -> None:
    # Given cells with commas, quotes and line breaks, When written and read back, Then they are intact
    cells = [console.csv_cell(v) for v in ("a,b", 'say "hi"', "two\nlines", "=1+1")]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    assert next(csv.reader(io.StringIO(out.getvalue()))) == cells


def test_pages_follow_the_cursor_without_repeats_or_gaps() -> None:
    # Given 11 items, When paged by 4
    items = [f"item{n:02d}" for n in range(11)]
    seen: list[str] = []
    cursor = None
    while True:
        page = console.paginate(reversed(items), lambda item: item, 4, cursor)
        seen += page.items
        cursor = page.next_token
        if cursor is None:
            break
    # Then each item comes once in key order; a cursor that does not decode is refused
    assert seen == items
    with pytest.raises(InvalidRequest):
        console.paginate(items, lambda item: item, 4, "%%%")


# --------------------------------------------------------------------------------------- pairing rules


@pytest.fixture
def world(memory_services: Callable[..., Services], clock: Any) -> tuple[Services, str, str]:
    services = memory_services(memory.MemoryFaceEngine(), clock)
    site = admin.create_site(services, ADMIN, "HQ", "Asia/Seoul")
    door = admin.create_door(services, ADMIN, site.site_id, "Gate")
    terminal = admin.create_terminal(services, ADMIN, site.site_id, "Kiosk", [door.door.door_id])
    return services, site.site_id, terminal.terminal.terminal_id


def test_a_code_pairs_once(world: tuple[Services, str, str]) -> None:
    # Given a code for a terminal
    services, site_id, terminal_id = world
    issued = pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")
    before = services.repo.get_terminal(terminal_id)
    # When it is used, Then the terminal gets a new key, and only the hash of the code was ever stored
    paired = pairing.pair(services, issued.pairing_code, "198.51.100.1", "https://api.example")
    assert before is not None and paired.terminal.key_id != before.key_id
    assert paired.terminal.paired_at == services.clock() and paired.api_url == "https://api.example"
    ephemeral = services.ephemeral
    assert isinstance(ephemeral, memory.MemoryEphemeral)
    assert issued.pairing_code.replace("-", "") not in repr(ephemeral.pairings)
    # When it is used again, Then it is invalid
    with pytest.raises(NotFound) as again:
        pairing.pair(services, issued.pairing_code, "198.51.100.1", "https://api.example")
    assert again.value.code == "pairing_code_invalid"


def test_a_code_expires_at_its_time(world: tuple[Services, str, str], clock: Any) -> None:
    # Given a code, When its ten minutes have passed, Then it is invalid
    services, site_id, terminal_id = world
    issued = pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")
    assert issued.expires_at == clock() + timedelta(seconds=600)
    clock.advance(600)
    with pytest.raises(NotFound):
        pairing.pair(services, issued.pairing_code, "198.51.100.1", "https://api.example")


def test_the_ttl_setting_cannot_exceed_ten_minutes(world: tuple[Services, str, str], clock: Any) -> None:
    # Given a deployment that asks for an hour, Then codes still end after ten minutes
    services, site_id, terminal_id = world
    services.settings = services.settings.with_overrides(pairing_code_ttl_seconds=3600)
    issued = pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")
    assert issued.expires_at - clock() == timedelta(seconds=600)


def test_a_terminal_revoked_after_issue_cannot_be_paired(world: tuple[Services, str, str]) -> None:
    # Given a code, When the terminal is revoked before the kiosk uses it, Then the code is invalid
    services, site_id, terminal_id = world
    issued = pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")
    admin.revoke_terminal(services, ADMIN, terminal_id)
    with pytest.raises(NotFound):
        pairing.pair(services, issued.pairing_code, "198.51.100.1", "https://api.example")
    # And no new code is issued for it
    with pytest.raises(Conflict):
        pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")


def test_invalid_codes_are_throttled_per_ipv6_64(world: tuple[Services, str, str], clock: Any) -> None:
    # Given ten invalid codes from addresses of one IPv6 /64
    services, site_id, terminal_id = world
    for n in range(10):
        with pytest.raises(NotFound):
            pairing.pair(services, "ZZZZ-ZZZZ-ZZZZ", f"2001:db8:1:2::{n + 1:x}", "https://api.example")
    # When another address of that /64 tries, Then it is throttled; another /64 is not
    issued = pairing.issue_pairing(services, ADMIN, site_id, terminal_id, "https://api.example")
    with pytest.raises(RateLimited):
        pairing.pair(services, issued.pairing_code, "2001:db8:1:2::99", "https://api.example")
    assert pairing.pair(services, issued.pairing_code, "2001:db8:1:3::1", "https://api.example").secret


def test_only_admins_issue_codes(world: tuple[Services, str, str]) -> None:
    # Given a host of the site, When they ask for a pairing code, Then it is forbidden
    services, site_id, terminal_id = world
    host = Principal(subject="host-1", groups=frozenset({"hosts"}), site_ids=frozenset({site_id}))
    with pytest.raises(Exception) as refused:
        pairing.issue_pairing(services, host, site_id, terminal_id, "https://api.example")
    assert getattr(refused.value, "code", None) == "forbidden"


def test_a_csv_export_spans_pages_and_says_when_it_was_cut(
    world: tuple[Services, str, str], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given seven audited invites on the site, exported two records per page with room for five rows
    services, site_id, _ = world
    for _ in range(7):
        admin.create_invite(services, ADMIN, site_id, _doors(services, site_id), clock(), clock() + timedelta(hours=1))
        clock.advance(1)
    monkeypatch.setattr(console, "CSV_PAGE", 2)
    monkeypatch.setattr(console, "CSV_MAX_ROWS", 5)
    # When exported
    invites = admin.AuditSelection(site_id, filters=AuditFilter(kind=AuditKind.INVITE))
    export = console.audit_csv(services, ADMIN, invites)
    # Then five rows in time order come out, and the export says it was cut
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert export.rows == 5 and export.truncated and [r["event"] for r in rows] == ["invite"] * 5
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    # And with room for all of them it is not cut
    monkeypatch.setattr(console, "CSV_MAX_ROWS", 100)
    whole = console.audit_csv(services, ADMIN, invites)
    assert whole.rows == 7 and not whole.truncated


def _doors(services: Services, site_id: str) -> list[str]:
    return [door.door_id for door in services.repo.list_doors(site_id)]
