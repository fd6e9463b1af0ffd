"""The Amazon Cognito adapter of :class:`~facegate.ports.Directory` (host users, names behind user ids).

Hosts are users of the stack's user pool in the group ``hosts`` with ``custom:site_ids`` (comma-separated
site ids). The pool signs in by e-mail, so Cognito names each user by a generated id (the user's ``sub``).
Users are created with ``MessageAction=SUPPRESS``: no invitation e-mail; the admin hands over the temporary
password, which Cognito makes the user change at first sign-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from facegate.adapters.dynamodb._client import aws_client, error_code, pages, unavailable_on_transient
from facegate.domain.models import HostUser
from facegate.errors import Conflict, InvalidRequest
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

HOSTS_GROUP = "hosts"
SITE_IDS_ATTRIBUTE = "custom:site_ids"
MAX_NAME_LOOKUPS = 50
"""Distinct user ids resolved per call of :meth:`CognitoDirectory.names_for` (one ListUsers each)."""
_SUB = re.compile(r"[0-9a-fA-F-]{8,64}")


def cognito_client(settings: Settings) -> CognitoIdentityProviderClient:
    """A ``cognito-idp`` client for ``settings`` (the emulator endpoint when configured)."""
    client: CognitoIdentityProviderClient = aws_client("cognito-idp", settings)
    return client


def _attributes(user: Mapping[str, Any]) -> dict[str, str]:
    return {str(a["Name"]): str(a.get("Value", "")) for a in user.get("Attributes") or user.get("UserAttributes") or []}


def _host(user: Mapping[str, Any]) -> HostUser:
    attributes = _attributes(user)
    created = user.get("UserCreateDate")
    created_at = created.astimezone(UTC) if isinstance(created, datetime) else datetime.now(UTC)
    return HostUser(
        username=str(user["Username"]),
        email=attributes.get("email", ""),
        name=attributes.get("name", ""),
        site_ids=tuple(item for item in attributes.get(SITE_IDS_ATTRIBUTE, "").split(",") if item),
        enabled=bool(user.get("Enabled", True)),
        created_at=created_at.replace(microsecond=0),
        sub=attributes.get("sub"),
    )


class CognitoDirectory:
    """Host users of one Cognito user pool (see the module docstring)."""

    def __init__(self, client: CognitoIdentityProviderClient, user_pool_id: str) -> None:
        self._client = client
        self._pool = user_pool_id

    def create_host(self, email: str, name: str, site_ids: Sequence[str], temporary_password: str) -> HostUser:
        """AdminCreateUser (e-mail verified, no message) then AdminAddUserToGroup ``hosts``.

        Raises:
            Conflict: ``host_exists`` (a user with this e-mail exists).
            InvalidRequest: ``invalid_host`` (Cognito refused an attribute).
        """
        try:
            with unavailable_on_transient():
                created = self._client.admin_create_user(
                    UserPoolId=self._pool,
                    Username=email,
                    UserAttributes=[
                        {"Name": "email", "Value": email},
                        {"Name": "email_verified", "Value": "true"},
                        {"Name": "name", "Value": name},
                        {"Name": SITE_IDS_ATTRIBUTE, "Value": ",".join(site_ids)},
                    ],
                    TemporaryPassword=temporary_password,
                    MessageAction="SUPPRESS",
                )["User"]
        except ClientError as exc:
            if error_code(exc) in ("UsernameExistsException", "AliasExistsException"):
                raise Conflict("a user with this e-mail exists", code="host_exists") from exc
            if error_code(exc) in ("InvalidParameterException", "InvalidPasswordException"):
                raise InvalidRequest("the user directory refused this host", code="invalid_host") from exc
            raise
        username = str(created["Username"])
        with unavailable_on_transient():
            self._client.admin_add_user_to_group(UserPoolId=self._pool, Username=username, GroupName=HOSTS_GROUP)
        return _host(created)

    def list_hosts(self) -> list[HostUser]:
        """ListUsersInGroup ``hosts``, every page, ordered by e-mail."""
        hosts: list[HostUser] = []
        kwargs: dict[str, Any] = {"UserPoolId": self._pool, "GroupName": HOSTS_GROUP, "Limit": 60}
        for page in pages(self._client.list_users_in_group, kwargs, "NextToken", "NextToken"):
            hosts.extend(_host(user) for user in page.get("Users", []))
        return sorted(hosts, key=lambda user: (user.email.lower(), user.username))

    def disable_host(self, username: str) -> HostUser | None:
        """AdminDisableUser and AdminUserGlobalSignOut (refresh tokens revoked) of a member of ``hosts`` (None
        for an unknown user or one outside the group)."""
        try:
            with unavailable_on_transient():
                groups = self._client.admin_list_groups_for_user(UserPoolId=self._pool, Username=username)
        except ClientError as exc:
            if error_code(exc) == "UserNotFoundException":
                return None
            raise
        if HOSTS_GROUP not in {group.get("GroupName") for group in groups.get("Groups", [])}:
            return None
        with unavailable_on_transient():
            self._client.admin_disable_user(UserPoolId=self._pool, Username=username)
            self._client.admin_user_global_sign_out(UserPoolId=self._pool, Username=username)
            user = self._client.admin_get_user(UserPoolId=self._pool, Username=username)
        return _host(user)

    def names_for(self, subs: Iterable[str]) -> dict[str, str]:
        """One ``ListUsers`` with the filter ``sub = "<id>"`` per distinct, well-formed id (at most
        :data:`MAX_NAME_LOOKUPS`); the ``name`` attribute, else the e-mail."""
        names: dict[str, str] = {}
        wanted = sorted({sub for sub in subs if _SUB.fullmatch(sub)})[:MAX_NAME_LOOKUPS]
        for sub in wanted:
            with unavailable_on_transient():
                users = self._client.list_users(UserPoolId=self._pool, Filter=f'sub = "{sub}"', Limit=1)["Users"]
            if users:
                attributes = _attributes(users[0])
                label = attributes.get("name") or attributes.get("email")
                if label:
                    names[sub] = label
        return names
