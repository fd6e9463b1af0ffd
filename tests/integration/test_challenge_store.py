"""Liveness storage (issue 16) against the in-memory adapter, moto and DynamoDB Local: a challenge is taken once
(also under concurrent takes), never after its expiry; a door's fingerprint memory covers one to two windows; a
terminal's ``attests_liveness`` and a site's ``accept_terminal_liveness`` round-trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from facegate.domain.models import Challenge, Movement, SecurityLevel, Site, SiteChanges, Terminal

if TYPE_CHECKING:
    from conftest import Backend

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
STEPS = (Movement.STRAIGHT, Movement.LEFT, Movement.UP)


def challenge(challenge_id: str, ttl: float = 10) -> Challenge:
    return Challenge(challenge_id, "term_1", "door_1", STEPS, T0, T0 + timedelta(seconds=ttl))


def test_a_challenge_round_trips_and_is_taken_once(backend: Backend) -> None:
    store = backend.services.ephemeral
    # Given a stored challenge
    store.put_challenge(challenge("chl_one"))
    # When it is taken, Then every field comes back
    taken = store.take_challenge("chl_one", T0 + timedelta(seconds=3))
    assert taken == challenge("chl_one")
    # And a second take finds nothing
    assert store.take_challenge("chl_one", T0 + timedelta(seconds=3)) is None


def test_concurrent_takes_get_a_challenge_once(backend: Backend) -> None:
    store = backend.services.ephemeral
    store.put_challenge(challenge("chl_race"))
    # When eight requests take the same challenge at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.take_challenge("chl_race", T0), range(8)))
    # Then exactly one gets it
    assert sum(result is not None for result in results) == 1


def test_an_expired_challenge_is_not_given_out(backend: Backend) -> None:
    store = backend.services.ephemeral
    # Given a challenge whose storage TTL has not run yet
    store.put_challenge(challenge("chl_old"))
    # When it is taken at its expiry, Then it is refused (and gone)
    assert store.take_challenge("chl_old", T0 + timedelta(seconds=10)) is None
    assert store.take_challenge("chl_old", T0) is None
    assert store.take_challenge("chl_never_issued", T0) is None


def test_fingerprints_are_remembered_per_scope_for_one_to_two_windows(backend: Backend) -> None:
    store = backend.services.ephemeral
    big = 2**64 - 1
    # Given fingerprints remembered at a door in two requests
    store.remember_fingerprints("liveness#site_a#door_1", [1, big], 300, T0)
    store.remember_fingerprints("liveness#site_a#door_1", [7], 300, T0 + timedelta(seconds=1))
    # Then all are seen now and a window later (64-bit values intact), none two windows later or elsewhere
    assert sorted(store.recent_fingerprints("liveness#site_a#door_1", 300, T0)) == [1, 7, big]
    assert sorted(store.recent_fingerprints("liveness#site_a#door_1", 300, T0 + timedelta(seconds=300))) == [1, 7, big]
    assert store.recent_fingerprints("liveness#site_a#door_1", 300, T0 + timedelta(seconds=600)) == []
    assert store.recent_fingerprints("liveness#site_a#door_2", 300, T0) == []


def test_liveness_trust_round_trips(backend: Backend) -> None:
    repo = backend.services.repo
    # Given a site and a terminal registered with its own presentation-attack detection
    repo.put_site(Site("site_a", "Site A", "Asia/Seoul", T0, b"\x01" * 40, SecurityLevel.HIGH))
    terminal = Terminal("term_1", "site_a", "3D kiosk", ("door_1",), "key_1", b"\x02" * 60, T0, attests_liveness=True)
    repo.put_terminal(terminal)
    # Then the terminal reads back as attesting, by id and by key
    assert repo.get_terminal("term_1") == terminal
    assert repo.get_terminal_by_key("key_1") == terminal
    # And a site accepts terminal verdicts only once told so; changing the level leaves that alone
    assert repo.get_site("site_a").accept_terminal_liveness is False  # type: ignore[union-attr]
    updated = repo.update_site("site_a", SiteChanges(accept_terminal_liveness=True))
    assert updated is not None and updated.accept_terminal_liveness is True
    again = repo.update_site("site_a", SiteChanges(security_level=SecurityLevel.STANDARD))
    assert again is not None and again.accept_terminal_liveness is True
    assert again.security_level is SecurityLevel.STANDARD
    assert repo.update_site("site_missing", SiteChanges(accept_terminal_liveness=True)) is None
