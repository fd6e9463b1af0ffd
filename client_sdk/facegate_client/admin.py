"""Admin and host client: sites, doors, terminals, invites, erasure and the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from facegate_client._http import ApiClient, ClientOptions, load, segment
from facegate_client._time import parse_rfc3339, to_rfc3339
from facegate_client.models import (
    AuditPage,
    AuditRecord,
    Door,
    DoorPage,
    DoorSummary,
    ErasureReceipt,
    Host,
    HostPage,
    Invite,
    InviteDetail,
    InviteMail,
    InvitePage,
    InviteSummary,
    Me,
    NewHost,
    Pairing,
    Site,
    SitePage,
    SiteSummary,
    Terminal,
    TerminalPage,
    TerminalRevocation,
    TerminalSummary,
)

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["INVITE_STATUSES", "AdminClient"]

INVITE_STATUSES = ("invited", "consented", "enrolled", "arrived", "expired", "erased")
"""Statuses ``invites(..., status=)`` can filter by."""
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class _Page(Protocol[_T_co]):
    @property
    def items(self) -> tuple[_T_co, ...]: ...

    @property
    def next_token(self) -> str | None: ...


def _follow(fetch: Callable[[str | None], _Page[_T]], max_items: int | None) -> Iterator[_T]:
    """Items of every page ``fetch(next_token)`` returns, lazily, at most ``max_items``."""
    token: str | None = None
    produced = 0
    while max_items is None or produced < max_items:
        page = fetch(token)
        for item in page.items:
            if max_items is not None and produced >= max_items:
                return
            produced += 1
            yield item
        if not page.next_token or page.next_token == token:
            return
        token = page.next_token


def _page_query(limit: int | None, next_token: str | None, **extra: str | None) -> dict[str, str]:
    query = {name: value for name, value in extra.items() if value is not None}
    if limit is not None:
        if not 1 <= limit <= 100:
            raise ValueError("limit must be 1 to 100")
        query["limit"] = str(limit)
    if next_token is not None:
        query["next_token"] = next_token
    return query


class AdminClient(ApiClient):
    """Client for admins (group ``admins``) and hosts (group ``hosts``: invites and invite erasure only).

    Args:
        api_url: API base URL, for example ``https://abc.execute-api.eu-west-1.amazonaws.com``.
        token: a Cognito ID token (JWT), sent as ``Authorization: Bearer <token>``.
        options: ``timeout``, ``retries``, ``sleep``, ``transport``, ``user_agent`` (:class:`ClientOptions`).
            Creations (POST) are retried only when the connection could not be established; GET and
            DELETE also on 429, 5xx and timeouts.
    """

    def __init__(self, api_url: str, token: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(api_url, **options)
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token or any(char.isspace() for char in token):
            raise ValueError("token must be a non-empty bearer token without whitespace")
        self._auth = {"Authorization": f"Bearer {token}"}

    def __repr__(self) -> str:
        return f"AdminClient(api_url={self.api_url!r})"

    def create_site(self, name: str, timezone: str, *, security_level: str | None = None) -> Site:
        """Create a site.

        Args:
            name: display name.
            timezone: IANA zone name (``Asia/Seoul``).
            security_level: ``standard`` (the server's default) or ``high``; the result's ``policy`` shows the
                thresholds and expected rates the level means.
        """
        payload: dict[str, Any] = {"name": name, "timezone": timezone}
        if security_level is not None:
            payload["security_level"] = security_level
        return load(Site, self.call("POST", "/sites", payload=payload, headers=self._auth, idempotent=False))

    def update_site(
        self,
        site_id: str,
        *,
        name: str | None = None,
        security_level: str | None = None,
        accept_terminal_liveness: bool | None = None,
    ) -> Site:
        """Rename a site, change its security level (``standard`` or ``high``) and/or whether the signed liveness
        verdict of terminals registered with ``attests_liveness`` replaces the head-turn challenge (a trust
        decision, audited); applies at the next door request."""
        payload: dict[str, Any] = {}
        if name is not None:
            payload["name"] = name
        if security_level is not None:
            payload["security_level"] = security_level
        if accept_terminal_liveness is not None:
            payload["accept_terminal_liveness"] = accept_terminal_liveness
        path = f"/sites/{segment(site_id)}"
        return load(Site, self.call("PATCH", path, payload=payload, headers=self._auth, idempotent=True))

    def create_door(self, site_id: str, name: str) -> Door:
        """Create a door; the result's ``unlock_key`` is shown only now (configure the door controller with it)."""
        path = f"/sites/{segment(site_id)}/doors"
        return load(Door, self.call("POST", path, payload={"name": name}, headers=self._auth, idempotent=False))

    def create_terminal(
        self, site_id: str, name: str, door_ids: Sequence[str], *, attests_liveness: bool = False
    ) -> Terminal:
        """Register a door terminal for some doors of a site; the result's ``secret`` is shown only now.

        ``attests_liveness``: the terminal has its own presentation-attack detection and sends its verdict
        (:meth:`TerminalClient.verify` ``liveness=``); it counts where the site accepts it.
        """
        if isinstance(door_ids, str):
            raise TypeError("door_ids must be a sequence of ids, not a string")
        path = f"/sites/{segment(site_id)}/terminals"
        payload: dict[str, Any] = {"name": name, "door_ids": list(door_ids)}
        if attests_liveness:
            payload["attests_liveness"] = True
        return load(Terminal, self.call("POST", path, payload=payload, headers=self._auth, idempotent=False))

    def revoke_terminal(self, terminal_id: str) -> TerminalRevocation:
        """Revoke a terminal key; its next request is refused with ``key_revoked``."""
        path = f"/terminals/{segment(terminal_id)}"
        return load(TerminalRevocation, self.call("DELETE", path, headers=self._auth, idempotent=True))

    def create_invite(
        self,
        site_id: str,
        door_ids: Sequence[str],
        valid_from: datetime | str,
        valid_until: datetime | str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        notify_on_arrival: bool = False,
    ) -> Invite:
        """Invite a visitor to some doors of a site for a time window.

        Args:
            site_id: the site.
            door_ids: doors the visitor may open.
            valid_from, valid_until: window as aware datetimes or RFC 3339 strings with an offset;
                sent as RFC 3339 UTC (``...Z``). Naive datetimes are refused (their zone is ambiguous).
            display_name: optional name shown to the host (data minimisation: nothing else).
            email: optional visitor e-mail; the server mails the link there (ko/en) and keeps the address only
                as long as the invite (``Invite.email_sent`` says whether SES took the mail).
            notify_on_arrival: e-mail the inviting host (their token's e-mail) on the visitor's first grant.

        Returns:
            The invite; give ``registration_url`` to the visitor.

        Raises:
            ValueError: naive datetime, unparseable string, or ``valid_until`` not after ``valid_from``.
        """
        if isinstance(door_ids, str):
            raise TypeError("door_ids must be a sequence of ids, not a string")
        start, end = to_rfc3339(valid_from), to_rfc3339(valid_until)
        if parse_rfc3339(end) <= parse_rfc3339(start):
            raise ValueError("valid_until must be after valid_from")
        payload: dict[str, Any] = {"door_ids": list(door_ids), "valid_from": start, "valid_until": end}
        if display_name is not None:
            payload["display_name"] = display_name
        if email is not None:
            payload["email"] = email
        if notify_on_arrival:
            payload["notify_on_arrival"] = True
        path = f"/sites/{segment(site_id)}/invites"
        return load(Invite, self.call("POST", path, payload=payload, headers=self._auth, idempotent=False))

    def resend_invite_email(self, invite_id: str) -> InviteMail:
        """Send the invite mail again to the invite's e-mail (hosts of the site, admins).

        Raises:
            ConflictError: ``no_email`` (the invite has none), ``mail_not_configured`` (no sender).
            GoneError: the invite was cancelled or erased, or it expired.
            ServiceUnavailableError: ``delivery_failed`` (SES refused or failed).
        """
        path = f"/invites/{segment(invite_id)}/email"
        return load(InviteMail, self.call("POST", path, headers=self._auth, idempotent=False))

    def erase_invite(self, invite_id: str) -> ErasureReceipt:
        """Erase an invite and everything stored for its visitor; the token stops working.

        A retried DELETE whose first attempt succeeded unseen may answer 410 (:class:`GoneError`).
        """
        path = f"/invites/{segment(invite_id)}"
        return load(ErasureReceipt, self.call("DELETE", path, headers=self._auth, idempotent=True))

    def audit_page(
        self,
        site_id: str,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        door_id: str | None = None,
        decision: str | None = None,
        event: str | None = None,
    ) -> AuditPage:
        """Fetch one page of a site's audit log (``start``/``end`` are sent as the ``from``/``to`` query),
        optionally only one door's, one decision's (``grant``, ``deny``, ``refused``) or one event kind's."""
        query = _audit_query(start, end, door_id, decision, event)
        if limit is not None:
            if limit < 1:
                raise ValueError("limit must be ≥ 1")
            query["limit"] = str(limit)
        if next_token is not None:
            query["next_token"] = next_token
        path = f"/sites/{segment(site_id)}/audit"
        return load(AuditPage, self.call("GET", path, query=query, headers=self._auth, idempotent=True))

    def audit(
        self,
        site_id: str,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        page_size: int | None = None,
        max_items: int | None = None,
        door_id: str | None = None,
        decision: str | None = None,
        event: str | None = None,
    ) -> Iterator[AuditRecord]:
        """Iterate over a site's audit records, fetching pages lazily by following ``next_token``.

        Args:
            site_id: the site.
            start, end: time window (aware datetimes or RFC 3339 strings), sent as ``from`` and ``to``.
            page_size: records per request (the ``limit`` query); default: the server's.
            max_items: stop after this many records; default: all.
        """
        return _follow(
            lambda token: self.audit_page(
                site_id,
                start=start,
                end=end,
                limit=page_size,
                next_token=token,
                door_id=door_id,
                decision=decision,
                event=event,
            ),
            max_items,
        )

    def audit_csv(
        self,
        site_id: str,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        door_id: str | None = None,
        decision: str | None = None,
        event: str | None = None,
    ) -> str:
        """The audit log with the same filters as :meth:`audit` as CSV text (RFC 4180; text cells that start
        with ``= + - @`` carry a leading apostrophe; at most 10,000 rows)."""
        query = _audit_query(start, end, door_id, decision, event)
        path = f"/sites/{segment(site_id)}/audit/csv"
        return self.call("GET", path, query=query, headers=self._auth, idempotent=True).body.decode("utf-8")

    # --- the console (issue 14) ------------------------------------------------------------------

    def me(self) -> Me:
        """Who the token belongs to and what it may do (``role`` ``admin`` or ``host``)."""
        return load(Me, self.call("GET", "/me", headers=self._auth, idempotent=True))

    def sites_page(self, *, limit: int | None = None, next_token: str | None = None) -> SitePage:
        """One page of sites (admins: every site; hosts: their own), oldest first."""
        query = _page_query(limit, next_token)
        return load(SitePage, self.call("GET", "/sites", query=query, headers=self._auth, idempotent=True))

    def sites(self, *, page_size: int | None = None, max_items: int | None = None) -> Iterator[SiteSummary]:
        """Every site the caller may see, fetching pages lazily."""
        return _follow(lambda token: self.sites_page(limit=page_size, next_token=token), max_items)

    def get_site(self, site_id: str) -> Site:
        """One site with its level's policy table (admins, hosts of the site)."""
        return load(Site, self.call("GET", f"/sites/{segment(site_id)}", headers=self._auth, idempotent=True))

    def retire_site(self, site_id: str) -> Site:
        """Retire a site (admins): no new doors, terminals or invites (``site_retired``); its doors refuse."""
        path = f"/sites/{segment(site_id)}"
        return load(Site, self.call("DELETE", path, headers=self._auth, idempotent=True))

    def doors_page(self, site_id: str, *, limit: int | None = None, next_token: str | None = None) -> DoorPage:
        """One page of a site's doors, oldest first (admins, hosts of the site)."""
        path = f"/sites/{segment(site_id)}/doors"
        query = _page_query(limit, next_token)
        return load(DoorPage, self.call("GET", path, query=query, headers=self._auth, idempotent=True))

    def doors(self, site_id: str, *, page_size: int | None = None) -> Iterator[DoorSummary]:
        """Every door of a site (retired ones too, with ``retired_at``)."""
        return _follow(lambda token: self.doors_page(site_id, limit=page_size, next_token=token), None)

    def retire_door(self, site_id: str, door_id: str) -> DoorSummary:
        """Retire a door (admins): terminals can no longer open it, invites can no longer name it."""
        path = f"/sites/{segment(site_id)}/doors/{segment(door_id)}"
        return load(DoorSummary, self.call("DELETE", path, headers=self._auth, idempotent=True))

    def terminals_page(self, site_id: str, *, limit: int | None = None, next_token: str | None = None) -> TerminalPage:
        """One page of a site's terminals, oldest first (admins); never a secret."""
        path = f"/sites/{segment(site_id)}/terminals"
        query = _page_query(limit, next_token)
        return load(TerminalPage, self.call("GET", path, query=query, headers=self._auth, idempotent=True))

    def terminals(self, site_id: str, *, page_size: int | None = None) -> Iterator[TerminalSummary]:
        """Every terminal of a site (revoked ones too)."""
        return _follow(lambda token: self.terminals_page(site_id, limit=page_size, next_token=token), None)

    def rotate_terminal(self, site_id: str, terminal_id: str) -> Terminal:
        """A new key id and secret for a terminal (admins); the result's ``secret`` is shown only now and the
        old key stops working at once. Not retried once sent (a retry would rotate again)."""
        path = f"/sites/{segment(site_id)}/terminals/{segment(terminal_id)}/rotate"
        return load(Terminal, self.call("POST", path, headers=self._auth, idempotent=False))

    def create_pairing(self, site_id: str, terminal_id: str) -> Pairing:
        """A one-time code (<= 10 minutes) a kiosk trades for the terminal's credentials (admins); show
        ``pairing_url`` as a QR code or give the kiosk ``pairing_code`` (:func:`facegate_client.pair_kiosk`)."""
        path = f"/sites/{segment(site_id)}/terminals/{segment(terminal_id)}/pairing"
        return load(Pairing, self.call("POST", path, headers=self._auth, idempotent=False))

    def invites_page(
        self, site_id: str, *, status: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> InvitePage:
        """One page of a site's invites, newest first, optionally of one status (:data:`INVITE_STATUSES`)."""
        if status is not None and status not in INVITE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(INVITE_STATUSES)}")
        path = f"/sites/{segment(site_id)}/invites"
        query = _page_query(limit, next_token, status=status)
        return load(InvitePage, self.call("GET", path, query=query, headers=self._auth, idempotent=True))

    def invites(
        self,
        site_id: str,
        *,
        status: str | None = None,
        page_size: int | None = None,
        max_items: int | None = None,
    ) -> Iterator[InviteSummary]:
        """A site's invites, newest first, fetching pages lazily (hosts of the site, admins)."""
        return _follow(
            lambda token: self.invites_page(site_id, status=status, limit=page_size, next_token=token), max_items
        )

    def get_invite(self, invite_id: str) -> InviteDetail:
        """One invite with its status and registration link (to show the link or its QR code again)."""
        path = f"/invites/{segment(invite_id)}"
        return load(InviteDetail, self.call("GET", path, headers=self._auth, idempotent=True))

    def create_host(self, email: str, name: str, site_ids: Sequence[str]) -> NewHost:
        """Create a host user of some sites (admins); the result's ``temporary_password`` is shown only now."""
        if isinstance(site_ids, str):
            raise TypeError("site_ids must be a sequence of ids, not a string")
        payload = {"email": email, "name": name, "site_ids": list(site_ids)}
        return load(NewHost, self.call("POST", "/hosts", payload=payload, headers=self._auth, idempotent=False))

    def hosts_page(self, *, limit: int | None = None, next_token: str | None = None) -> HostPage:
        """One page of host users, by e-mail (admins)."""
        query = _page_query(limit, next_token)
        return load(HostPage, self.call("GET", "/hosts", query=query, headers=self._auth, idempotent=True))

    def hosts(self, *, page_size: int | None = None) -> Iterator[Host]:
        """Every host user (admins)."""
        return _follow(lambda token: self.hosts_page(limit=page_size, next_token=token), None)

    def disable_host(self, username: str) -> Host:
        """Disable a host user (admins): sign-in is refused and their refresh tokens are revoked."""
        path = f"/hosts/{segment(username)}"
        return load(Host, self.call("DELETE", path, headers=self._auth, idempotent=True))


def _audit_query(
    start: datetime | str | None,
    end: datetime | str | None,
    door_id: str | None,
    decision: str | None,
    event: str | None,
) -> dict[str, str]:
    """The query of an audit read: the window as ``from``/``to`` (RFC 3339) and the filters that are set."""
    values = {
        "from": None if start is None else to_rfc3339(start),
        "to": None if end is None else to_rfc3339(end),
        "door_id": door_id,
        "decision": decision,
        "event": event,
    }
    return {name: value for name, value in values.items() if value is not None}
