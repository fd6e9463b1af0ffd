"""Admin and host client: sites, doors, terminals, invites, erasure and the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar

from facegate_client._http import ApiClient, ClientOptions, load, segment
from facegate_client._options import check_keywords
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
    _Model,
)

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["INVITE_STATUSES", "AdminClient", "AuditFilters", "SiteChanges"]

INVITE_STATUSES = ("invited", "consented", "enrolled", "arrived", "expired", "erased")
"""Statuses ``invites(..., status=)`` can filter by."""
_T = TypeVar("_T")
_M = TypeVar("_M", bound=_Model)
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

    def _load(
        self,
        model: type[_M],
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> _M:
        """``method path`` with the token, its answer read as ``model``; only a POST (a creation) is not idempotent."""
        response = self.call(
            method, path, payload=payload, query=query, headers=self._auth, idempotent=method != "POST"
        )
        return load(model, response)

    def _page(self, model: type[_M], path: str, limit: int | None, next_token: str | None, **extra: str | None) -> _M:
        """One page of the listing at ``path`` (``extra``: its filters that are set)."""
        return self._load(model, "GET", path, query=_page_query(limit, next_token, **extra))

    def create_site(self, name: str, timezone: str, *, security_level: str | None = None) -> Site:
        """Create a site.

        Args:
            name: display name.
            timezone: IANA zone name (``Asia/Seoul``).
            security_level: ``standard`` (the server's default) or ``high``; the result's ``policy`` shows the
                thresholds and expected rates the level means.
        """
        payload = _present(name=name, timezone=timezone, security_level=security_level)
        return self._load(Site, "POST", "/sites", payload=payload)

    def update_site(self, site_id: str, **changes: Unpack[SiteChanges]) -> Site:
        """Rename a site, change its security level (``standard`` or ``high``) and/or whether the signed liveness
        verdict of terminals registered with ``attests_liveness`` replaces the head-turn challenge (a trust
        decision, audited); applies at the next door request. ``changes``: :class:`SiteChanges`."""
        check_keywords(changes, SiteChanges.__optional_keys__)
        return self._load(Site, "PATCH", f"/sites/{segment(site_id)}", payload=_present(**changes))

    def create_door(self, site_id: str, name: str) -> Door:
        """Create a door; the result's ``unlock_key`` is shown only now (configure the door controller with it)."""
        path = f"/sites/{segment(site_id)}/doors"
        return self._load(Door, "POST", path, payload={"name": name})

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
        payload = _present(name=name, door_ids=list(door_ids), attests_liveness=attests_liveness or None)
        return self._load(Terminal, "POST", path, payload=payload)

    def revoke_terminal(self, terminal_id: str) -> TerminalRevocation:
        """Revoke a terminal key; its next request is refused with ``key_revoked``."""
        path = f"/terminals/{segment(terminal_id)}"
        return self._load(TerminalRevocation, "DELETE", path)

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
        payload = _present(
            door_ids=list(door_ids),
            valid_from=start,
            valid_until=end,
            display_name=display_name,
            email=email,
            notify_on_arrival=notify_on_arrival or None,
        )
        path = f"/sites/{segment(site_id)}/invites"
        return self._load(Invite, "POST", path, payload=payload)

    def resend_invite_email(self, invite_id: str) -> InviteMail:
        """Send the invite mail again to the invite's e-mail (hosts of the site, admins).

        Raises:
            ConflictError: ``no_email`` (the invite has none), ``mail_not_configured`` (no sender).
            GoneError: the invite was cancelled or erased, or it expired.
            ServiceUnavailableError: ``delivery_failed`` (SES refused or failed).
        """
        path = f"/invites/{segment(invite_id)}/email"
        return self._load(InviteMail, "POST", path)

    def erase_invite(self, invite_id: str) -> ErasureReceipt:
        """Erase an invite and everything stored for its visitor; the token stops working.

        A retried DELETE whose first attempt succeeded unseen may answer 410 (:class:`GoneError`).
        """
        path = f"/invites/{segment(invite_id)}"
        return self._load(ErasureReceipt, "DELETE", path)

    def audit_page(
        self, site_id: str, *, limit: int | None = None, next_token: str | None = None, **filters: Unpack[AuditFilters]
    ) -> AuditPage:
        """Fetch one page of a site's audit log, optionally filtered (:class:`AuditFilters`)."""
        query = _audit_query(filters)
        if limit is not None:
            if limit < 1:
                raise ValueError("limit must be ≥ 1")
            query["limit"] = str(limit)
        if next_token is not None:
            query["next_token"] = next_token
        return self._load(AuditPage, "GET", f"/sites/{segment(site_id)}/audit", query=query)

    def audit(
        self,
        site_id: str,
        *,
        page_size: int | None = None,
        max_items: int | None = None,
        **filters: Unpack[AuditFilters],
    ) -> Iterator[AuditRecord]:
        """Iterate over a site's audit records, fetching pages lazily by following ``next_token``.

        Args:
            site_id: the site.
            page_size: records per request (the ``limit`` query); default: the server's.
            max_items: stop after this many records; default: all.
            filters: ``start``, ``end``, ``door_id``, ``decision``, ``event`` (:class:`AuditFilters`).
        """
        return _follow(
            lambda token: self.audit_page(site_id, limit=page_size, next_token=token, **filters),
            max_items,
        )

    def audit_csv(self, site_id: str, **filters: Unpack[AuditFilters]) -> str:
        """The audit log with the same filters as :meth:`audit` as CSV text (RFC 4180; text cells that start
        with ``= + - @`` carry a leading apostrophe; at most 10,000 rows)."""
        path = f"/sites/{segment(site_id)}/audit/csv"
        response = self.call("GET", path, query=_audit_query(filters), headers=self._auth, idempotent=True)
        return response.body.decode("utf-8")

    # --- the console (issue 14) ------------------------------------------------------------------

    def me(self) -> Me:
        """Who the token belongs to and what it may do (``role`` ``admin`` or ``host``)."""
        return self._load(Me, "GET", "/me")

    def sites_page(self, *, limit: int | None = None, next_token: str | None = None) -> SitePage:
        """One page of sites (admins: every site; hosts: their own), oldest first."""
        return self._page(SitePage, "/sites", limit, next_token)

    def sites(self, *, page_size: int | None = None, max_items: int | None = None) -> Iterator[SiteSummary]:
        """Every site the caller may see, fetching pages lazily."""
        return _follow(lambda token: self.sites_page(limit=page_size, next_token=token), max_items)

    def get_site(self, site_id: str) -> Site:
        """One site with its level's policy table (admins, hosts of the site)."""
        return self._load(Site, "GET", f"/sites/{segment(site_id)}")

    def retire_site(self, site_id: str) -> Site:
        """Retire a site (admins): no new doors, terminals or invites (``site_retired``); its doors refuse."""
        path = f"/sites/{segment(site_id)}"
        return self._load(Site, "DELETE", path)

    def doors_page(self, site_id: str, *, limit: int | None = None, next_token: str | None = None) -> DoorPage:
        """One page of a site's doors, oldest first (admins, hosts of the site)."""
        path = f"/sites/{segment(site_id)}/doors"
        return self._page(DoorPage, path, limit, next_token)

    def doors(self, site_id: str, *, page_size: int | None = None) -> Iterator[DoorSummary]:
        """Every door of a site (retired ones too, with ``retired_at``)."""
        return _follow(lambda token: self.doors_page(site_id, limit=page_size, next_token=token), None)

    def retire_door(self, site_id: str, door_id: str) -> DoorSummary:
        """Retire a door (admins): terminals can no longer open it, invites can no longer name it."""
        path = f"/sites/{segment(site_id)}/doors/{segment(door_id)}"
        return self._load(DoorSummary, "DELETE", path)

    def terminals_page(self, site_id: str, *, limit: int | None = None, next_token: str | None = None) -> TerminalPage:
        """One page of a site's terminals, oldest first (admins); never a secret."""
        path = f"/sites/{segment(site_id)}/terminals"
        return self._page(TerminalPage, path, limit, next_token)

    def terminals(self, site_id: str, *, page_size: int | None = None) -> Iterator[TerminalSummary]:
        """Every terminal of a site (revoked ones too)."""
        return _follow(lambda token: self.terminals_page(site_id, limit=page_size, next_token=token), None)

    def rotate_terminal(self, site_id: str, terminal_id: str) -> Terminal:
        """A new key id and secret for a terminal (admins); the result's ``secret`` is shown only now and the
        old key stops working at once. Not retried once sent (a retry would rotate again)."""
        path = f"/sites/{segment(site_id)}/terminals/{segment(terminal_id)}/rotate"
        return self._load(Terminal, "POST", path)

    def create_pairing(self, site_id: str, terminal_id: str) -> Pairing:
        """A one-time code (<= 10 minutes) a kiosk trades for the terminal's credentials (admins); show
        ``pairing_url`` as a QR code or give the kiosk ``pairing_code`` (:func:`facegate_client.pair_kiosk`)."""
        path = f"/sites/{segment(site_id)}/terminals/{segment(terminal_id)}/pairing"
        return self._load(Pairing, "POST", path)

    def invites_page(
        self, site_id: str, *, status: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> InvitePage:
        """One page of a site's invites, newest first, optionally of one status (:data:`INVITE_STATUSES`)."""
        if status is not None and status not in INVITE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(INVITE_STATUSES)}")
        path = f"/sites/{segment(site_id)}/invites"
        return self._page(InvitePage, path, limit, next_token, status=status)

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
        return self._load(InviteDetail, "GET", path)

    def create_host(self, email: str, name: str, site_ids: Sequence[str]) -> NewHost:
        """Create a host user of some sites (admins); the result's ``temporary_password`` is shown only now."""
        if isinstance(site_ids, str):
            raise TypeError("site_ids must be a sequence of ids, not a string")
        payload = {"email": email, "name": name, "site_ids": list(site_ids)}
        return self._load(NewHost, "POST", "/hosts", payload=payload)

    def hosts_page(self, *, limit: int | None = None, next_token: str | None = None) -> HostPage:
        """One page of host users, by e-mail (admins)."""
        return self._page(HostPage, "/hosts", limit, next_token)

    def hosts(self, *, page_size: int | None = None) -> Iterator[Host]:
        """Every host user (admins)."""
        return _follow(lambda token: self.hosts_page(limit=page_size, next_token=token), None)

    def disable_host(self, username: str) -> Host:
        """Disable a host user (admins): sign-in is refused and their refresh tokens are revoked."""
        path = f"/hosts/{segment(username)}"
        return self._load(Host, "DELETE", path)


def _present(**values: Any) -> dict[str, Any]:
    """A JSON body of the ``values`` that are set (not None)."""
    return {name: value for name, value in values.items() if value is not None}


class SiteChanges(TypedDict, total=False):
    """The changes :meth:`AdminClient.update_site` sends; each one left out or None stays as it is.

    Keys:
        name: the site's new display name.
        security_level: ``standard`` or ``high``.
        accept_terminal_liveness: whether the signed liveness verdict of terminals registered with
            ``attests_liveness`` replaces the head-turn challenge at the site.
    """

    name: str | None
    security_level: str | None
    accept_terminal_liveness: bool | None


class AuditFilters(TypedDict, total=False):
    """The filters of an audit read (keyword arguments of :meth:`AdminClient.audit`, ``audit_page`` and
    ``audit_csv``); each one left out or None does not filter.

    Keys:
        start, end: time window (aware datetimes or RFC 3339 strings), sent as the ``from`` and ``to`` query.
        door_id: only this door's records.
        decision: only this decision's (``grant``, ``deny``, ``refused``).
        event: only this event kind's (``verify``, ``invite``, ``terminal_paired``, ...).
    """

    start: datetime | str | None
    end: datetime | str | None
    door_id: str | None
    decision: str | None
    event: str | None


def _audit_query(filters: AuditFilters) -> dict[str, str]:
    """The query of an audit read: the window as ``from``/``to`` (RFC 3339) and the filters that are set."""
    check_keywords(filters, AuditFilters.__optional_keys__)
    start, end = filters.get("start"), filters.get("end")
    window = {"from": None if start is None else to_rfc3339(start), "to": None if end is None else to_rfc3339(end)}
    return _present(
        **window, door_id=filters.get("door_id"), decision=filters.get("decision"), event=filters.get("event")
    )
