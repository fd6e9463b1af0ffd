"""The console's APIs (issue 14) through the real Lambda handlers, behind the local gateway's JWT check,
over moto (DynamoDB tables from template.yaml, KMS, Cognito): kiosk pairing, host scoping, invite lists and
status, retirement, key rotation, hosts, and the audit view with names and its CSV export.

Faces come from the in-memory engine (``a1``-``a4`` are one person, ``b1`` another): these tests are about
the console's contract, not about matching.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from security_support import (
    FakeClock,
    Harness,
    Terminal,
    create_stores,
    kms_key,
    moto_aws,
    user_pool,
)

from facegate.adapters import memory
from facegate.adapters.cognito import CognitoDirectory
from facegate.adapters.dynamodb import (
    DynamoAuditLog,
    DynamoEphemeral,
    DynamoRepository,
    idempotency_store,
)
from facegate.adapters.kms import KmsKeyService
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.settings import Settings
from facegate.usecases.context import Services

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _engine() -> memory.MemoryFaceEngine:
    engine = memory.MemoryFaceEngine()
    rng = np.random.default_rng(7)
    alice, bob = rng.normal(size=128), rng.normal(size=128)
    for i in range(1, 5):
        engine.register(f"a{i}".encode(), (alice + 0.05 * rng.normal(size=128)).astype(np.float32))
    engine.register(b"b1", bob.astype(np.float32))
    return engine


@dataclass
class Console:
    """The API behind the gateway, a Cognito user pool with an admin, and a site with one door and terminal."""

    h: Harness
    clock: FakeClock
    cognito: Any
    pool_id: str
    admin_sub: str
    site_id: str = ""
    door_id: str = ""
    terminal: Terminal | None = None

    def admin_jwt(self) -> str:
        return self.h.issuer.token(self.admin_sub, ["admins"])

    def admin(self, method: str, path: str, json_body: Any = None, query: str = "") -> Any:
        return self.h.call(method, path, json_body=json_body, bearer=self.admin_jwt(), query=query)

    def host(self, site_ids: list[str], method: str, path: str, json_body: Any = None, query: str = "") -> Any:
        token = self.h.issuer.token("host-a", ["hosts"], site_ids)
        return self.h.call(method, path, json_body=json_body, bearer=token, query=query)

    def pair(self, code: str, source_ip: str = "198.51.100.7") -> Any:
        return self.h.call("POST", "/pair", json_body={"pairing_code": code}, source_ip=source_ip)

    def pairing_code(self, terminal_id: str | None = None) -> dict[str, Any]:
        assert self.terminal is not None
        terminal = terminal_id or self.terminal.terminal_id
        response = self.admin("POST", f"/sites/{self.site_id}/terminals/{terminal}/pairing")
        assert response.status == 201, response.body
        body: dict[str, Any] = response.json()
        return body

    def enrolled_invite(self) -> dict[str, Any]:
        made = self.admin("POST", f"/sites/{self.site_id}/invites", _invite_body(self))
        assert made.status == 201, made.body
        invite: dict[str, Any] = made.json()
        assert self.h.consent(invite["token"]).status == 201
        enrolled = self.h.enroll(invite["token"], [b"a1", b"a2", b"a3"])
        assert enrolled.status == 201, enrolled.body
        return invite


@pytest.fixture
def console() -> Iterator[Console]:
    with moto_aws() as clients:
        settings = create_stores(clients, Settings(aws_region="us-east-1"))
        settings = settings.with_overrides(kms_key_id=kms_key(clients))
        import boto3

        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        pool_id = user_pool(cognito)
        created = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username="ada@example.com",
            UserAttributes=[{"Name": "email", "Value": "ada@example.com"}, {"Name": "name", "Value": "Ada Admin"}],
            MessageAction="SUPPRESS",
        )["User"]
        admin_sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
        clock = FakeClock()
        services = Services(
            settings=settings.with_overrides(user_pool_id=pool_id),
            repo=DynamoRepository(clients.dynamodb, settings),
            audit=DynamoAuditLog(clients.dynamodb, settings),
            ephemeral=DynamoEphemeral(clients.dynamodb, settings),
            keys=KmsKeyService(clients.kms, settings.kms_key_id),
            engine=_engine,
            idempotency=idempotency_store(clients.dynamodb, settings),
            clock=clock,
            policy=DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03))),
            directory=CognitoDirectory(cognito, pool_id),
        )
        harness = Harness(default=services, clock=clock)
        world = Console(h=harness, clock=clock, cognito=cognito, pool_id=pool_id, admin_sub=admin_sub)
        world.site_id = harness.create_site("Sejong Complex")
        world.door_id = harness.create_door(world.site_id, "Main gate")["door_id"]
        world.terminal = harness.create_terminal(world.site_id, [world.door_id])
        yield world
        harness.close()


def _credentials(paired: dict[str, Any], site_id: str) -> Terminal:
    return Terminal(paired["terminal_id"], paired["key_id"], paired["secret"], site_id, paired["door_ids"])


# --------------------------------------------------------------------------------------- pairing


def test_a_pairing_code_is_single_use_and_gives_the_kiosk_working_credentials(console: Console) -> None:
    # Given an admin's pairing code for the terminal, and an enrolled visitor
    assert console.terminal is not None
    console.enrolled_invite()
    issued = console.pairing_code()
    assert issued["pairing_url"].endswith(f"/kiosk?pair={issued['pairing_code']}")
    # When the kiosk trades the code (typed in lower case, without hyphens)
    paired = console.pair(issued["pairing_code"].replace("-", "").lower())
    # Then it gets the terminal's fresh credentials and the API's URL, once
    assert paired.status == 200, paired.body
    body = paired.json()
    assert set(body) == {"terminal_id", "key_id", "secret", "door_ids", "api_url"}
    assert body["terminal_id"] == console.terminal.terminal_id and body["door_ids"] == [console.door_id]
    assert body["key_id"] != console.terminal.key_id and body["api_url"].startswith("https://")
    again = console.pair(issued["pairing_code"])
    assert (again.status, again.error_code) == (404, "pairing_code_invalid")
    # And the new credentials open the door while the typed-in secret of before stops working
    granted = console.h.verify(_credentials(body, console.site_id), console.door_id, b"a4")
    assert granted.status == 200 and granted.json()["decision"] == "grant", granted.body
    old = console.h.verify(console.terminal, console.door_id, b"a4")
    assert (old.status, old.error_code) == (401, "unknown_key")
    # And the terminal list shows when it was paired, never a secret
    listed = console.admin("GET", f"/sites/{console.site_id}/terminals").json()["items"]
    assert listed[0]["paired_at"] is not None and listed[0]["key_id"] == body["key_id"]
    assert "secret" not in listed[0]
    # And both steps are audited
    events = [item["event"] for item in console.admin("GET", f"/sites/{console.site_id}/audit").json()["items"]]
    assert "pairing_issued" in events and "terminal_paired" in events


def test_a_pairing_code_expires_after_ten_minutes(console: Console) -> None:
    # Given two codes issued now
    first, second = console.pairing_code(), console.pairing_code()
    assert first["pairing_code"] != second["pairing_code"]
    # When 599 seconds pass, Then the first still pairs
    console.clock.advance(599)
    assert console.pair(first["pairing_code"]).status == 200
    # When two more seconds pass, Then the second has expired
    console.clock.advance(2)
    late = console.pair(second["pairing_code"])
    assert (late.status, late.error_code) == (404, "pairing_code_invalid")


def test_pairing_is_throttled_per_address_block(console: Console) -> None:
    # Given ten invalid codes from one address
    for _ in range(10):
        wrong = console.pair("AAAA-BBBB-CCCC", source_ip="203.0.113.50")
        assert wrong.status in (404, 429)
    # When that address sends a valid code, Then it is throttled before any lookup
    issued = console.pairing_code()
    blocked = console.pair(issued["pairing_code"], source_ip="203.0.113.50")
    assert blocked.status == 429 and int(blocked.headers["retry-after"]) >= 1
    # And another address is not throttled by it
    elsewhere = console.pair("AAAA-BBBB-CCCC", source_ip="203.0.113.51")
    assert (elsewhere.status, elsewhere.error_code) == (404, "pairing_code_invalid")
    # When the block has passed, Then the (unused) code still pairs
    console.clock.advance(61)
    assert console.pair(issued["pairing_code"], source_ip="203.0.113.50").status == 200


def test_rotation_gives_a_new_secret_and_ends_the_old_key(console: Console) -> None:
    # Given a terminal with working credentials
    assert console.terminal is not None
    console.enrolled_invite()
    # When an admin rotates its key
    rotated = console.admin("POST", f"/sites/{console.site_id}/terminals/{console.terminal.terminal_id}/rotate")
    # Then a new key id and secret come back once, the new one works and the old one is refused
    assert rotated.status == 200, rotated.body
    body = rotated.json()
    assert body["key_id"] != console.terminal.key_id and body["secret"] != console.terminal.secret
    fresh = Terminal(body["terminal_id"], body["key_id"], body["secret"], console.site_id, body["door_ids"])
    assert console.h.verify(fresh, console.door_id, b"a4").json()["decision"] == "grant"
    assert console.h.verify(console.terminal, console.door_id, b"a4").error_code == "unknown_key"
    # And a revoked terminal can neither be rotated nor paired
    assert console.admin("DELETE", f"/terminals/{console.terminal.terminal_id}").status == 200
    again = console.admin("POST", f"/sites/{console.site_id}/terminals/{console.terminal.terminal_id}/rotate")
    assert (again.status, again.error_code) == (409, "terminal_revoked")
    code = console.admin("POST", f"/sites/{console.site_id}/terminals/{console.terminal.terminal_id}/pairing")
    assert (code.status, code.error_code) == (409, "terminal_revoked")


# --------------------------------------------------------------------------------------- invites and hosts


def test_invite_status_follows_the_visitor_to_arrived(console: Console) -> None:
    # Given an invite made by a host of the site
    host = console.host([console.site_id], "POST", f"/sites/{console.site_id}/invites", _invite_body(console))
    assert host.status == 201, host.body
    invite = host.json()
    path = f"/invites/{invite['invite_id']}"

    def status() -> str:
        return str(console.host([console.site_id], "GET", path).json()["status"])

    # Then it goes invited -> consented -> enrolled
    assert status() == "invited"
    assert console.h.consent(invite["token"]).status == 201
    assert status() == "consented"
    assert console.h.enroll(invite["token"], [b"a1", b"a2", b"a3"]).status == 201
    assert status() == "enrolled"
    # When the visitor is granted at the door, Then it is arrived, with the time of the first grant only
    assert console.h.verify(console.terminal, console.door_id, b"a4").json()["decision"] == "grant"  # type: ignore[arg-type]
    first = console.host([console.site_id], "GET", path).json()
    assert first["status"] == "arrived" and first["arrived_at"] is not None
    console.clock.advance(120)
    assert console.h.verify(console.terminal, console.door_id, b"a4").json()["decision"] == "grant"  # type: ignore[arg-type]
    assert console.host([console.site_id], "GET", path).json()["arrived_at"] == first["arrived_at"]
    # And the host can show the link again, until the invite is cancelled
    assert first["registration_url"] == invite["registration_url"]
    assert console.host([console.site_id], "DELETE", path).status == 200
    cancelled = console.host([console.site_id], "GET", path).json()
    assert cancelled["status"] == "erased" and cancelled["registration_url"] is None


def _invite_body(console: Console, hours: float = 4) -> dict[str, Any]:
    now = console.clock()
    return {
        "door_ids": [console.door_id],
        "valid_from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_name": "Visitor",
    }


def test_invite_lists_page_newest_first_and_filter_by_status(console: Console) -> None:
    # Given seven invites a second apart, one of them consented
    made = []
    for _ in range(7):
        made.append(console.h.invite(console.site_id, [console.door_id])["invite_id"])
        console.clock.advance(1)
    by_ada = console.admin("POST", f"/sites/{console.site_id}/invites", _invite_body(console)).json()
    assert console.h.consent(by_ada["token"]).status == 201
    console.clock.advance(1)
    # When they are listed three at a time
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = "limit=3" + (f"&next_token={token}" if token else "")
        page = console.host([console.site_id], "GET", f"/sites/{console.site_id}/invites", query=query).json()
        seen += [item["invite_id"] for item in page["items"]]
        pages += 1
        token = page["next_token"]
        if token is None:
            break
    # Then every invite comes exactly once, newest first, in three pages
    assert pages == 3 and len(seen) == 8 and len(set(seen)) == 8
    assert seen[1:] == list(reversed(made))
    # And the status filter keeps only the consented one; a forged cursor is refused
    only = console.admin("GET", f"/sites/{console.site_id}/invites", query="status=consented").json()["items"]
    assert [item["status"] for item in only] == ["consented"] and only[0]["created_by_name"] == "Ada Admin"
    bad = console.admin("GET", f"/sites/{console.site_id}/invites", query="next_token=bm9wZQ")
    assert (bad.status, bad.error_code) == (400, "invalid_request")


def test_a_host_sees_only_their_own_sites(console: Console) -> None:
    # Given a second site with an invite, and a host of the first site only
    other = console.h.create_site("Annex")
    other_door = console.h.create_door(other)["door_id"]
    other_invite = console.h.invite(other, [other_door])
    # When the host lists sites, Then only their site is there; an admin sees both
    mine = console.host([console.site_id], "GET", "/sites").json()["items"]
    assert [site["site_id"] for site in mine] == [console.site_id]
    everything = console.admin("GET", "/sites").json()["items"]
    assert {site["site_id"] for site in everything} == {console.site_id, other}
    # And the other site, its doors and its invites are refused; its invite is not even confirmed to exist
    for path in (f"/sites/{other}", f"/sites/{other}/doors", f"/sites/{other}/invites"):
        refused = console.host([console.site_id], "GET", path)
        assert (refused.status, refused.error_code) == (403, "site_not_allowed"), path
    hidden = console.host([console.site_id], "GET", f"/invites/{other_invite['invite_id']}")
    assert (hidden.status, hidden.error_code) == (404, "not_found")
    # And admin-only lists stay admin-only
    terminals = console.host([console.site_id], "GET", f"/sites/{console.site_id}/terminals")
    assert (terminals.status, terminals.error_code) == (403, "forbidden")
    # And /me says who is asking
    me = console.host([console.site_id], "GET", "/me").json()
    assert (me["role"], me["site_ids"]) == ("host", [console.site_id])
    assert console.admin("GET", "/me").json()["site_ids"] is None


def test_hosts_are_created_listed_and_disabled_in_the_user_pool(console: Console) -> None:
    # When an admin creates a host of the site
    created = console.admin(
        "POST", "/hosts", {"email": "hana@example.com", "name": "Hana Host", "site_ids": [console.site_id]}
    )
    # Then the user exists in the pool's hosts group with the site, and a temporary password comes back once
    assert created.status == 201, created.body
    host = created.json()
    assert host["enabled"] is True and host["site_ids"] == [console.site_id]
    assert len(host["temporary_password"]) >= 12
    groups = console.cognito.admin_list_groups_for_user(UserPoolId=console.pool_id, Username=host["username"])
    assert [g["GroupName"] for g in groups["Groups"]] == ["hosts"]
    # And the same e-mail twice, or an unknown site, is refused with a stable code
    twice = console.admin("POST", "/hosts", {"email": "hana@example.com", "name": "H", "site_ids": [console.site_id]})
    assert (twice.status, twice.error_code) == (409, "host_exists")
    unknown = console.admin("POST", "/hosts", {"email": "x@example.com", "name": "X", "site_ids": ["site_nope"]})
    assert (unknown.status, unknown.error_code) == (400, "unknown_site")
    # When the admin lists and then disables the host
    listed = console.admin("GET", "/hosts").json()["items"]
    assert [(h["email"], h["enabled"]) for h in listed] == [("hana@example.com", True)]
    disabled = console.admin("DELETE", f"/hosts/{host['username']}")
    # Then the user is disabled in the pool; an unknown user is 404
    assert disabled.status == 200 and disabled.json()["enabled"] is False
    assert console.cognito.admin_get_user(UserPoolId=console.pool_id, Username=host["username"])["Enabled"] is False
    assert console.admin("DELETE", "/hosts/no-such-user").status == 404


def test_a_retired_site_takes_nothing_new_and_its_doors_deny(console: Console) -> None:
    # Given an enrolled visitor at a second door, which is then retired
    assert console.terminal is not None
    side = console.h.create_door(console.site_id, "Side door")["door_id"]
    both = console.h.create_terminal(console.site_id, [console.door_id, side])
    console.enrolled_invite()
    retired_door = console.admin("DELETE", f"/sites/{console.site_id}/doors/{side}")
    assert retired_door.status == 200 and retired_door.json()["retired_at"] is not None
    # Then that door refuses at once and invites can no longer name it
    assert console.h.verify(both, side, b"a4").error_code == "door_retired"
    refused = console.admin("POST", f"/sites/{console.site_id}/invites", {**_invite_body(console), "door_ids": [side]})
    assert (refused.status, refused.error_code) == (400, "unknown_door")
    # When the site is retired
    retired = console.admin("DELETE", f"/sites/{console.site_id}")
    assert retired.status == 200 and retired.json()["retired_at"] is not None
    # Then nothing new can be made there, and its doors refuse
    for path, body in (
        (f"/sites/{console.site_id}/doors", {"name": "New"}),
        (f"/sites/{console.site_id}/terminals", {"name": "k", "door_ids": [console.door_id]}),
        (f"/sites/{console.site_id}/invites", _invite_body(console)),
        (f"/sites/{console.site_id}/terminals/{console.terminal.terminal_id}/pairing", None),
    ):
        answer = console.admin("POST", path, body)
        assert (answer.status, answer.error_code) == (409, "site_retired"), path
    assert console.h.verify(console.terminal, console.door_id, b"a4").error_code == "site_retired"
    # And the retirement is audited and visible in the lists
    events = {item["event"] for item in console.admin("GET", f"/sites/{console.site_id}/audit").json()["items"]}
    assert {"door_retired", "site_retired"} <= events
    assert console.admin("GET", "/sites").json()["items"][0]["retired_at"] is not None


# --------------------------------------------------------------------------------------- audit


def test_audit_filters_names_and_a_formula_safe_csv(console: Console) -> None:
    # Given a terminal whose name looks like a spreadsheet formula, a grant and a deny at the door
    formula = console.admin(
        "POST", f"/sites/{console.site_id}/terminals", {"name": "=HYPERLINK(1)", "door_ids": [console.door_id]}
    ).json()
    kiosk = Terminal(formula["terminal_id"], formula["key_id"], formula["secret"], console.site_id, [console.door_id])
    console.enrolled_invite()
    assert console.h.verify(kiosk, console.door_id, b"a4").json()["decision"] == "grant"
    console.clock.advance(1)
    assert console.h.verify(kiosk, console.door_id, b"b1").json()["decision"] == "deny"
    audit = f"/sites/{console.site_id}/audit"
    # When the audit is filtered by decision, door and event
    grants = console.admin("GET", audit, query="decision=grant").json()["items"]
    denies = console.admin("GET", audit, query=f"decision=deny&door_id={console.door_id}").json()["items"]
    invites = console.admin("GET", audit, query="event=invite").json()["items"]
    nothing = console.admin("GET", audit, query="door_id=door_other").json()["items"]
    # Then only matching records come back, with names where known
    assert [item["decision"] for item in grants] == ["grant"] and [d["decision"] for d in denies] == ["deny"]
    assert grants[0]["actor_name"] == "=HYPERLINK(1)"
    assert [item["event"] for item in invites] == ["invite"] and invites[0]["actor_name"] == "Ada Admin"
    assert nothing == []
    assert console.admin("GET", audit, query="event=nonsense").status == 400
    # When the same view is exported as CSV
    export = console.admin("GET", f"{audit}/csv", query="event=verify")
    # Then it is an attachment of parseable CSV with the same rows, and no cell starts a formula
    assert export.status == 200, export.body
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(export.body.decode())))
    assert [row["decision"] for row in rows] == ["grant", "deny"]
    assert rows[0]["actor_name"] == "'=HYPERLINK(1)"
    text_cells = [cell for row in rows for cell in row.values() if not _is_number(cell)]
    assert text_cells and all(not cell.startswith(("=", "+", "-", "@")) for cell in text_cells)
    # And hosts cannot export
    host = console.host([console.site_id], "GET", f"{audit}/csv")
    assert (host.status, host.error_code) == (403, "forbidden")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
