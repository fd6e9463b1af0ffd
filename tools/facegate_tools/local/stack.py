"""The whole facegate stack on one machine: ``facegate serve``.

moto's server stands in for AWS (DynamoDB — or DynamoDB Local —, KMS, Cognito), resources are
created from ``template.yaml``'s own properties, the same Lambda handlers run in-process behind
:class:`~facegate_tools.local.gateway.LocalGateway`, and a demo site is seeded through the API itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from facegate.errors import FacegateError
from facegate_tools.local import aws
from facegate_tools.local.delivery import LocalDelivery, chain
from facegate_tools.local.emulators import DynamoDbLocal, MotoServer, aws_client, port_is_free
from facegate_tools.local.events import LambdaContext
from facegate_tools.local.gateway import LocalGateway, LocalIssuer, Route, start_http
from facegate_tools.local.oauth import LocalOAuth

STACK_NAME = "facegate-local"
REGION = "us-east-1"
ADMIN_USERNAME = "admin@facegate.local"
HOST_USERNAME = "host@facegate.local"
CONSOLE_PATH = "/console"
LOCAL_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "FACEGATE_STAGE": "local",
    "POWERTOOLS_SERVICE_NAME": "facegate",
    "POWERTOOLS_METRICS_NAMESPACE": "facegate",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def _resolve(value: Any) -> Any:
    """Intrinsic functions the local stack can evaluate (stack name and region only)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Fn::Sub" and isinstance(inner, str):
            return inner.replace("${AWS::StackName}", STACK_NAME).replace("${AWS::Region}", REGION)
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def _props(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][logical_id].get("Properties", {})
    return props


def load_handler(path: Path) -> ModuleType:
    """Import a function's ``app.py`` by file path under a unique module name."""
    name = f"facegate_local_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FacegateError(f"cannot load handler {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalStack:
    """Start/stop the local stack; :attr:`state` is what ``.facegate/local.json`` holds."""

    template_path: Path
    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "moto"
    seed: bool = True
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.repo = self.template_path.resolve().parent
        self._moto: MotoServer | None = None
        self._dynamodb_local: DynamoDbLocal | None = None
        self._http: Any = None
        self._delivery: LocalDelivery | None = None
        self._credentials = (f"FGLOCAL{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30))
        """Per-run emulator credentials: DynamoDB Local keeps one database per access key, so a client
        on this machine that does not know them sees empty tables, not facegate's."""

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> dict[str, Any]:
        """Bring everything up; returns the state written to local.json."""
        if self.backend not in ("moto", "dynamodb-local"):
            raise FacegateError(f"unknown backend {self.backend!r} (moto or dynamodb-local)")
        if not port_is_free(self.host, self.port):
            raise FacegateError(f"{self.host}:{self.port} is in use (another 'facegate serve'?); pick --port")
        template = aws.load_template(self.template_path)
        self._moto = MotoServer().start()
        try:
            return self._start(template)
        except BaseException:
            self.stop()
            raise

    def _start(self, template: dict[str, Any]) -> dict[str, Any]:
        assert self._moto is not None
        endpoint = self._moto.endpoint
        dynamodb_endpoint = endpoint
        if self.backend == "dynamodb-local":
            self._dynamodb_local = DynamoDbLocal(self.repo).start()
            dynamodb_endpoint = self._dynamodb_local.endpoint
        environment = dict(LOCAL_ENVIRONMENT)
        environment.update(
            {
                "AWS_ACCESS_KEY_ID": self._credentials[0],
                "AWS_SECRET_ACCESS_KEY": self._credentials[1],
                "FACEGATE_AWS_ENDPOINT_URL": endpoint,
                "FACEGATE_DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
                "FACEGATE_PUBLIC_BASE_URL": self.api_url,
            }
        )
        environment.update(self._create_tables(template, dynamodb_endpoint))
        environment["KMS_KEY_ID"] = self._create_key(template, endpoint)
        self._delivery = self._create_delivery(template, endpoint)
        environment.update(self._delivery.start())
        os.environ.update(environment)
        cognito = self._create_user_pool(template, endpoint)
        local = chain(self._delivery.handle, cognito["oauth"].handle)
        gateway = LocalGateway(self._routes(template), cognito["verifier"], local=local)
        self._http, _ = start_http(gateway, self.host, self.port)
        from facegate.api.deps import provide_services

        provide_services().engine()
        self.state = {
            "api_url": self.api_url,
            "aws_endpoint_url": endpoint,
            "backend": self.backend,
            "admin": {
                "username": ADMIN_USERNAME,
                "password": cognito["admin_password"],
                "token": cognito["token"],
                "refresh_token": cognito["refresh_token"],
            },
            "user_pool": {"user_pool_id": cognito["pool_id"], "client_id": cognito["client_id"]},
            "console": {
                "url": f"{self.api_url}{CONSOLE_PATH}",
                "token_url": f"{self.api_url}/_local/oauth2/token",
            },
        }
        if self.backend == "dynamodb-local":
            self.state["dynamodb_endpoint_url"] = dynamodb_endpoint
        if self.seed:
            self.state.update(self._seed(cognito["token"]))
            password = _new_password()
            self._create_user(
                endpoint, HOST_USERNAME, "Demo host", password, "hosts", [self.state["site_id"]], cognito["pool_id"]
            )
            self.state["host"] = {"username": HOST_USERNAME, "password": password}
        return self.state

    def _create_tables(self, template: dict[str, Any], endpoint: str) -> dict[str, str]:
        variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        names: dict[str, str] = {}
        environment: dict[str, str] = {}
        table_ids = {spec.logical_id for spec in aws.table_specs(template)}
        for variable, value in variables.items():
            if isinstance(value, dict) and value.get("Ref") in table_ids:
                names[value["Ref"]] = f"{STACK_NAME}-{value['Ref']}"
                environment[variable] = names[value["Ref"]]
        aws.create_tables(self._client("dynamodb", endpoint), template, names)
        return environment

    def _create_key(self, template: dict[str, Any], endpoint: str) -> str:
        kms = self._client("kms", endpoint)
        key_logical = next(k for k, r in template["Resources"].items() if r.get("Type") == "AWS::KMS::Key")
        description = str(_resolve(_props(template, key_logical).get("Description", "facegate data key")))
        key_id = str(kms.create_key(Description=description)["KeyMetadata"]["Arn"])
        for logical, resource in template["Resources"].items():
            if resource.get("Type") == "AWS::KMS::Alias":
                kms.create_alias(AliasName=_resolve(_props(template, logical)["AliasName"]), TargetKeyId=key_id)
        return key_id

    def _create_delivery(self, template: dict[str, Any], endpoint: str) -> LocalDelivery:
        """SES (a verified local sender), the template's event bus and first-arrival rule on moto, relayed to
        the NotifyHost handler in-process (see :mod:`facegate_tools.local.delivery`)."""
        resources = template["Resources"]
        bus = next(k for k, r in resources.items() if r.get("Type") == "AWS::Events::EventBus")
        rule = next(k for k, r in resources.items() if r.get("Type") == "AWS::Events::Rule")
        target = _props(template, rule)["Targets"][0]["Arn"]["Fn::GetAtt"][0]
        handler = load_handler(self.repo / str(_props(template, target)["CodeUri"]) / "app.py").lambda_handler
        return LocalDelivery(
            events_client=self._client("events", endpoint),
            sqs_client=self._client("sqs", endpoint),
            ses_client=self._client("ses", endpoint),
            bus_name=str(_resolve(_props(template, bus)["Name"])),
            pattern=_props(template, rule)["EventPattern"],
            subscriber=handler,
            context=lambda: LambdaContext(target),
        )

    def _create_user_pool(self, template: dict[str, Any], endpoint: str) -> dict[str, Any]:
        cognito = self._client("cognito-idp", endpoint)
        resources = template["Resources"]
        pool_id_logical = next(k for k, r in resources.items() if r.get("Type") == "AWS::Cognito::UserPool")
        pool_props = _resolve(_props(template, pool_id_logical))
        keep = ("Policies", "Schema", "UsernameAttributes", "AutoVerifiedAttributes", "AdminCreateUserConfig")
        pool = cognito.create_user_pool(
            PoolName=pool_props.get("UserPoolName", f"{STACK_NAME}-users"),
            **{key: pool_props[key] for key in keep if key in pool_props},
        )["UserPool"]
        pool_id = pool["Id"]
        client_logical = next(k for k, r in resources.items() if r.get("Type") == "AWS::Cognito::UserPoolClient")
        client_props = _resolve(_props(template, client_logical))
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=client_props.get("ClientName", f"{STACK_NAME}-client"),
            GenerateSecret=False,
            ExplicitAuthFlows=client_props.get("ExplicitAuthFlows", ["ALLOW_USER_PASSWORD_AUTH"]),
        )["UserPoolClient"]["ClientId"]
        for logical, resource in resources.items():
            if resource.get("Type") == "AWS::Cognito::UserPoolGroup":
                cognito.create_group(UserPoolId=pool_id, GroupName=_props(template, logical)["GroupName"])
        issuer = LocalIssuer(f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}", client_id)
        admin_password = _new_password()
        admin_sub = self._create_user(endpoint, ADMIN_USERNAME, "Local admin", admin_password, "admins", None, pool_id)
        token = issuer.token(admin_sub, ADMIN_USERNAME, ["admins"], extra={"name": "Local admin"})
        console = f"{self.api_url}{CONSOLE_PATH}"
        oauth = LocalOAuth(issuer, cognito, pool_id, frozenset({console}))
        os.environ.update(
            {
                "FACEGATE_CONSOLE_AUTH_URL": f"{self.api_url}/_local",
                "FACEGATE_CONSOLE_CLIENT_ID": client_id,
                "FACEGATE_CONSOLE_REDIRECT_URI": console,
                "FACEGATE_CONSOLE_LOGOUT_URI": console,
                "FACEGATE_USER_POOL_ID": pool_id,
            }
        )
        return {
            "pool_id": pool_id,
            "client_id": client_id,
            "token": token,
            "refresh_token": oauth.issue_refresh_token(ADMIN_USERNAME),
            "admin_password": admin_password,
            "verifier": issuer.verifier(),
            "oauth": oauth,
        }

    def _create_user(
        self,
        endpoint: str,
        email: str,
        name: str,
        password: str,
        group: str,
        site_ids: list[str] | None,
        pool_id: str,
    ) -> str:
        """A confirmed user of the emulated pool in ``group`` (hosts: scoped to ``site_ids``); returns its sub."""
        cognito = self._client("cognito-idp", endpoint)
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        attributes.append({"Name": "name", "Value": name})
        if site_ids is not None:
            attributes.append({"Name": "custom:site_ids", "Value": ",".join(site_ids)})
        created = cognito.admin_create_user(
            UserPoolId=pool_id, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
        values = {item["Name"]: item["Value"] for item in created["User"].get("Attributes", [])}
        return str(values.get("sub", created["User"]["Username"]))

    def _client(self, service: str, endpoint: str) -> Any:
        return aws_client(service, endpoint, REGION, credentials=self._credentials)

    def _routes(self, template: dict[str, Any]) -> list[Route]:
        modules: dict[str, ModuleType] = {}
        found = []
        for route in aws.routes(template):
            if route.function not in modules:
                modules[route.function] = load_handler(self.repo / route.handler_dir / "app.py")
            found.append(
                Route(
                    method=route.method,
                    path=route.path,
                    handler=modules[route.function].lambda_handler,
                    auth=route.auth,
                    function=route.function,
                )
            )
        return found

    def _call(self, method: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - loopback URL of this stack
            f"{self.api_url}{path}",
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                result: dict[str, Any] = json.load(response)
                return result
        except urllib.error.HTTPError as exc:
            raise FacegateError(f"seeding {method} {path} failed: {exc.code} {exc.read()[:300]!r}") from exc

    def _seed(self, token: str) -> dict[str, Any]:
        site = self._call("POST", "/sites", token, {"name": "Demo Government Complex", "timezone": "Asia/Seoul"})
        door = self._call("POST", f"/sites/{site['site_id']}/doors", token, {"name": "Main entrance"})
        terminal = self._call(
            "POST", f"/sites/{site['site_id']}/terminals", token, {"name": "Lobby kiosk", "door_ids": [door["door_id"]]}
        )
        now = datetime.now(UTC).replace(microsecond=0)
        invite = self._call(
            "POST",
            f"/sites/{site['site_id']}/invites",
            token,
            {
                "door_ids": [door["door_id"]],
                "valid_from": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "valid_until": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "display_name": "Demo visitor",
            },
        )
        return {
            "site_id": site["site_id"],
            "door_id": door["door_id"],
            "door_unlock_key": door["unlock_key"],
            "terminal": {
                "terminal_id": terminal["terminal_id"],
                "key_id": terminal["key_id"],
                "secret": terminal["secret"],
            },
            "invite": {
                "invite_id": invite["invite_id"],
                "registration_url": invite["registration_url"],
                "token": invite["token"],
            },
        }

    def stop(self) -> None:
        """Stop the HTTP server and the emulators (idempotent)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._delivery is not None:
            self._delivery.stop()
            self._delivery = None
        if self._dynamodb_local is not None:
            self._dynamodb_local.stop()
            self._dynamodb_local = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        from facegate.api.deps import use_services

        use_services(None)


def _new_password() -> str:
    """A fresh password per run that meets the template's policy (12+ characters, upper, lower, digit)."""
    return f"Fg{secrets.token_urlsafe(12)}-{secrets.randbelow(90) + 10}a"


def write_state(state: Mapping[str, Any], path: Path) -> None:
    """Write ``.facegate/local.json`` readable by the owner only (it holds local credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
