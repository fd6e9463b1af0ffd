"""One contract, three stores: the Repository / AuditLog / Ephemeral ports (plus the KMS key service and
the idempotency store) against the in-memory adapters, moto and DynamoDB Local.

Tables are created from ``template.yaml`` (see ``conftest.py``). Tests that look at DynamoDB itself
(TTL attributes, pagination, throttling) skip the memory backend with the reason.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from security_support import scan_table, user_pool

from facegate.adapters import memory
from facegate.adapters.dynamodb import MAX_ATTEMPTS, AwsClients
from facegate.adapters.kms import KmsKeyService
from facegate.api.errors import response_for
from facegate.api.idempotency import run_once
from facegate.domain.models import (
    AuditFilter,
    AuditKind,
    AuditQuery,
    AuditRecord,
    Consent,
    Door,
    HostUser,
    Invite,
    PairingCode,
    SecurityLevel,
    Site,
    SiteChanges,
    StoredTemplate,
    Terminal,
)
from facegate.errors import Conflict, Gone, InvalidRequest, NotFound, ServiceUnavailable
from facegate.ports import KeyService
from facegate.security.envelope import DecryptionFailed
from facegate.settings import Settings
from facegate_tools.local.aws import create_tables, load_template, routes, table_specs

if TYPE_CHECKING:
    from conftest import Backend

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
CONSENT = "notice-v1"


# --------------------------------------------------------------------------------------- builders


def make_site(site_id: str = "site_a", version: int = 0) -> Site:
    return Site(
        site_id=site_id,
        name=f"Site {site_id}",
        timezone="Asia/Seoul",
        created_at=T0,
        data_key_blob=b"\x01" * 40,
        security_level=SecurityLevel.HIGH,
        template_version=version,
    )


def make_invite(invite_id: str, site_id: str = "site_a", display_name: str | None = "Visitor") -> Invite:
    return Invite(
        invite_id=invite_id,
        site_id=site_id,
        door_ids=("door_1", "door_2"),
        valid_from=T0,
        valid_until=T0 + timedelta(hours=8),
        token_hash=f"hash-of-{invite_id}",
        created_at=T0 - timedelta(hours=1),
        created_by="host-sub",
        display_name=display_name,
    )


def make_template(invite: Invite, size: int = 540, model_id: str = "model-x") -> StoredTemplate:
    return StoredTemplate(
        site_id=invite.site_id,
        visitor_id=invite.invite_id,
        ciphertext=os.urandom(size),
        model_id=model_id,
        n_images=3,
        door_ids=invite.door_ids,
        valid_from=invite.valid_from,
        valid_until=invite.valid_until,
        claim_hash="c" * 64,
        enrolled_at=T0 + timedelta(minutes=5),
    )


def make_terminal(terminal_id: str = "term_1", key_id: str = "key_1") -> Terminal:
    return Terminal(
        terminal_id=terminal_id,
        site_id="site_a",
        name="Lobby kiosk",
        door_ids=("door_1",),
        key_id=key_id,
        secret_blob=b"\x02" * 60,
        created_at=T0,
    )


def consented(backend: Backend, invite_id: str, site_id: str = "site_a") -> Invite:
    """A stored invite with consent given."""
    repo = backend.services.repo
    repo.put_invite(make_invite(invite_id, site_id))
    return repo.record_consent(invite_id, Consent(version=CONSENT, accepted_at=T0 + timedelta(minutes=1)))


def stored_templates(backend: Backend, site_id: str = "site_a") -> dict[str, StoredTemplate]:
    return {template.visitor_id: template for template in backend.services.repo.list_templates(site_id)}


def require_dynamodb(backend: Backend) -> None:
    if not backend.is_dynamodb:
        pytest.skip("looks at DynamoDB itself; the memory adapter has no such layer")


# --------------------------------------------------------------------------------------- directory


def test_sites_are_created_once_and_carry_a_template_version(backend: Backend) -> None:
    # Given an empty store
    repo = backend.services.repo
    site = make_site()
    # When a site is stored
    repo.put_site(site)
    # Then it reads back equal, its version is 0, and a second put of the same id conflicts
    assert repo.get_site("site_a") == site
    assert repo.get_template_version("site_a") == 0
    assert repo.get_site("nope") is None
    assert repo.get_template_version("nope") is None
    with pytest.raises(Conflict):
        repo.put_site(make_site())


def test_site_name_and_security_level_update_in_place(backend: Backend) -> None:
    # Given a stored site whose template version has moved on
    repo = backend.services.repo
    repo.put_site(make_site(version=0))
    # When an admin lowers its level and renames it
    updated = repo.update_site("site_a", SiteChanges("Renamed", SecurityLevel.STANDARD))
    # Then the change reads back, nothing else moved, and an unknown site is None
    assert updated is not None and updated == repo.get_site("site_a")
    assert (updated.name, updated.security_level, updated.template_version) == ("Renamed", SecurityLevel.STANDARD, 0)
    assert updated.data_key_blob == make_site().data_key_blob
    raised = repo.update_site("site_a", SiteChanges(security_level=SecurityLevel.HIGH))
    assert raised is not None and raised.security_level is SecurityLevel.HIGH
    assert repo.get_site("site_a").name == "Renamed"  # type: ignore[union-attr]
    assert repo.update_site("nope", SiteChanges("X")) is None


def test_doors_belong_to_an_existing_site_and_list_in_id_order(backend: Backend) -> None:
    # Given two sites
    repo = backend.services.repo
    repo.put_site(make_site("site_a"))
    repo.put_site(make_site("site_b"))
    doors = [Door(f"door_{n}", "site_a", f"Door {n}", T0, bytes([n]) * 48) for n in (3, 1, 2)]
    # When doors are stored on site_a and one on site_b
    for door in doors:
        repo.put_door(door)
    repo.put_door(Door("door_9", "site_b", "Other", T0, b"\x09" * 48))
    # Then each site lists only its own doors, ordered by id, and unknown sites are refused
    assert [door.door_id for door in repo.list_doors("site_a")] == ["door_1", "door_2", "door_3"]
    assert repo.get_door("site_a", "door_2") == doors[2]
    assert repo.get_door("site_b", "door_2") is None
    assert [door.door_id for door in repo.list_doors("site_b")] == ["door_9"]
    with pytest.raises(NotFound):
        repo.put_door(Door("door_x", "site_missing", "X", T0, b"\x00" * 48))


def test_terminals_are_found_by_id_and_key_and_revocation_is_seen_by_both(backend: Backend) -> None:
    # Given a stored terminal
    repo = backend.services.repo
    repo.put_site(make_site())
    terminal = make_terminal()
    repo.put_terminal(terminal)
    assert repo.get_terminal("term_1") == terminal
    assert repo.get_terminal_by_key("key_1") == terminal
    assert repo.get_terminal_by_key("key_unknown") is None
    # When it is revoked twice
    first = repo.revoke_terminal("term_1", T0 + timedelta(hours=1))
    second = repo.revoke_terminal("term_1", T0 + timedelta(hours=2))
    # Then both lookups see the first revocation time, and an unknown terminal gives None
    assert first is not None and first.revoked_at == T0 + timedelta(hours=1)
    assert second == first
    assert repo.get_terminal("term_1") == first
    assert repo.get_terminal_by_key("key_1") == first
    assert repo.revoke_terminal("term_missing", T0) is None


def test_invites_are_unique_by_id_and_by_token(backend: Backend) -> None:
    # Given a stored invite
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = make_invite("inv_1")
    repo.put_invite(invite)
    # When the same id, or another id with the same token hash, is stored
    # Then both conflict, and the invite reads back by id and by token hash
    with pytest.raises(Conflict):
        repo.put_invite(make_invite("inv_1"))
    same_token = make_invite("inv_2")
    with pytest.raises(Conflict):
        repo.put_invite(Invite(**{**_fields(same_token), "token_hash": invite.token_hash}))
    assert repo.get_invite("inv_1") == invite
    assert repo.get_invite_by_token(invite.token_hash) == invite
    assert repo.get_invite("inv_2") is None
    assert repo.get_invite_by_token("unknown") is None


def _fields(invite: Invite) -> dict[str, Any]:
    return {name: getattr(invite, name) for name in invite.__dataclass_fields__}


def test_consent_is_stored_on_live_invites_only(backend: Backend) -> None:
    # Given one invite
    repo = backend.services.repo
    repo.put_site(make_site())
    repo.put_invite(make_invite("inv_1"))
    consent = Consent(version=CONSENT, accepted_at=T0 + timedelta(minutes=2))
    # When consent is recorded
    updated = repo.record_consent("inv_1", consent)
    # Then the invite carries it; unknown invites are NotFound; revoked invites are Gone
    assert updated.consent == consent
    assert repo.get_invite("inv_1") == updated
    with pytest.raises(NotFound):
        repo.record_consent("inv_missing", consent)
    repo.erase_visitor("inv_1", T0 + timedelta(hours=1), revoke=True)
    with pytest.raises(Gone) as gone:
        repo.record_consent("inv_1", consent)
    assert gone.value.code == "invite_revoked"


def test_enroll_needs_the_current_consent_and_bumps_the_template_version(backend: Backend) -> None:
    # Given a site and an invite without consent
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = make_invite("inv_1")
    repo.put_invite(invite)
    at = T0 + timedelta(minutes=5)
    # When enrolling without consent, then with consent to another version
    # Then both are refused with consent_required and nothing is stored
    with pytest.raises(Conflict) as refused:
        repo.enroll("inv_1", make_template(invite), b"claim-ct", CONSENT, at)
    assert refused.value.code == "consent_required"
    repo.record_consent("inv_1", Consent(version="old-notice", accepted_at=T0))
    with pytest.raises(Conflict) as stale:
        repo.enroll("inv_1", make_template(invite), b"claim-ct", CONSENT, at)
    assert stale.value.code == "consent_required"
    assert stored_templates(backend) == {}
    assert repo.get_template_version("site_a") == 0
    # When consent is current: the template is stored, the invite enrolled, the version bumped
    repo.record_consent("inv_1", Consent(version=CONSENT, accepted_at=T0))
    template = make_template(invite)
    repo.enroll("inv_1", template, b"claim-ct", CONSENT, at)
    assert stored_templates(backend) == {"inv_1": template}
    enrolled = repo.get_invite("inv_1")
    assert enrolled is not None and enrolled.enrolled_at == at and enrolled.claim_code_ct == b"claim-ct"
    assert repo.get_template_version("site_a") == 1
    # And a second enrollment replaces the template (still one per visitor)
    replacement = make_template(invite)
    repo.enroll("inv_1", replacement, b"claim-ct-2", CONSENT, at + timedelta(minutes=1))
    assert stored_templates(backend) == {"inv_1": replacement}
    assert repo.get_template_version("site_a") == 2


def test_a_templates_model_id_is_read_alone_and_candidates_carry_k(backend: Backend) -> None:
    # Given a visitor enrolled with a template of an older model fusing 3 selfies
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = make_invite("inv_1")
    repo.put_invite(invite)
    repo.record_consent("inv_1", Consent(version=CONSENT, accepted_at=T0))
    template = dataclasses.replace(make_template(invite, model_id="old-model"), n_images=3)
    repo.enroll("inv_1", template, b"claim-ct", CONSENT, T0 + timedelta(minutes=5))
    # When the visitor's status asks which model made the template, Then one read answers; unknown is None
    assert repo.get_template_model_id("site_a", "inv_1") == "old-model"
    assert repo.get_template_model_id("site_a", "inv_nobody") is None
    # And the matcher's projected rows carry K for the door policy
    assert [(row.visitor_id, row.n_images) for row in repo.list_candidates("site_a")] == [("inv_1", 3)]


def test_enroll_on_a_revoked_invite_is_refused(backend: Backend) -> None:
    # Given an invite that consented and was then revoked by a host
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = consented(backend, "inv_1")
    repo.erase_visitor("inv_1", T0 + timedelta(minutes=3), revoke=True)
    # When the visitor's upload arrives afterwards
    # Then enrollment is refused and no template exists
    with pytest.raises(Conflict) as refused:
        repo.enroll("inv_1", make_template(invite), b"ct", CONSENT, T0 + timedelta(minutes=4))
    assert refused.value.code == "consent_required"
    assert stored_templates(backend) == {}


def test_erase_removes_biometrics_and_reports_what_it_removed(backend: Backend) -> None:
    # Given an enrolled visitor with a display name
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = consented(backend, "inv_1")
    repo.enroll("inv_1", make_template(invite), b"ct", CONSENT, T0 + timedelta(minutes=5))
    # When the visitor erases (no revocation)
    at = T0 + timedelta(hours=1)
    items = repo.erase_visitor("inv_1", at, revoke=False)
    # Then template, claim code and consent are gone, the token still works, the version moved
    assert items == ("template", "claim_code", "consent")
    erased = repo.get_invite("inv_1")
    assert erased is not None
    assert (erased.consent, erased.enrolled_at, erased.claim_code_ct) == (None, None, None)
    assert erased.erased_at == at and erased.revoked_at is None and erased.display_name == "Visitor"
    assert stored_templates(backend) == {}
    assert repo.get_template_version("site_a") == 2
    # When a host then erases with revocation
    items = repo.erase_visitor("inv_1", at + timedelta(minutes=1), revoke=True)
    # Then the token and the display name go too
    assert items == ("invite_token", "display_name")
    revoked = repo.get_invite_by_token(invite.token_hash)
    assert revoked is not None and revoked.revoked_at == at + timedelta(minutes=1) and revoked.display_name is None
    with pytest.raises(NotFound):
        repo.erase_visitor("inv_missing", at, revoke=False)


@pytest.mark.parametrize("revoke", [False, True], ids=["visitor", "host"])
def test_the_email_and_the_sealed_link_are_kept_with_the_invite_and_erased_with_it(
    backend: Backend, revoke: bool
) -> None:
    # Given an invite with the visitor's e-mail, the host's opt-in to arrival mail and its sealed link
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = dataclasses.replace(
        make_invite("inv_mail"),
        email="visitor@example.com",
        notify_on_arrival=True,
        host_email="host@example.com",
        link_ct=b"sealed-link",
    )
    repo.put_invite(invite)
    # Then they are read back as stored
    stored = repo.get_invite("inv_mail")
    assert stored is not None
    assert (stored.email, stored.notify_on_arrival, stored.host_email, stored.link_ct) == (
        "visitor@example.com",
        True,
        "host@example.com",
        b"sealed-link",
    )
    # When the invite is erased (by the visitor, or by a host with revocation)
    items = repo.erase_visitor("inv_mail", T0 + timedelta(hours=1), revoke=revoke)
    # Then the e-mail is named in the receipt and neither it nor the link is stored any more
    assert "email" in items
    erased = repo.get_invite("inv_mail")
    assert erased is not None and erased.email is None and erased.link_ct is None


@pytest.mark.parametrize("first", ["enroll", "erase"])
def test_enroll_and_erase_in_either_order_leave_no_template(backend: Backend, first: str) -> None:
    # Given a consented invite
    repo = backend.services.repo
    repo.put_site(make_site())
    invite = consented(backend, "inv_1")
    at = T0 + timedelta(minutes=5)
    # When enroll and erase run one after the other, in the given order
    if first == "enroll":
        repo.enroll("inv_1", make_template(invite), b"ct", CONSENT, at)
        items = repo.erase_visitor("inv_1", at, revoke=False)
        assert "template" in items
    else:
        repo.erase_visitor("inv_1", at, revoke=False)
        with pytest.raises(Conflict):
            repo.enroll("inv_1", make_template(invite), b"ct", CONSENT, at)
    # Then no template is left
    assert stored_templates(backend) == {}


RACE_ROUNDS = 30


def test_an_erase_racing_an_enrollment_never_leaves_a_template(backend: Backend) -> None:
    # Given many consented invites, each raced by an enrollment and an erasure started together
    repo = backend.services.repo
    repo.put_site(make_site())
    outcomes = {"enroll_then_erase": 0, "erase_then_enroll": 0}
    for round_ in range(RACE_ROUNDS):
        invite_id = f"inv_{round_}"
        invite = consented(backend, invite_id)
        start = threading.Barrier(2)
        results: dict[str, Any] = {}

        # a random head start of up to 5 ms, given to the eraser on even rounds and to the enroller on
        # odd ones, so that both commit orders occur
        delay = random.uniform(0, 0.005)
        erase_delay, enroll_delay = (0.0, delay) if round_ % 2 == 0 else (delay, 0.0)

        def enroll(
            invite: Invite = invite,
            start: threading.Barrier = start,
            results: dict[str, Any] = results,
            pause: float = enroll_delay,
        ) -> None:
            start.wait()
            time.sleep(pause)
            try:
                repo.enroll(invite.invite_id, make_template(invite), b"ct", CONSENT, T0 + timedelta(minutes=5))
                results["enroll"] = "committed"
            except Conflict as exc:
                results["enroll"] = exc.code

        def erase(
            invite_id: str = invite_id,
            start: threading.Barrier = start,
            results: dict[str, Any] = results,
            revoke: bool = round_ % 2 == 1,
            pause: float = erase_delay,
        ) -> None:
            start.wait()
            time.sleep(pause)
            results["erase"] = repo.erase_visitor(invite_id, T0 + timedelta(minutes=6), revoke=revoke)

        threads = [threading.Thread(target=enroll), threading.Thread(target=erase)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # Then whichever committed first, no template is left and the receipt says what happened
        assert invite_id not in stored_templates(backend)
        after = repo.get_invite(invite_id)
        assert after is not None and after.consent is None and after.enrolled_at is None
        if results["enroll"] == "committed":
            assert "template" in results["erase"]
            outcomes["enroll_then_erase"] += 1
        else:
            assert results["enroll"] == "consent_required"
            assert "template" not in results["erase"]
            outcomes["erase_then_enroll"] += 1
    print(f"{backend.name}: race outcomes over {RACE_ROUNDS} rounds: {outcomes}")
    assert sum(outcomes.values()) == RACE_ROUNDS


def test_list_templates_reads_every_page_beyond_one_megabyte(backend: Backend) -> None:
    # Given 72 enrolled visitors with 16 KB ciphertexts (about 1.2 MB: more than one 1 MB DynamoDB page;
    # real templates are ~0.5 KB, fewer and larger items keep the test fast)
    repo = backend.services.repo
    repo.put_site(make_site())
    expected = {}
    for n in range(72):
        invite = consented(backend, f"inv_{n:03d}")
        template = make_template(invite, size=16_000)
        repo.enroll(invite.invite_id, template, b"ct", CONSENT, T0 + timedelta(minutes=5))
        expected[invite.invite_id] = template
    pages = _count_calls(backend, "query")
    # When the site's templates are listed
    listed = stored_templates(backend)
    # Then every template comes back, exactly once, over several pages on DynamoDB
    assert listed == expected
    if backend.is_dynamodb:
        assert pages() >= 2, f"expected several Query pages, got {pages()}"
    # And the matcher's projected listing carries the same fields for every template
    rows = {row.visitor_id: row for row in repo.list_candidates("site_a")}
    assert set(rows) == set(expected)
    for visitor_id, template in expected.items():
        row = rows[visitor_id]
        assert (row.ciphertext, row.model_id, row.door_ids, row.claim_hash) == (
            template.ciphertext,
            template.model_id,
            template.door_ids,
            template.claim_hash,
        )
        assert (row.valid_from, row.valid_until) == (template.valid_from, template.valid_until)


def _count_calls(backend: Backend, operation: str) -> Callable[[], int]:
    calls = [0]
    if backend.is_dynamodb:

        def count(**_: Any) -> None:
            calls[0] += 1

        backend.dynamodb.meta.events.register(f"before-call.dynamodb.{operation[0].upper()}{operation[1:]}", count)
    return lambda: calls[0]


# --------------------------------------------------------------------------------------- console lists (issue 14)


def test_sites_list_oldest_first_and_retirement_keeps_the_first_time(backend: Backend) -> None:
    # Given three sites created a minute apart
    repo = backend.services.repo
    for n in (2, 0, 1):
        repo.put_site(dataclasses.replace(make_site(f"site_{n}"), created_at=T0 + timedelta(minutes=n)))
    # Then they list oldest first
    assert [site.site_id for site in repo.list_sites()] == ["site_0", "site_1", "site_2"]
    # When one is retired twice, Then the first time is kept and the list shows it; unknown sites are None
    first = repo.retire_site("site_1", T0 + timedelta(hours=1))
    again = repo.retire_site("site_1", T0 + timedelta(hours=2))
    assert first is not None and again is not None and again.retired_at == T0 + timedelta(hours=1)
    assert [site.retired_at for site in repo.list_sites()] == [None, T0 + timedelta(hours=1), None]
    assert repo.retire_site("site_nope", T0) is None
    # And the site's other attributes are untouched
    stored = repo.get_site("site_1")
    assert stored is not None and stored.name == "Site site_1" and stored.security_level is SecurityLevel.HIGH


def test_a_retired_door_keeps_its_key_and_says_when(backend: Backend) -> None:
    # Given a door
    repo = backend.services.repo
    repo.put_site(make_site())
    door = Door("door_1", "site_a", "Lobby", T0, b"\x03" * 40)
    repo.put_door(door)
    # When it is retired, Then it reads back retired (first time kept) with its unlock key; unknown doors are None
    assert repo.retire_door("site_a", "door_1", T0 + timedelta(hours=1)) is not None
    repo.retire_door("site_a", "door_1", T0 + timedelta(hours=2))
    assert repo.get_door("site_a", "door_1") == dataclasses.replace(door, retired_at=T0 + timedelta(hours=1))
    assert repo.retire_door("site_a", "door_nope", T0) is None


def test_terminals_list_per_site_and_rotation_moves_the_key(backend: Backend) -> None:
    # Given two terminals of site_a and one of site_b
    repo = backend.services.repo
    repo.put_site(make_site())
    repo.put_terminal(make_terminal("term_2", "key_2"))
    repo.put_terminal(dataclasses.replace(make_terminal("term_1", "key_1"), created_at=T0 - timedelta(days=1)))
    repo.put_terminal(dataclasses.replace(make_terminal("term_3", "key_3"), site_id="site_b"))
    # Then each site lists its own, oldest first
    assert [t.terminal_id for t in repo.list_terminals("site_a")] == ["term_1", "term_2"]
    # When term_2 is paired (a new key)
    at = T0 + timedelta(hours=1)
    rotated = repo.rotate_terminal("term_2", "key_2", "key_2b", b"\x09" * 60, at, paired=True)
    # Then the new key finds it, the old one nothing, and it says when it was paired
    assert rotated is not None and (rotated.key_id, rotated.paired_at) == ("key_2b", at)
    assert repo.get_terminal_by_key("key_2") is None
    assert repo.get_terminal_by_key("key_2b") == rotated == repo.get_terminal("term_2")
    assert [t.key_id for t in repo.list_terminals("site_a")] == ["key_1", "key_2b"]
    # And a stale key id, an unknown or a revoked terminal cannot be rotated
    assert repo.rotate_terminal("term_2", "key_2", "key_2c", b"\x09" * 60, at, paired=False) is None
    assert repo.rotate_terminal("term_nope", "key_x", "key_y", b"\x09" * 60, at, paired=False) is None
    repo.revoke_terminal("term_1", at)
    assert repo.rotate_terminal("term_1", "key_1", "key_1b", b"\x09" * 60, at, paired=False) is None
    assert repo.get_terminal_by_key("key_1b") is None


def test_invites_list_newest_first_in_pages_with_a_filter(backend: Backend) -> None:
    # Given seven invites of site_a a minute apart (odd ones consented) and one of site_b
    repo = backend.services.repo
    for n in range(7):
        repo.put_invite(dataclasses.replace(make_invite(f"inv_{n}"), created_at=T0 + timedelta(minutes=n)))
        if n % 2:
            repo.record_consent(f"inv_{n}", Consent(version=CONSENT, accepted_at=T0))
    repo.put_invite(make_invite("inv_b", "site_b"))
    # When listed three at a time
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = repo.list_invites("site_a", 3, cursor)
        seen += [invite.invite_id for invite in page]
        if cursor is None:
            break
    # Then each comes once, newest first
    assert seen == [f"inv_{n}" for n in range(6, -1, -1)]
    # And a filter keeps pages full of matches only
    odd, cursor = repo.list_invites("site_a", 2, None, lambda invite: invite.consent is not None)
    rest, end = repo.list_invites("site_a", 2, cursor, lambda invite: invite.consent is not None)
    assert [i.invite_id for i in odd + rest] == ["inv_5", "inv_3", "inv_1"] and end is None
    # And a cursor that is not one of ours is refused
    with pytest.raises(InvalidRequest):
        repo.list_invites("site_a", 3, "bm9wZQ", None)


def test_arrival_is_set_once(backend: Backend) -> None:
    # Given an invite
    repo = backend.services.repo
    repo.put_invite(make_invite("inv_a"))
    # When two grants mark it arrived, Then only the first sets the time; unknown invites are not marked
    assert repo.mark_arrived("inv_a", T0 + timedelta(minutes=1)) is True
    assert repo.mark_arrived("inv_a", T0 + timedelta(minutes=2)) is False
    stored = repo.get_invite("inv_a")
    assert stored is not None and stored.arrived_at == T0 + timedelta(minutes=1)
    assert repo.mark_arrived("inv_nope", T0) is False
    # When the visitor erases their data, Then the arrival time goes too, and the receipt says so
    repo.put_site(make_site())
    assert "arrival" in repo.erase_visitor("inv_a", T0 + timedelta(hours=1), revoke=False)
    erased = repo.get_invite("inv_a")
    assert erased is not None and erased.arrived_at is None


def test_audit_query_keeps_only_what_the_filter_names(backend: Backend) -> None:
    # Given 30 records alternating between verify (door_1) and consent, with grants every third
    audit = backend.services.audit
    records = [make_record("site_a", n, T0 + timedelta(minutes=n)) for n in range(30)]
    for record in records:
        audit.record(record)
    # When filtered by event, decision and door, in pages of 4
    wanted = AuditFilter(door_id="door_1", decision="grant", kind=AuditKind.VERIFY)
    found: list[AuditRecord] = []
    cursor: str | None = None
    while True:
        page, cursor = audit.query(AuditQuery("site_a", T0, T0 + timedelta(hours=1), wanted), 4, cursor)
        found += page
        if cursor is None:
            break
    # Then exactly the matching records come back, oldest first
    assert found == [r for r in records if wanted.keeps(r)] and len(found) == 5


def test_pairing_codes_are_taken_once_and_expire(backend: Backend) -> None:
    # Given two stored pairing codes
    ephemeral = backend.services.ephemeral
    code = PairingCode("h" * 64, "term_1", "site_a", T0, T0 + timedelta(minutes=10), "admin-sub")
    ephemeral.put_pairing(code)
    ephemeral.put_pairing(dataclasses.replace(code, code_hash="g" * 64))
    # When taken, Then the first take gets it and a second nothing
    assert ephemeral.take_pairing("h" * 64, T0 + timedelta(minutes=1)) == code
    assert ephemeral.take_pairing("h" * 64, T0 + timedelta(minutes=1)) is None
    # And a code taken after its expiry gives nothing; an unknown one neither
    assert ephemeral.take_pairing("g" * 64, T0 + timedelta(minutes=10)) is None
    assert ephemeral.take_pairing("u" * 64, T0) is None


def test_concurrent_takes_of_a_pairing_code_let_exactly_one_win(backend: Backend) -> None:
    # Given one pairing code and eight threads racing for it
    ephemeral = backend.services.ephemeral
    ephemeral.put_pairing(PairingCode("r" * 64, "term_1", "site_a", T0, T0 + timedelta(minutes=10), "admin"))
    results: list[PairingCode | None] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        results.append(ephemeral.take_pairing("r" * 64, T0))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one got it
    assert sum(result is not None for result in results) == 1


def test_items_from_before_the_lists_index_are_backfilled_once(backend: Backend) -> None:
    require_dynamodb(backend)
    from facegate.adapters.dynamodb.codecs import invite_item, site_item, terminal_item
    from facegate.adapters.dynamodb.repository import backfill_list_keys

    # Given a site, a terminal (and its key copy) and an invite stored the way they were before the console
    client, table = backend.dynamodb, backend.settings.directory_table
    legacy = {"list_pk", "list_sk"}
    for item in (
        site_item(make_site()),
        terminal_item(make_terminal(), "TERMINAL#term_1", "TERMINAL"),
        terminal_item(make_terminal(), "KEY#key_1", "KEY"),
        invite_item(make_invite("inv_old"), 2_000_000_000),
    ):
        client.put_item(TableName=table, Item={k: v for k, v in item.items() if k not in legacy})
    repo = backend.services.repo
    assert repo.list_sites() == [] and repo.list_terminals("site_a") == []
    # When the backfill runs, Then the three items are listed again; the key copy is left alone
    assert backfill_list_keys(client, backend.settings) == 3
    assert [site.site_id for site in repo.list_sites()] == ["site_a"]
    assert [t.terminal_id for t in repo.list_terminals("site_a")] == ["term_1"]
    assert [i.invite_id for i in repo.list_invites("site_a", 10, None)[0]] == ["inv_old"]
    key_copy = client.get_item(TableName=table, Key={"pk": {"S": "KEY#key_1"}, "sk": {"S": "KEY"}})["Item"]
    assert "list_pk" not in key_copy
    # And a second run has nothing to do
    assert backfill_list_keys(client, backend.settings) == 0


# --------------------------------------------------------------------------------------- user directory


@pytest.fixture(params=["memory", "cognito"])
def directory(request: pytest.FixtureRequest, aws_env: None) -> Iterator[Any]:
    """The Directory port: in memory, and on moto's Cognito (a pool with the template's groups)."""
    if request.param == "memory":
        yield memory.MemoryDirectory(clock=lambda: T0)
        return
    import boto3
    from moto import mock_aws

    from facegate.adapters.cognito import CognitoDirectory

    with mock_aws():
        client = boto3.client("cognito-idp", region_name=REGION)
        yield CognitoDirectory(client, user_pool(client, "contract"))


def test_hosts_are_created_once_listed_disabled_and_named(directory: Any) -> None:
    # When two hosts are created
    hana = directory.create_host("hana@example.com", "Hana Host", ["site_a", "site_b"], "Temporary1234")
    directory.create_host("bo@example.com", "Bo", ["site_a"], "Temporary1234")
    # Then each is enabled, scoped to its sites, and listed by e-mail
    assert isinstance(hana, HostUser) and hana.enabled and hana.site_ids == ("site_a", "site_b")
    assert [h.email for h in directory.list_hosts()] == ["bo@example.com", "hana@example.com"]
    # And the same e-mail cannot be created twice
    with pytest.raises(Conflict) as twice:
        directory.create_host("hana@example.com", "Again", ["site_a"], "Temporary1234")
    assert twice.value.code == "host_exists"
    # When one is disabled, Then it is listed disabled; unknown users are None
    disabled = directory.disable_host(hana.username)
    assert disabled is not None and disabled.enabled is False
    assert {h.email: h.enabled for h in directory.list_hosts()} == {"bo@example.com": True, "hana@example.com": False}
    assert directory.disable_host("no-such-user") is None
    # And names are found by sub, unknown subs left out
    assert hana.sub is not None
    assert directory.names_for([hana.sub, "00000000-0000-0000-0000-000000000000"]) == {hana.sub: "Hana Host"}


# --------------------------------------------------------------------------------------- audit


def make_record(site_id: str, n: int, at: datetime) -> AuditRecord:
    return AuditRecord(
        site_id=site_id,
        event_id=f"evt_{n:04d}",
        kind=AuditKind.VERIFY if n % 2 else AuditKind.CONSENT,
        at=at,
        expires_at=at + timedelta(days=90),
        actor="terminal:term_1" if n % 2 else "visitor",
        door_id="door_1" if n % 2 else None,
        decision="grant" if n % 3 == 0 else "deny",
        similarity=0.7123 if n % 2 else None,
        threshold=0.61,
        latency_ms=123.4,
        details={"frames": "3"} if n % 2 else {},
    )


def test_audit_query_returns_the_range_oldest_first_in_pages(backend: Backend) -> None:
    # Given 25 records of site_a one minute apart, records exactly at both bounds, and another site
    audit = backend.services.audit
    start, end = T0, T0 + timedelta(minutes=25)
    inside = [make_record("site_a", n, start + timedelta(minutes=n)) for n in range(25)]
    for record in reversed(inside):
        audit.record(record)
    audit.record(make_record("site_a", 100, end))
    audit.record(make_record("site_a", 101, start - timedelta(seconds=1)))
    audit.record(make_record("site_b", 102, start + timedelta(minutes=1)))
    # When reading pages of 10
    pages: list[list[AuditRecord]] = []
    cursor: str | None = None
    while True:
        page, cursor = audit.query(AuditQuery("site_a", start, end), 10, cursor)
        pages.append(page)
        if cursor is None:
            break
    # Then [start, end) comes back oldest first, every record once, equal to what was written
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [record for page in pages for record in page] == inside
    # And a limit equal to the remainder ends without a cursor
    last, more = audit.query(AuditQuery("site_a", start + timedelta(minutes=20), end), 5, None)
    assert len(last) == 5 and more is None


def test_a_forged_audit_cursor_is_refused(backend: Backend) -> None:
    require_dynamodb(backend)
    # Given a site with some records
    audit = backend.services.audit
    for n in range(3):
        audit.record(make_record("site_a", n, T0 + timedelta(minutes=n)))
    _, cursor = audit.query(AuditQuery("site_a", T0, T0 + timedelta(hours=1)), 1, None)
    assert cursor is not None
    # When a cursor is garbage, not ours, or points outside the queried range
    # Then the query is an InvalidRequest (never a 500)
    for forged in ("%%%", "bm90IGpzb24", "eyJzayI6IDF9", cursor + "x"):
        with pytest.raises(InvalidRequest):
            audit.query(AuditQuery("site_a", T0, T0 + timedelta(hours=1)), 1, forged)
    with pytest.raises(InvalidRequest):
        audit.query(AuditQuery("site_a", T0 + timedelta(days=1), T0 + timedelta(days=2)), 1, cursor)


# --------------------------------------------------------------------------------------- ephemeral


def test_nonces_are_accepted_once_per_scope(backend: Backend) -> None:
    # Given a fresh nonce
    ephemeral = backend.services.ephemeral
    expires = T0 + timedelta(minutes=5)
    # When it is claimed twice, and in another scope
    # Then the replay is refused and scopes are independent
    assert ephemeral.claim_nonce("nonce#key_1", "n-0123456789abcdef", expires) is True
    assert ephemeral.claim_nonce("nonce#key_1", "n-0123456789abcdef", expires) is False
    assert ephemeral.claim_nonce("nonce#key_2", "n-0123456789abcdef", expires) is True
    assert ephemeral.claim_nonce("nonce#key_1", "n-fedcba9876543210", expires) is True


def test_counters_count_a_sliding_window(backend: Backend) -> None:
    # Given a counter and a 60 s window
    ephemeral = backend.services.ephemeral
    now = datetime(2030, 5, 1, 9, 0, 10, tzinfo=UTC)
    # When it is hit three times in one fixed window
    counts = [ephemeral.hit("denies#term_1", 60, now + timedelta(seconds=s)) for s in (0, 20, 49)]
    # Then the counts grow
    assert counts == [1, 2, 3]
    # When it is hit just after the window boundary, Then the previous window still counts almost fully
    assert ephemeral.hit("denies#term_1", 60, now + timedelta(seconds=51)) == 4
    # When a whole window passes, Then the old hits have aged out
    assert ephemeral.hit("denies#term_1", 60, now + timedelta(seconds=171)) == 1
    # And another counter is independent
    assert ephemeral.hit("claims#term_1", 60, now) == 1


def test_counters_are_atomic_under_threads(backend: Backend) -> None:
    # Given 8 threads hitting one counter 10 times each
    ephemeral = backend.services.ephemeral
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            value = ephemeral.hit("badtoken#1.2.3.4", 60, T0)
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then every hit got a distinct count (no two increments read the same value), starting at 1; a call that
    # botocore retried after a read timeout on a loaded machine may have counted twice, which only overcounts
    assert len(set(seen)) == 80 and min(seen) == 1
    assert max(seen) >= 80


def test_blocks_end_at_their_time(backend: Backend) -> None:
    # Given no block
    ephemeral = backend.services.ephemeral
    assert ephemeral.blocked_until("cooldown#term_1", T0) is None
    # When a block is set for 30 s, then extended
    until = T0 + timedelta(seconds=30)
    ephemeral.block("cooldown#term_1", until)
    # Then it holds until (not including) its end, and the latest block wins
    assert ephemeral.blocked_until("cooldown#term_1", T0) == until
    assert ephemeral.blocked_until("cooldown#term_1", until) is None
    assert ephemeral.blocked_until("cooldown#term_2", T0) is None
    ephemeral.block("cooldown#term_1", until + timedelta(seconds=30))
    assert ephemeral.blocked_until("cooldown#term_1", until) == until + timedelta(seconds=30)


# --------------------------------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_runs_the_work_once(backend: Backend) -> None:
    # Given a piece of work that counts its executions
    calls: list[int] = []

    def work() -> dict[str, Any]:
        calls.append(1)
        return {"status": "enrolled", "n": len(calls)}

    services = backend.services
    # When it is run twice with the same key and body, then with the same key and another body
    first = run_once(services, "enroll#hash-1", "key-00000001", "body-hash-a", work)
    second = run_once(services, "enroll#hash-1", "key-00000001", "body-hash-a", work)
    # Then it ran once, the replay returned the stored result, a different body conflicts
    assert first == second == {"status": "enrolled", "n": 1}
    assert len(calls) == 1
    with pytest.raises(Conflict) as conflict:
        run_once(services, "enroll#hash-1", "key-00000001", "body-hash-b", work)
    assert conflict.value.code == "idempotency_conflict"
    assert run_once(services, "enroll#hash-2", "key-00000001", "body-hash-a", work) == {"status": "enrolled", "n": 2}


# --------------------------------------------------------------------------------------- TTL


def test_every_expiring_item_carries_its_ttl(backend: Backend) -> None:
    require_dynamodb(backend)
    # Given one of everything
    services = backend.services
    settings = backend.settings
    services.repo.put_site(make_site())
    services.repo.put_door(Door("door_1", "site_a", "Main", T0, b"\x01" * 48))
    services.repo.put_terminal(make_terminal())
    invite = consented(backend, "inv_1")
    services.repo.enroll("inv_1", make_template(invite), b"ct", CONSENT, T0)
    services.audit.record(make_record("site_a", 1, T0))
    services.ephemeral.claim_nonce("nonce#key_1", "n-0123456789abcdef", T0 + timedelta(minutes=5))
    services.ephemeral.hit("denies#term_1", 60, T0)
    services.ephemeral.block("cooldown#term_1", T0 + timedelta(seconds=30))
    run_once(services, "enroll#h", "key-00000001", "body", lambda: {"ok": True})
    # When the raw items are scanned
    client = backend.dynamodb
    items = {field: scan_table(client, getattr(settings, field)) for field in TABLE_FIELDS}
    # Then invites, tokens and templates expire at valid_until + grace, audit at its expires_at,
    # every ephemeral item has a TTL, and sites/doors/terminals never expire
    retention = int((invite.valid_until + timedelta(seconds=settings.retention_grace_seconds)).timestamp())
    directory = {item["sk"]["S"].split("#")[0]: item for item in items["directory_table"]}
    assert int(directory["INVITE"]["expires_at"]["N"]) == retention
    assert int(directory["TOKEN"]["expires_at"]["N"]) == retention
    for kind in ("SITE", "DOOR", "TERMINAL", "KEY"):
        assert "expires_at" not in directory[kind]
    assert [int(item["expires_at"]["N"]) for item in items["templates_table"]] == [retention]
    assert [int(item["expires_at"]["N"]) for item in items["audit_table"]] == [
        int((T0 + timedelta(days=90)).timestamp())
    ]
    assert len(items["ephemeral_table"]) == 4
    assert all("expires_at" in item for item in items["ephemeral_table"])
    assert isinstance(directory["SITE"]["data_key_blob"]["B"], bytes)
    assert isinstance(items["templates_table"][0]["ciphertext"]["B"], bytes)
    # And TTL is enabled on every table, on expires_at
    for field in TABLE_FIELDS:
        ttl = client.describe_time_to_live(TableName=getattr(settings, field))["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] in {"ENABLED", "ENABLING"}
        assert ttl["AttributeName"] == "expires_at"


TABLE_FIELDS = ("directory_table", "templates_table", "audit_table", "ephemeral_table")


# --------------------------------------------------------------------------------------- failures


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _failing(client: Any, operation: str, status: int, error: str | None) -> list[int]:
    """Answer every ``operation`` call of ``client`` with an error (or a read timeout); returns the attempt log."""
    attempts: list[int] = []
    service = client.meta.service_model.endpoint_prefix

    def answer(request: Any, **_: Any) -> AWSResponse:
        attempts.append(len(attempts) + 1)
        if error is None:
            raise ReadTimeoutError(endpoint_url=request.url)
        body = json.dumps({"__type": error, "message": "injected by the test"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": f"test-{len(attempts)}"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", answer)
    return attempts


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record botocore's retry back-off pauses instead of sleeping them."""
    import botocore.endpoint

    sleeps: list[float] = []

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            sleeps.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", _Clock)
    return sleeps


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
        (400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"),
        (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        (0, None),
    ],
    ids=["provisioned-throughput", "throttling", "internal-error", "read-timeout"],
)
def test_persistent_throttling_becomes_service_unavailable_after_retries(
    backend: Backend, no_sleep: list[float], status: int, error: str | None
) -> None:
    require_dynamodb(backend)
    # Given DynamoDB answering every GetItem with the failure
    backend.services.repo.put_site(make_site())
    attempts = _failing(backend.dynamodb, "GetItem", status, error)
    # When the site is read
    with pytest.raises(ServiceUnavailable) as unavailable:
        backend.services.repo.get_site("site_a")
    # Then botocore tried MAX_ATTEMPTS times with a back-off pause between tries, and the API
    # would answer 503 with Retry-After
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))
    assert len(no_sleep) == MAX_ATTEMPTS - 1 and all(pause >= 0 for pause in no_sleep)
    response = response_for(unavailable.value)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1


def test_a_transient_failure_that_clears_is_retried_transparently(backend: Backend, no_sleep: list[float]) -> None:
    require_dynamodb(backend)
    # Given DynamoDB throttling the first GetItem only
    backend.services.repo.put_site(make_site())
    failures = [0]
    service = backend.dynamodb.meta.service_model.endpoint_prefix

    def once(request: Any, **_: Any) -> AWSResponse | None:
        if failures[0]:
            return None
        failures[0] += 1
        body = json.dumps({"__type": "ProvisionedThroughputExceededException", "message": "injected"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    backend.dynamodb.meta.events.register_first(f"before-send.{service}.GetItem", once)
    # When the site is read
    site = backend.services.repo.get_site("site_a")
    # Then the caller sees the site, after one back-off pause
    assert site == make_site()
    assert len(no_sleep) == 1


# --------------------------------------------------------------------------------------- KMS


@pytest.fixture(params=["memory", "moto"])
def key_service(request: pytest.FixtureRequest, aws_env: None) -> Iterator[tuple[str, KeyService, Any]]:
    """The key service contract against the in-memory stand-in and the KMS adapter on moto."""
    if request.param == "memory":
        yield "memory", memory.MemoryKeyService(), None
        return
    clients: AwsClients = request.getfixturevalue("moto_dynamodb")
    key_id = clients.kms.create_key(Description="facegate kms adapter test")["KeyMetadata"]["KeyId"]
    yield "moto", KmsKeyService(clients.kms, key_id), clients.kms


def test_data_keys_round_trip_under_their_context(key_service: tuple[str, KeyService, Any]) -> None:
    # Given a data key for a site and a sealed secret for a terminal
    _, keys, _ = key_service
    site = {"facegate": "site-data-key", "site_id": "site_a"}
    plaintext, blob = keys.generate_data_key(site)
    sealed = keys.encrypt(b"terminal secret", {"facegate": "terminal-secret", "key_id": "key_1"})
    # When they are decrypted with the same context
    # Then the plaintexts come back (the data key is 32 bytes, never equal to its blob)
    assert len(plaintext) == 32 and blob != plaintext
    assert keys.decrypt(blob, site) == plaintext
    assert keys.decrypt(sealed, {"facegate": "terminal-secret", "key_id": "key_1"}) == b"terminal secret"


def test_a_context_mismatch_or_a_damaged_blob_does_not_decrypt(key_service: tuple[str, KeyService, Any]) -> None:
    # Given a data key bound to site_a
    _, keys, _ = key_service
    _, blob = keys.generate_data_key({"facegate": "site-data-key", "site_id": "site_a"})
    # When it is opened as site_b's key, or damaged
    # Then decryption fails with DecryptionFailed
    with pytest.raises(DecryptionFailed):
        keys.decrypt(blob, {"facegate": "site-data-key", "site_id": "site_b"})
    with pytest.raises(DecryptionFailed):
        keys.decrypt(b"not a kms blob at all", {"facegate": "site-data-key", "site_id": "site_a"})


def test_kms_throttling_becomes_service_unavailable(
    key_service: tuple[str, KeyService, Any], no_sleep: list[float]
) -> None:
    name, keys, client = key_service
    if client is None:
        pytest.skip("the memory key service has no network to fail")
    # Given KMS throttling every Decrypt
    _, blob = keys.generate_data_key({"facegate": "site-data-key", "site_id": "site_a"})
    attempts = _failing(client, "Decrypt", 400, "ThrottlingException")
    # When a blob is decrypted
    # Then it is retried MAX_ATTEMPTS times and surfaces as ServiceUnavailable
    with pytest.raises(ServiceUnavailable):
        keys.decrypt(blob, {"facegate": "site-data-key", "site_id": "site_a"})
    assert len(attempts) == MAX_ATTEMPTS, name


# --------------------------------------------------------------------------------------- template


def test_the_template_declares_four_ttl_tables_with_string_keys() -> None:
    # Given template.yaml
    template = load_template(TEMPLATE)
    # When its tables are read
    specs = {spec.logical_id: spec for spec in table_specs(template)}
    # Then there are the four tables, on demand, with TTL on expires_at and pk/sk string keys
    assert set(specs) == {"DirectoryTable", "TemplatesTable", "AuditTable", "EphemeralTable"}
    for spec in specs.values():
        assert spec.billing_mode == "PAY_PER_REQUEST"
        assert spec.ttl_attribute == "expires_at"
        assert {item["AttributeType"] for item in spec.attribute_definitions} == {"S"}
    assert [item["AttributeName"] for item in specs["EphemeralTable"].key_schema] == ["pk"]
    assert [item["AttributeName"] for item in specs["AuditTable"].key_schema] == ["pk", "sk"]


def test_the_template_routes_every_api_route_with_one_auth_mechanism() -> None:
    # Given template.yaml
    template = load_template(TEMPLATE)
    # When its routes are listed
    table = {(route.method, route.path): (route.function, route.auth, route.handler_dir) for route in routes(template)}
    # Then the 18 routes of the API map to their functions; admin/host routes need the JWT
    jwt = {
        ("POST", "/sites"): "ManageSitesFunction",
        ("PATCH", "/sites/{site_id}"): "ManageSitesFunction",
        ("POST", "/sites/{site_id}/doors"): "ManageSitesFunction",
        ("POST", "/sites/{site_id}/terminals"): "ManageSitesFunction",
        ("DELETE", "/terminals/{terminal_id}"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}/audit"): "ManageSitesFunction",
        ("POST", "/sites/{site_id}/invites"): "InviteVisitorsFunction",
        ("DELETE", "/invites/{invite_id}"): "InviteVisitorsFunction",
        ("POST", "/invites/{invite_id}/email"): "InviteVisitorsFunction",
        # the console (issue 14)
        ("GET", "/me"): "ManageSitesFunction",
        ("GET", "/sites"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}"): "ManageSitesFunction",
        ("DELETE", "/sites/{site_id}"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}/doors"): "ManageSitesFunction",
        ("DELETE", "/sites/{site_id}/doors/{door_id}"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}/terminals"): "ManageSitesFunction",
        ("POST", "/sites/{site_id}/terminals/{terminal_id}/rotate"): "ManageSitesFunction",
        ("POST", "/sites/{site_id}/terminals/{terminal_id}/pairing"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}/audit/csv"): "ManageSitesFunction",
        ("POST", "/hosts"): "ManageSitesFunction",
        ("GET", "/hosts"): "ManageSitesFunction",
        ("DELETE", "/hosts/{username}"): "ManageSitesFunction",
        ("GET", "/sites/{site_id}/invites"): "InviteVisitorsFunction",
        ("GET", "/invites/{invite_id}"): "InviteVisitorsFunction",
    }
    public = {
        ("POST", "/pair"): "PairKioskFunction",
        ("GET", "/register/{token}/notice"): "RegisterVisitorFunction",
        ("POST", "/register/{token}/consent"): "RegisterVisitorFunction",
        ("POST", "/register/{token}/selfie"): "RegisterVisitorFunction",
        ("GET", "/register/{token}/status"): "RegisterVisitorFunction",
        ("DELETE", "/register/{token}"): "RegisterVisitorFunction",
        ("POST", "/doors/{door_id}/verify"): "VerifyAtDoorFunction",
        ("POST", "/doors/{door_id}/challenge"): "VerifyAtDoorFunction",
        ("GET", "/openapi.json"): "ServePagesFunction",
        ("GET", "/register/{token}"): "ServePagesFunction",
        ("GET", "/kiosk"): "ServePagesFunction",
        ("GET", "/static/{name}"): "ServePagesFunction",
        ("GET", "/"): "ServePagesFunction",
        ("GET", "/console"): "ServePagesFunction",
        ("GET", "/console/config.json"): "ServePagesFunction",
    }
    assert {key: value[:2] for key, value in table.items()} == {
        **{key: (function, "jwt") for key, function in jwt.items()},
        **{key: (function, "none") for key, function in public.items()},
    }
    for function, _, handler_dir in table.values():
        assert (TEMPLATE.parent / handler_dir / "app.py").is_file(), function


def test_tables_created_from_the_template_have_the_declared_keys(moto_dynamodb: AwsClients) -> None:
    # Given the template's tables created under chosen names
    template = load_template(TEMPLATE)
    names = {"DirectoryTable": "dir-x", "EphemeralTable": "eph-x"}
    create_tables(moto_dynamodb.dynamodb, template, names)
    # When they are described
    directory = moto_dynamodb.dynamodb.describe_table(TableName="dir-x")["Table"]
    ephemeral = moto_dynamodb.dynamodb.describe_table(TableName="eph-x")["Table"]
    # Then the keys and billing mode are the template's; a table left out of names is not created
    assert [key["AttributeName"] for key in directory["KeySchema"]] == ["pk", "sk"]
    assert [key["AttributeName"] for key in ephemeral["KeySchema"]] == ["pk"]
    assert directory["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert set(moto_dynamodb.dynamodb.list_tables()["TableNames"]) == {"dir-x", "eph-x"}
    with pytest.raises(KeyError):
        create_tables(moto_dynamodb.dynamodb, template, {"UserPool": "nope"})


def test_clients_honour_the_configured_endpoints(aws_env: None) -> None:
    # Given settings with a DynamoDB-specific endpoint and a general one
    settings = Settings(
        aws_region=REGION, aws_endpoint_url="http://127.0.0.1:5000", dynamodb_endpoint_url="http://127.0.0.1:8001"
    )
    # When clients are built
    clients = AwsClients.from_settings(settings)
    # Then DynamoDB uses its own endpoint, KMS the general one, both with standard retries
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:8001"
    assert clients.kms.meta.endpoint_url == "http://127.0.0.1:5000"
    assert clients.dynamodb.meta.config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    assert clients.dynamodb.meta.region_name == REGION


# --------------------------------------------------------------------------------------- least privilege

HANDLER_DIRS = {
    "ManageSitesFunction": "manage_sites",
    "InviteVisitorsFunction": "invite_visitors",
    "RegisterVisitorFunction": "register_visitor",
    "VerifyAtDoorFunction": "verify_at_door",
    "ServePagesFunction": "serve_pages",
    "PairKioskFunction": "pair_kiosk",
}
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


class _Context:
    """The attributes of a Lambda context that Powertools reads."""

    function_name = "facegate-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:facegate-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/facegate-test"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


def _event(
    method: str,
    path: str,
    *,
    json_body: dict[str, Any] | None = None,
    image: bytes | None = None,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal API Gateway HTTP API (payload 2.0) event."""
    all_headers = {key.lower(): value for key, value in (headers or {}).items()}
    body: str | None = None
    encoded = False
    if json_body is not None:
        body = json.dumps(json_body)
        all_headers["content-type"] = "application/json"
    elif image is not None:
        body = base64.b64encode(image).decode()
        encoded = True
        all_headers.setdefault("content-type", "image/jpeg")
    context: dict[str, Any] = {
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "t"},
        "requestId": f"req-{uuid.uuid4().hex}",
        "stage": "$default",
        "domainName": "api.example.test",
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    }


def _allowed(template: dict[str, Any]) -> dict[str, set[tuple[str, str, str | None]]]:
    """Per function: (action, resource logical id, facegate encryption-context value or None) it may use."""
    allowed: dict[str, set[tuple[str, str, str | None]]] = {}
    for logical_id in HANDLER_DIRS:
        grants: set[tuple[str, str, str | None]] = set()
        for policy in template["Resources"][logical_id]["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                contexts = (
                    statement.get("Condition", {}).get("StringEquals", {}).get("kms:EncryptionContext:facegate", [None])
                )
                for action in actions:
                    for resource in map(_resource_name, targets):
                        for context in contexts if isinstance(contexts, list) else [contexts]:
                            grants.add((action, resource, context))
        allowed[logical_id] = grants
    return allowed


def _resource_name(target: Any) -> str:
    """``!GetAtt T.Arn`` -> ``T``; ``!Sub "${T.Arn}/index/lists"`` -> ``T/index/lists``; anything else as text."""
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    text = target.get("Fn::Sub") if isinstance(target, dict) else None
    if isinstance(text, str) and text.startswith("${") and ".Arn}/index/" in text:
        return text[2:].replace(".Arn}", "")
    return str(target)


def test_each_function_policy_covers_every_call_it_makes(
    moto_dynamodb: AwsClients, monkeypatch: pytest.MonkeyPatch, wire_backend: Callable[..., Backend]
) -> None:
    # Given the five handlers over moto (tables from template.yaml, a moto KMS key, an in-memory face
    # engine), and a recorder of every DynamoDB and KMS call with the function that made it
    import numpy as np

    from facegate.api import deps
    from facegate.security import signing

    template = load_template(TEMPLATE)
    clients = moto_dynamodb
    key_id = clients.kms.create_key(Description="least privilege test")["KeyMetadata"]["KeyId"]
    names = {
        logical_id: f"lp-{logical_id}"
        for logical_id in ("DirectoryTable", "TemplatesTable", "AuditTable", "EphemeralTable")
    }
    create_tables(clients.dynamodb, template, names)
    settings = Settings(
        aws_region=REGION,
        kms_key_id=key_id,
        directory_table=names["DirectoryTable"],
        templates_table=names["TemplatesTable"],
        audit_table=names["AuditTable"],
        ephemeral_table=names["EphemeralTable"],
    )
    engine = memory.MemoryFaceEngine()
    face = np.random.default_rng(7).normal(size=128).astype(np.float32)
    engine.register(b"selfie", face)
    engine.register(b"frame-same", face)
    engine.register(b"frame-other", np.random.default_rng(8).normal(size=128).astype(np.float32))
    services = wire_backend("moto", settings, clients, KmsKeyService(clients.kms, key_id)).services
    services.engine = lambda: engine
    monkeypatch.setattr(deps, "_services", services)
    table_ids = {name: logical_id for logical_id, name in names.items()}
    calls: list[tuple[str, str, str, str | None]] = []
    current = [""]

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name == "cognito-idp":
            calls.append((current[0], f"cognito-idp:{model.name}", "UserPool", None))
        elif model.service_model.service_name == "kms":
            calls.append(
                (current[0], f"kms:{model.name}", "DataKey", params.get("EncryptionContext", {}).get("facegate"))
            )
        elif model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, op),) = item.items()
                calls.append((current[0], f"dynamodb:{TRANSACTION_ACTIONS[kind]}", table_ids[op["TableName"]], None))
        else:
            table = table_ids[params["TableName"]]
            if params.get("IndexName"):
                table += f"/index/{params['IndexName']}"
            calls.append((current[0], f"dynamodb:{model.name}", table, None))

    import boto3

    from facegate.adapters.cognito import CognitoDirectory

    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool_id = cognito.create_user_pool(PoolName="lp", UsernameAttributes=["email"])["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool_id, GroupName="hosts")
    services.directory = CognitoDirectory(cognito, pool_id)
    cognito.meta.events.register("before-parameter-build.cognito-idp", record)

    clients.dynamodb.meta.events.register("before-parameter-build.dynamodb", record)
    clients.kms.meta.events.register("before-parameter-build.kms", record)
    handlers = {}
    for logical_id, folder in HANDLER_DIRS.items():
        spec = importlib.util.spec_from_file_location(f"facegate_fn_{folder}", REPO / "functions" / folder / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handlers[logical_id] = module.lambda_handler

    def call(function: str, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        current[0] = function
        response = handlers[function](_event(method, path, **kwargs), _Context())
        assert response["statusCode"] == expect, (function, path, response.get("body"))
        body = response.get("body") or "{}"
        return (
            json.loads(body)
            if response.get("headers", {}).get("Content-Type", "").startswith("application/json")
            else {}
        )

    # When the whole product flow runs through the handlers
    admin = {"sub": "admin-1", "cognito:groups": "[admins]"}
    site = call(
        "ManageSitesFunction", "POST", "/sites", 201, json_body={"name": "HQ", "timezone": "Asia/Seoul"}, claims=admin
    )
    site_id = site["site_id"]
    door_id = call(
        "ManageSitesFunction", "POST", f"/sites/{site_id}/doors", 201, json_body={"name": "Lobby"}, claims=admin
    )["door_id"]
    terminal = call(
        "ManageSitesFunction",
        "POST",
        f"/sites/{site_id}/terminals",
        201,
        json_body={"name": "Kiosk", "door_ids": [door_id]},
        claims=admin,
    )
    host = {"sub": "host-1", "cognito:groups": "[hosts]", "custom:site_ids": site_id}
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "door_ids": [door_id],
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(hours=2)).isoformat(),
    }
    invite = call("InviteVisitorsFunction", "POST", f"/sites/{site_id}/invites", 201, json_body=window, claims=host)
    other = call("InviteVisitorsFunction", "POST", f"/sites/{site_id}/invites", 201, json_body=window, claims=host)
    token = invite["token"]
    notice = call("RegisterVisitorFunction", "GET", f"/register/{token}/notice", 200)
    call(
        "RegisterVisitorFunction",
        "POST",
        f"/register/{token}/consent",
        201,
        json_body={"consent_version": notice["consent_version"], "accepted": True},
    )
    call(
        "RegisterVisitorFunction",
        "POST",
        f"/register/{token}/selfie",
        201,
        image=b"selfie",
        headers={"Idempotency-Key": "enroll-key-0001"},
    )
    call("RegisterVisitorFunction", "GET", f"/register/{token}/status", 200)
    call("RegisterVisitorFunction", "GET", f"/register/{'A' * 43}/status", 401)
    for frame, claim in ((b"frame-same", None), (b"frame-other", None), (b"frame-other", "ABCD2345")):
        stamp, nonce = str(int(time.time())), uuid.uuid4().hex
        path = f"/doors/{door_id}/verify"
        signature = signing.sign(terminal["secret"], signing.canonical_string("POST", path, stamp, nonce, frame, claim))
        headers = {
            "X-Facegate-Key-Id": terminal["key_id"],
            "X-Facegate-Timestamp": stamp,
            "X-Facegate-Nonce": nonce,
            "X-Facegate-Signature": signature,
            **({"X-Facegate-Claim": claim} if claim else {}),
        }
        call("VerifyAtDoorFunction", "POST", path, 200, image=frame, headers=headers)
    call("RegisterVisitorFunction", "DELETE", f"/register/{token}", 200)
    call("InviteVisitorsFunction", "DELETE", f"/invites/{other['invite_id']}", 200, claims=host)
    call("ManageSitesFunction", "GET", f"/sites/{site_id}/audit", 200, claims=admin)
    # the console's reads and changes (issue 14)
    call("ManageSitesFunction", "GET", "/me", 200, claims=host)
    call("ManageSitesFunction", "GET", "/sites", 200, claims=admin)
    call("ManageSitesFunction", "GET", f"/sites/{site_id}", 200, claims=host)
    call("ManageSitesFunction", "GET", f"/sites/{site_id}/doors", 200, claims=host)
    call("ManageSitesFunction", "GET", f"/sites/{site_id}/terminals", 200, claims=admin)
    call("InviteVisitorsFunction", "GET", f"/sites/{site_id}/invites", 200, claims=host)
    call("InviteVisitorsFunction", "GET", f"/invites/{invite['invite_id']}", 200, claims=host)
    rotated = f"/sites/{site_id}/terminals/{terminal['terminal_id']}/rotate"
    call("ManageSitesFunction", "POST", rotated, 200, claims=admin)
    issued = f"/sites/{site_id}/terminals/{terminal['terminal_id']}/pairing"
    code = call("ManageSitesFunction", "POST", issued, 201, claims=admin)["pairing_code"]
    call("PairKioskFunction", "POST", "/pair", 200, json_body={"pairing_code": code})
    call("PairKioskFunction", "POST", "/pair", 404, json_body={"pairing_code": code})
    new_host = {"email": "hana@example.com", "name": "Hana", "site_ids": [site_id]}
    username = call("ManageSitesFunction", "POST", "/hosts", 201, json_body=new_host, claims=admin)["username"]
    call("ManageSitesFunction", "GET", "/hosts", 200, claims=admin)
    call("ManageSitesFunction", "DELETE", f"/hosts/{username}", 200, claims=admin)
    call("ManageSitesFunction", "GET", f"/sites/{site_id}/audit/csv", 200, claims=admin)
    spare = call("ManageSitesFunction", "POST", f"/sites/{site_id}/doors", 201, json_body={"name": "S"}, claims=admin)
    call("ManageSitesFunction", "DELETE", f"/sites/{site_id}/doors/{spare['door_id']}", 200, claims=admin)
    call("ManageSitesFunction", "DELETE", f"/terminals/{terminal['terminal_id']}", 200, claims=admin)
    for path in ("/openapi.json", "/kiosk"):
        call("ServePagesFunction", "GET", path, 200)
    # Then every call a function made is granted by that function's own policy, and nothing more
    # than its policy names is ever needed (ServePages touches no data at all)
    allowed = _allowed(template)
    denied = sorted({call_ for call_ in calls if call_[1:] not in allowed[call_[0]]})
    assert denied == [], f"calls outside the function's IAM policy: {denied}"
    used = {function for function, *_ in calls}
    assert used == set(HANDLER_DIRS) - {"ServePagesFunction"}
    for function, grants in allowed.items():
        unused = sorted(grants - {call_[1:] for call_ in calls if call_[0] == function}, key=str)
        print(f"{function}: granted but not exercised by this flow: {unused}")
