"""Shared harness of the security, privacy and reliability tests (``test_security_*``, ``test_privacy_*``).

What it gives the tests:

- the real Lambda handlers (``functions/*/app.py``, loaded with importlib from the paths ``template.yaml``
  names), behind :class:`facegate_tools.local.gateway.LocalGateway` with a :class:`JwtVerifier` that trusts a test
  RSA key (:class:`TestIssuer`), each function with its own wired :class:`Services` (its own warm caches);
- AWS emulated by moto (tables created from ``template.yaml``) and the real ONNX face engine;
- a small world (sites, doors, terminals, invites) built through the API, and signed terminal requests;
- fault injection on botocore clients (every attempt recorded) and scanners of every stored attribute.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws

from facegate.adapters.dynamodb import (
    AwsClients,
    DynamoAuditLog,
    DynamoEphemeral,
    DynamoRepository,
    idempotency_store,
)
from facegate.adapters.kms import KmsKeyService
from facegate.adapters.memory import MemoryEventPublisher, MemoryMailer
from facegate.api.deps import use_services
from facegate.domain.policy import Calibration, DoorPolicy, shipped_calibration
from facegate.errors import ModelUnavailable
from facegate.ports import FaceEnginePort, KeyService
from facegate.settings import Settings
from facegate.usecases.context import Services
from facegate_tools.local.aws import TemplateRoute, create_tables, load_template, routes
from facegate_tools.local.events import LambdaContext, RequestParts, http_event
from facegate_tools.local.gateway import JwtVerifier, LocalGateway, Route
from facegate_tools.local.inprocess import ApiResponse, to_response
from helpers import FakeClock, invite_body, multipart, signed_headers

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
TABLE_SETTINGS = {
    "DirectoryTable": "directory_table",
    "TemplatesTable": "templates_table",
    "AuditTable": "audit_table",
    "EphemeralTable": "ephemeral_table",
}
"""Logical id in template.yaml -> the Settings field naming the table."""

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_facegateTest"
AUDIENCE = "facegate-test-client"
TEST_SETTINGS = Settings(aws_region=REGION)


def lfw_policy() -> DoorPolicy:
    """The door policy on the shipped calibration's LFW cohort only: these tests are about security, not
    accuracy, and their visitors are LFW people. With it the chosen LFW visitors are granted by face alone at
    small doors and the impostor is denied with a wide margin."""
    shipped = shipped_calibration()
    return DoorPolicy(Calibration(shipped.model_id, {"lfw-dev": shipped.cells["lfw-dev"]}))


GENUINE = "Jacques_Chirac"
SECOND = "Bill_McBride"
IMPOSTOR = "Paul_Martin"
"""LFW dev identities: images 0-2 of a visitor are the selfies, 3-5 the door frames."""

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# --------------------------------------------------------------------------------------- routes, handlers


def template_routes() -> list[TemplateRoute]:
    """Every HTTP route ``template.yaml`` declares (method, path, function, handler folder, auth)."""
    return routes(load_template(TEMPLATE))


def _module_name(handler_dir: str, instance: int) -> str:
    return f"facegate_fn_{handler_dir.strip('/').replace('/', '_')}_{instance}"


@functools.cache
def lambda_handler(handler_dir: str, instance: int = 0) -> Handler:
    """``lambda_handler`` of ``<handler_dir>/app.py``, imported from its path once per process and instance.

    Each ``instance`` is a separate import (its own resolver), like a separate warm Lambda instance:
    Powertools resolvers keep the current event on themselves, so concurrent requests need one each.
    """
    path = REPO / handler_dir / "app.py"
    name = _module_name(handler_dir, instance)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    return handler


# --------------------------------------------------------------------------------------- JWT issuer


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIssuer:
    """A stand-in for the Cognito user pool: an RSA key, its JWKS, and RS256 ID tokens signed with it."""

    __test__ = False

    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [{"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig", "n": _b64url(n), "e": _b64url(e)}]
        }

    def verifier(self) -> JwtVerifier:
        return JwtVerifier(self.jwks(), ISSUER, AUDIENCE)

    def token(
        self,
        sub: str,
        groups: Sequence[str] = (),
        site_ids: Sequence[str] | None = None,
        *,
        expires_in: float = 600,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        signing_key: rsa.RSAPrivateKey | None = None,
        alg: str = "RS256",
        kid: str | None = None,
        drop: Sequence[str] = (),
    ) -> str:
        """An ID token for ``sub`` in ``groups`` (``custom:site_ids`` when given); ``expires_in`` seconds
        from now (negative = already expired); ``drop`` removes claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "aud": audience,
            "token_use": "id",
            "iat": now - 5,
            "exp": now + int(expires_in),
            "cognito:groups": list(groups),
        }
        if site_ids is not None:
            claims["custom:site_ids"] = ",".join(site_ids)
        for name in drop:
            claims.pop(name, None)
        header = {"alg": alg, "kid": kid or self.kid, "typ": "JWT"}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        if alg == "none":
            return signing_input + "."
        key = signing_key or self.key
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


# --------------------------------------------------------------------------------------- AWS emulation


@contextmanager
def moto_aws() -> Iterator[AwsClients]:
    """Fake credentials and ``moto.mock_aws()`` for the block; yields clients (one set, shared)."""
    names = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            patch.delenv(name, raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            patch.setenv(name, value)
        with mock_aws():
            yield AwsClients.from_settings(Settings(aws_region=REGION))


def create_stores(clients: AwsClients, base: Settings = TEST_SETTINGS) -> Settings:
    """Create the template's four tables under fresh names; returns ``base`` naming them."""
    prefix = f"s{uuid.uuid4().hex[:10]}"
    names = {logical_id: f"{prefix}-{logical_id}" for logical_id in TABLE_SETTINGS}
    create_tables(clients.dynamodb, load_template(TEMPLATE), names)
    return base.with_overrides(**{TABLE_SETTINGS[logical_id]: name for logical_id, name in names.items()})


def drop_tables(clients: AwsClients, settings: Settings) -> None:
    """Delete the four tables named by ``settings`` (tests on a shared DynamoDB Local clean up after themselves)."""
    for name in TABLE_SETTINGS.values():
        clients.dynamodb.delete_table(TableName=getattr(settings, name))


def kms_key(clients: AwsClients) -> str:
    """A new moto KMS key id."""
    return str(clients.kms.create_key(Description="facegate security tests")["KeyMetadata"]["KeyId"])


def user_pool(cognito: Any, name: str = "facegate-test") -> str:
    """A new (moto) Cognito user pool shaped like the template's: e-mail user names, the ``site_ids`` attribute,
    the groups ``admins`` and ``hosts``; returns its id."""
    pool_id = str(
        cognito.create_user_pool(
            PoolName=name,
            UsernameAttributes=["email"],
            Schema=[{"Name": "site_ids", "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
    )
    for group in ("admins", "hosts"):
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    return pool_id


def aws_services(
    clients: AwsClients,
    settings: Settings,
    engine: Callable[[], FaceEnginePort],
    clock: Callable[[], datetime],
    keys: KeyService | None = None,
) -> Services:
    """Services over DynamoDB tables named by ``settings`` (KMS of ``clients`` unless ``keys`` is given).

    Each call returns a new object: a new warm instance with its own key and candidate caches.
    """
    return Services(
        settings=settings,
        repo=DynamoRepository(clients.dynamodb, settings),
        audit=DynamoAuditLog(clients.dynamodb, settings),
        ephemeral=DynamoEphemeral(clients.dynamodb, settings),
        keys=keys if keys is not None else KmsKeyService(clients.kms, settings.kms_key_id),
        engine=engine,
        idempotency=idempotency_store(clients.dynamodb, settings),
        clock=clock,
        policy=lfw_policy(),
        mailer=MemoryMailer(),
        events=MemoryEventPublisher(),
    )


# --------------------------------------------------------------------------------------- face engine, images


def model_dir() -> Path:
    """The built models: ``$FACEGATE_MODEL_DIR`` or the repository's ``build/models``."""
    return Path(os.environ.get("FACEGATE_MODEL_DIR") or REPO / "build" / "models")


@functools.cache
def _engine() -> FaceEnginePort:
    from facegate.vision import FaceEngine

    return FaceEngine.load(Settings.from_env().model_dir, threads=1)


def real_engine() -> FaceEnginePort:
    """The ONNX face engine from ``build/models`` (``$FACEGATE_MODEL_DIR``), loaded once per process;
    skips the test when the models are not built."""
    try:
        return _engine()
    except ModelUnavailable as exc:
        pytest.skip(f"face models not built (run `make models`): {exc.message}")


def lfw_images(lfw_dev_dir: Path, person: str) -> list[bytes]:
    """The JPEG files of one LFW dev identity, in file-name order."""
    files = sorted((lfw_dev_dir / person).glob("*.jpg"))
    if len(files) < 6:
        pytest.skip(f"LFW dev identity {person} needs 6 images under {lfw_dev_dir}")
    return [path.read_bytes() for path in files]


# --------------------------------------------------------------------------------------- the gateway harness


@dataclass
class Terminal:
    """A terminal's credentials as the admin received them."""

    terminal_id: str
    key_id: str
    secret: str
    site_id: str
    door_ids: list[str]


@dataclass
class Harness:
    """Real Lambda handlers behind the local API gateway; each function runs with its own Services.

    ``services`` maps a function's logical id (``VerifyAtDoorFunction``, ...) to the Services its warm
    instance holds; ``default`` serves functions that are not in the map. ``instance`` selects separate
    imports of the handlers (see :func:`lambda_handler`): requests run concurrently must use different
    instances (:meth:`parallel`), as they would on Lambda.
    """

    default: Services
    clock: FakeClock
    issuer: TestIssuer = field(default_factory=TestIssuer)
    services: dict[str, Services] = field(default_factory=dict)
    instance: int = 0

    def __post_init__(self) -> None:
        table = [
            Route(
                method=route.method,
                path=route.path,
                handler=self._bound(route.function, lambda_handler(route.handler_dir, self.instance)),
                auth=route.auth,
                function=route.function,
            )
            for route in template_routes()
        ]
        self.gateway = LocalGateway(table, self.issuer.verifier())

    @classmethod
    def over(cls, services: Services, engine: FaceEnginePort, **fields: Any) -> Harness:
        """Every function on ``services`` with ``engine`` and a new :class:`FakeClock`; ``fields``: more
        :class:`Services` fields to replace (``policy``, ...)."""
        clock = FakeClock()
        return cls(default=dataclasses.replace(services, engine=lambda: engine, clock=clock, **fields), clock=clock)

    def parallel(self, instance: int) -> Harness:
        """The same world served by another set of warm instances (for concurrent requests)."""
        return Harness(self.default, self.clock, self.issuer, self.services, instance)

    def services_of(self, function: str) -> Services:
        return self.services.get(function, self.default)

    def _bound(self, function: str, handler: Handler) -> Handler:
        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            # process-wide (facegate.api.deps); concurrent requests of one test share the same Services
            use_services(self.services_of(function))
            return handler(event, context)

        return run

    def close(self) -> None:
        """Uninstall the process-wide services (call when the test or module is done)."""
        use_services(None)

    def invoke(self, function: str, event: dict[str, Any]) -> ApiResponse:
        """Call a function's handler directly (no gateway, no authorizer): defence-in-depth tests."""
        handler_dir = next(r.handler_dir for r in template_routes() if r.function == function)
        handler = self._bound(function, lambda_handler(handler_dir, self.instance))
        return to_response(handler(event, LambdaContext(function)))

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        bearer: str | None = None,
        query: str = "",
        source_ip: str = "203.0.113.7",
    ) -> ApiResponse:
        """One HTTP request through the gateway (JWT checked there for ``jwt`` routes)."""
        all_headers = {key.lower(): value for key, value in (headers or {}).items()}
        all_headers.setdefault("host", "facegate.test")
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("content-type", "application/json")
        if bearer is not None:
            all_headers["authorization"] = f"Bearer {bearer}"
        target = f"{path}?{query}" if query else path
        return self.gateway.handle(method, target, all_headers, body, source_ip)

    # -- credentials -----------------------------------------------------------------------------------

    def admin_token(self) -> str:
        return self.issuer.token("admin-1", ["admins"])

    def host_token(self, site_ids: Sequence[str]) -> str:
        return self.issuer.token("host-1", ["hosts"], site_ids)

    def admin(self, method: str, path: str, json_body: Any = None, query: str = "") -> ApiResponse:
        return self.call(method, path, json_body=json_body, bearer=self.admin_token(), query=query)

    # -- world building --------------------------------------------------------------------------------

    def create_site(self, name: str = "Sejong Complex") -> str:
        response = self.admin("POST", "/sites", {"name": name, "timezone": "Asia/Seoul"})
        assert response.status == 201, response.body
        return str(response.json()["site_id"])

    def create_door(self, site_id: str, name: str = "Gate") -> dict[str, Any]:
        response = self.admin("POST", f"/sites/{site_id}/doors", {"name": name})
        assert response.status == 201, response.body
        door: dict[str, Any] = response.json()
        return door

    def create_terminal(self, site_id: str, door_ids: Sequence[str]) -> Terminal:
        response = self.admin("POST", f"/sites/{site_id}/terminals", {"name": "kiosk", "door_ids": list(door_ids)})
        assert response.status == 201, response.body
        body = response.json()
        return Terminal(body["terminal_id"], body["key_id"], body["secret"], body["site_id"], body["door_ids"])

    def invite(self, site_id: str, door_ids: Sequence[str], hours: float = 4) -> dict[str, Any]:
        response = self.admin("POST", f"/sites/{site_id}/invites", invite_body(self.clock(), door_ids, hours))
        assert response.status == 201, response.body
        invite: dict[str, Any] = response.json()
        return invite

    def consent(self, token: str, source_ip: str = "203.0.113.7") -> ApiResponse:
        notice = self.call("GET", f"/register/{token}/notice", source_ip=source_ip)
        assert notice.status == 200, notice.body
        version = notice.json()["consent_version"]
        return self.call(
            "POST",
            f"/register/{token}/consent",
            json_body={"consent_version": version, "accepted": True},
            source_ip=source_ip,
        )

    def enroll(self, token: str, images: Sequence[bytes], idempotency_key: str | None = None) -> ApiResponse:
        body, content_type = multipart(images, "image")
        headers = {"content-type": content_type}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        return self.call("POST", f"/register/{token}/selfie", body=body, headers=headers)

    def enrolled_visitor(
        self, site_id: str, door_ids: Sequence[str], images: Sequence[bytes], hours: float = 4
    ) -> tuple[str, str]:
        """Invite a visitor to ``door_ids`` for ``hours``, consent and enroll ``images``: (invite token, claim code)."""
        invite = self.invite(site_id, door_ids, hours=hours)
        assert self.consent(invite["token"]).status == 201
        enrolled = self.enroll(invite["token"], images)
        assert enrolled.status == 201, enrolled.body
        return invite["token"], enrolled.json()["claim_code"]

    # -- terminal requests -----------------------------------------------------------------------------

    def signed_headers(self, terminal: Terminal, path: str, body: bytes, **signing: Any) -> dict[str, str]:
        """The signature headers of a terminal request now (``signing``: see :func:`helpers.signed_headers`)."""
        return signed_headers(terminal.key_id, terminal.secret, path, body, self.clock(), **signing)

    def verify(
        self,
        terminal: Terminal,
        door_id: str,
        frames: Sequence[bytes] | bytes,
        *,
        claim: str | None = None,
        source_ip: str = "198.51.100.20",
        **signing: Any,
    ) -> ApiResponse:
        """A correctly signed verify request with one frame (raw JPEG) or a burst (multipart)."""
        path = f"/doors/{door_id}/verify"
        if isinstance(frames, bytes):
            body, content_type = frames, "image/jpeg"
        else:
            body, content_type = multipart(frames, "frame")
        headers = self.signed_headers(terminal, path, body, claim=claim, content_type=content_type, **signing)
        return self.call("POST", path, body=body, headers=headers, source_ip=source_ip)


@dataclass
class MotoWorld:
    """The deployed shape over moto: the gateway harness, its clock, the AWS clients and the settings."""

    h: Harness
    clock: FakeClock
    clients: AwsClients
    settings: Settings

    def serve(self, function: str, **overrides: Any) -> None:
        """Serve ``function`` (a logical id) from a new warm instance configured with ``overrides``."""
        settings = self.settings.with_overrides(**overrides)
        self.h.services[function] = aws_services(self.clients, settings, self.h.default.engine, self.clock)


@contextmanager
def moto_world(engine: FaceEnginePort, base: Settings = TEST_SETTINGS, **overrides: Any) -> Iterator[MotoWorld]:
    """Fresh tables and a KMS key on moto, every function served by ``engine`` on a :class:`FakeClock`;
    ``overrides`` are settings on top of ``base``. The harness is closed when the block ends."""
    with moto_aws() as clients:
        settings = create_stores(clients, base).with_overrides(kms_key_id=kms_key(clients), **overrides)
        clock = FakeClock()
        h = Harness(default=aws_services(clients, settings, lambda: engine, clock), clock=clock)
        try:
            yield MotoWorld(h, clock, clients, settings)
        finally:
            h.close()


@dataclass
class EnrolledDoor(MotoWorld):
    """One site, one door and a visitor enrolled for it for a day from three LFW photos of :data:`GENUINE`;
    ``genuine`` is a fourth photo of them, ``stranger`` a photo of :data:`IMPOSTOR`."""

    site: str
    door: str
    token: str
    claim_code: str
    genuine: bytes
    stranger: bytes

    def terminal(self) -> Terminal:
        """A new terminal bound to the door."""
        return self.h.create_terminal(self.site, [self.door])

    def audits(self, kind: str) -> list[dict[str, Any]]:
        """The stored audit records of ``kind``, oldest first."""
        rows = scan_table(self.clients.dynamodb, self.settings.audit_table)
        return sorted((row for row in rows if row["kind"]["S"] == kind), key=lambda row: row["at"]["S"])

    def audit_of(self, decision_id: str) -> dict[str, Any]:
        """The stored audit record of one decision."""
        return next(row for row in self.audits("verify") if row["event_id"]["S"] == decision_id)


@contextmanager
def enrolled_door(lfw_dev_dir: Path, **overrides: Any) -> Iterator[EnrolledDoor]:
    """:class:`EnrolledDoor` over moto and the real engine (``overrides``: settings); skips without models or LFW."""
    engine = real_engine()
    genuine = lfw_images(lfw_dev_dir, GENUINE)
    stranger = lfw_images(lfw_dev_dir, IMPOSTOR)
    with moto_world(engine, **overrides) as world:
        site = world.h.create_site()
        door = world.h.create_door(site)["door_id"]
        token, claim_code = world.h.enrolled_visitor(site, [door], genuine[:3], hours=24)
        yield EnrolledDoor(
            **vars(world),
            site=site,
            door=door,
            token=token,
            claim_code=claim_code,
            genuine=genuine[3],
            stranger=stranger[0],
        )


def direct_event(method: str, path: str, route_path: str, **parts: Unpack[RequestParts]) -> dict[str, Any]:
    """An API Gateway v2 event as it would reach a function through the route ``route_path`` (``claims`` = what
    the authorizer passed)."""
    return http_event(method, path, **parts, route_key=f"{method} {route_path}")


# --------------------------------------------------------------------------------------- fault injection


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Fault:
    """Every attempt of one AWS operation answered with an error (or a read timeout).

    Attributes:
        attempts: one entry per HTTP attempt botocore made (the first try and every retry).
        remaining: how many more attempts fail (None = all of them).
    """

    service: str
    operation: str
    status: int
    error: str | None
    remaining: int | None = None
    table: str | None = None
    attempts: list[float] = field(default_factory=list)

    def answer(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.table is not None and f'"{self.table}"'.encode() not in (request.body or b""):
            return None
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        self.attempts.append(time.monotonic())
        url = request.url
        if self.error is None:
            raise ReadTimeoutError(endpoint_url=url)
        body = json.dumps({"__type": self.error, "message": "injected by the test"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": f"fault-{len(self.attempts)}"}
        swallow(request)
        return AWSResponse(url, self.status, headers, _RawBody(body))


def swallow(request: Any) -> None:
    """Keep an answered request from also reaching moto.

    botocore calls every ``before-send`` handler and uses the first response; moto's handler, called after
    ours, would still apply the request (a write would happen despite the injected failure). moto serves
    only URLs of AWS endpoints, so the request is pointed elsewhere (it is never sent: ours answered).
    """
    request.url = "https://fault-injected.invalid/"


@contextmanager
def inject(
    client: Any, operation: str, status: int, error: str | None, times: int | None = None, table: str | None = None
) -> Iterator[Fault]:
    """Answer ``operation`` calls of ``client`` with ``error`` (HTTP ``status``), or a read timeout when
    ``error`` is None, for the block (``times`` attempts, default all; only calls naming ``table`` if given)."""
    service = client.meta.service_model.endpoint_prefix
    fault = Fault(service, operation, status, error, times, table)
    event = f"before-send.{service}.{operation}"
    client.meta.events.register_first(event, fault.answer)
    try:
        yield fault
    finally:
        client.meta.events.unregister(event, fault.answer)


@contextmanager
def recorded_calls(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every API call ``client`` makes in the block, as (operation name, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, json.loads(json.dumps(params, default=repr))))

    client.meta.events.register("provide-client-params", record)
    try:
        yield calls
    finally:
        client.meta.events.unregister("provide-client-params", record)


@contextmanager
def botocore_pauses() -> Iterator[list[float]]:
    """Record botocore's retry back-off pauses (seconds) instead of sleeping them."""
    import botocore.endpoint

    pauses: list[float] = []

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            pauses.append(seconds)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.endpoint, "time", _Clock)
        yield pauses


# --------------------------------------------------------------------------------------- scanning


def scan_table(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table, raw DynamoDB attribute values, all pages, strongly consistent."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_all(client: Any, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every item of the four tables, by Settings field name."""
    return {name: scan_table(client, getattr(settings, name)) for name in TABLE_SETTINGS.values()}


def item_leaves(item: Mapping[str, Any]) -> Iterator[tuple[str, bytes | str | list[float]]]:
    """Every scalar of a raw DynamoDB item: binaries as bytes, strings and numbers as str, and each list or set
    of numbers also as one float list (the first element of each pair names where, e.g. ``details.frames``)."""
    for name, value in item.items():
        yield from value_leaves(value, name)


def value_leaves(value: Mapping[str, Any], where: str) -> Iterator[tuple[str, bytes | str | list[float]]]:
    """The scalars inside one raw DynamoDB attribute value (see :func:`item_leaves`)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        yield where, bytes(inner)
    elif kind in ("S", "N"):
        yield where, str(inner)
    elif kind == "BS":
        for i, item in enumerate(inner):
            yield f"{where}[{i}]", bytes(item)
    elif kind == "SS":
        for i, item in enumerate(inner):
            yield f"{where}[{i}]", str(item)
    elif kind == "NS":
        yield where, [float(item) for item in inner]
    elif kind == "L":
        numbers = [item["N"] for item in inner if "N" in item]
        if numbers and len(numbers) == len(inner):
            yield where, [float(n) for n in numbers]
        for i, item in enumerate(inner):
            yield from value_leaves(item, f"{where}[{i}]")
    elif kind == "M":
        for key, item in inner.items():
            yield from value_leaves(item, f"{where}.{key}")


def decodings(value: bytes | str) -> list[bytes]:
    """The byte strings a stored value could hide data in: itself, and its base64 / hex decodings."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    out = [raw]
    text = raw.strip()
    if len(text) >= 16:
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            with contextlib.suppress(ValueError):
                out.append(decoder(text + b"=" * (-len(text) % 4)))
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            out.append(bytes.fromhex(text.decode("ascii")))
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict | list):
            out.append(json.dumps(decoded).encode())
    return out


class ImageWindows:
    """Finds any ``width``-byte window of a set of images inside other bytes (rolling, hash-set based)."""

    def __init__(self, images: Sequence[bytes], width: int = 64) -> None:
        self.width = width
        self._windows = {image[i : i + width] for image in images for i in range(0, len(image) - width + 1)}

    def found_in(self, data: bytes) -> bool:
        width = self.width
        return any(data[i : i + width] in self._windows for i in range(0, len(data) - width + 1))


def float_views(data: bytes, dim: int = 128) -> Iterator[np.ndarray]:
    """Every run of ``dim`` consecutive float32 (and float64) values that ``data`` holds at any byte offset."""
    for dtype, size in (("<f4", 4), (">f4", 4), ("<f8", 8)):
        for offset in range(size):
            usable = (len(data) - offset) // size
            if usable < dim:
                continue
            with np.errstate(all="ignore"):
                values = np.frombuffer(data, dtype=dtype, count=usable, offset=offset).astype(np.float64)
            windows = np.lib.stride_tricks.sliding_window_view(values, dim)
            yield windows


def max_cosine(candidates: np.ndarray, vectors: np.ndarray) -> float:
    """Largest cosine similarity between any row of ``candidates`` (n, d) and any of ``vectors`` (m, d);
    rows that are not finite or are zero are ignored. Returns -1.0 when nothing is comparable."""
    rows = np.asarray(candidates, dtype=np.float64)
    if rows.size == 0:
        return -1.0
    rows = rows.reshape(-1, vectors.shape[1])
    finite = np.isfinite(rows).all(axis=1)
    rows = rows[finite]
    norms = np.linalg.norm(rows, axis=1)
    rows = rows[(norms > 1e-12) & np.isfinite(norms)]
    if rows.size == 0:
        return -1.0
    with np.errstate(all="ignore"):
        rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = rows @ units.T
    scores = scores[np.isfinite(scores)]
    return float(scores.max()) if scores.size else -1.0


def template_encodings(vector: np.ndarray) -> list[str]:
    """Text forms a 512-byte template could take in a log line: hex, base64, base64url, and repr'd bytes."""
    raw = np.asarray(vector, dtype="<f4").tobytes()
    return [
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        repr(raw)[2:66],
    ]
