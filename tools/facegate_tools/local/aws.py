"""``template.yaml`` as data: the DynamoDB tables and the HTTP routes it declares.

The local stack and the integration tests create their tables from the template's own resource
properties and route requests by the template's own events, so they cannot drift from what is
deployed. Only what a local emulator can honour is used (keys, indexes, billing mode, TTL);
SSE and point-in-time recovery are AWS-only and ignored here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_TYPE = "AWS::DynamoDB::Table"
FUNCTION_TYPE = "AWS::Serverless::Function"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
ACTIVE_TIMEOUT_SECONDS = 60.0


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long-form dictionaries."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template; ``!Ref x`` becomes ``{"Ref": "x"}``, ``!Sub s`` ``{"Fn::Sub": s}``, ...

    Raises:
        ValueError: the file is not a YAML mapping with ``Resources``.
    """
    with Path(path).open(encoding="utf-8") as handle:
        template = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template (no Resources mapping)")
    return template


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A DynamoDB table as the template declares it (CreateTable parameters, plus the TTL attribute)."""

    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    billing_mode: str
    ttl_attribute: str | None

    def create_table_request(self, table_name: str) -> dict[str, Any]:
        """Keyword arguments of ``CreateTable`` for ``table_name`` (provisioned tables get 5/5 units)."""
        request: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": self.billing_mode,
        }
        indexes = [dict(index) for index in self.global_secondary_indexes]
        if self.billing_mode == "PROVISIONED":
            units = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            request["ProvisionedThroughput"] = units
            for index in indexes:
                index.setdefault("ProvisionedThroughput", units)
        else:
            for index in indexes:
                index.pop("ProvisionedThroughput", None)
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        return request


def table_specs(template: Mapping[str, Any]) -> list[TableSpec]:
    """Every ``AWS::DynamoDB::Table`` of the template, in declaration order."""
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != TABLE_TYPE:
            continue
        props = resource.get("Properties", {})
        ttl = props.get("TimeToLiveSpecification") or {}
        specs.append(
            TableSpec(
                logical_id=logical_id,
                key_schema=[dict(item) for item in props["KeySchema"]],
                attribute_definitions=[dict(item) for item in props["AttributeDefinitions"]],
                global_secondary_indexes=[dict(item) for item in props.get("GlobalSecondaryIndexes", [])],
                billing_mode=str(props.get("BillingMode", "PROVISIONED")),
                ttl_attribute=str(ttl["AttributeName"]) if ttl.get("Enabled") else None,
            )
        )
    return specs


def create_tables(client: DynamoDBClient, template: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Create the template's tables named in ``names`` (logical id -> table name), wait until each is
    ACTIVE (at most 60 s each) and enable its TTL. Tables missing from ``names`` are skipped.

    Raises:
        KeyError: ``names`` holds a logical id that is not a table of the template.
        TimeoutError: a table did not become ACTIVE in time.
    """
    specs = {spec.logical_id: spec for spec in table_specs(template)}
    unknown = set(names) - set(specs)
    if unknown:
        raise KeyError(f"not tables of the template: {sorted(unknown)}")
    for logical_id, table_name in names.items():
        client.create_table(**specs[logical_id].create_table_request(table_name))
    for logical_id, table_name in names.items():
        _wait_active(client, table_name)
        ttl = specs[logical_id].ttl_attribute
        if ttl:
            client.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )


def _wait_active(client: DynamoDBClient, table_name: str) -> None:
    deadline = time.monotonic() + ACTIVE_TIMEOUT_SECONDS
    while client.describe_table(TableName=table_name)["Table"].get("TableStatus") != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} is not ACTIVE after {ACTIVE_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.1)


class TemplateRoute(NamedTuple):
    """One HTTP API route of the template.

    Attributes:
        method: upper-case HTTP method.
        path: API Gateway path with ``{name}`` parameters, e.g. ``/sites/{site_id}/doors``.
        function: logical id of the function, e.g. ``ManageSitesFunction``.
        handler_dir: the function's ``CodeUri`` relative to the template's folder (holds ``app.py``).
        auth: ``"jwt"`` (the Cognito JWT authorizer) or ``"none"``.
    """

    method: str
    path: str
    function: str
    handler_dir: str
    auth: str


def routes(template: Mapping[str, Any]) -> list[TemplateRoute]:
    """Every route of the template's HTTP API, sorted by path then method.

    Two sources, as API Gateway sees them: ``HttpApi`` events of functions (auth = the event's
    ``Auth.Authorizer``, else the API's ``DefaultAuthorizer``; ``NONE`` means public), and operations
    written in the API's ``DefinitionBody`` whose Lambda integration names a function by its
    ``FunctionName`` (auth = the operation's ``security``, else the default authorizer).
    """
    resources: Mapping[str, Any] = template["Resources"]
    globals_function = template.get("Globals", {}).get("Function", {})
    defaults = {
        logical_id: resource.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
        for logical_id, resource in resources.items()
        if resource.get("Type") == HTTP_API_TYPE
    }
    functions = {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource.get("Type") == FUNCTION_TYPE
    }
    found: list[TemplateRoute] = []
    for logical_id, props in functions.items():
        code_uri = str(props.get("CodeUri", globals_function.get("CodeUri", "")))
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties", {})
            api_ref = event_props.get("ApiId", {})
            api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
            default = defaults.get(api_id) if api_id else next(iter(defaults.values()), None)
            authorizer = event_props.get("Auth", {}).get("Authorizer", default)
            found.append(
                TemplateRoute(
                    method=str(event_props["Method"]).upper(),
                    path=str(event_props["Path"]),
                    function=logical_id,
                    handler_dir=code_uri,
                    auth="none" if authorizer in (None, "NONE") else "jwt",
                )
            )
    by_name = {
        suffix: logical_id
        for logical_id, props in functions.items()
        if (suffix := _function_name_suffix(props.get("FunctionName"))) is not None
    }
    for api_id, default in defaults.items():
        body = resources[api_id].get("Properties", {}).get("DefinitionBody") or {}
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in operations.items():
                integration = operation.get("x-amazon-apigateway-integration") or {}
                suffix = _integration_function_suffix(integration.get("uri"))
                function = None if suffix is None else by_name.get(suffix)
                if function is None:
                    continue
                security = operation.get("security")
                public = security == [] or (security is None and default in (None, "NONE"))
                found.append(
                    TemplateRoute(
                        method=method.upper(),
                        path=path,
                        function=function,
                        handler_dir=str(functions[function].get("CodeUri", globals_function.get("CodeUri", ""))),
                        auth="none" if public else "jwt",
                    )
                )
    return sorted(found, key=lambda route: (route.path, route.method))


_STACK_PREFIX = "${AWS::StackName}-"


def _function_name_suffix(name: Any) -> str | None:
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str) and name["Fn::Sub"].startswith(_STACK_PREFIX):
        return str(name["Fn::Sub"])[len(_STACK_PREFIX) :]
    return None


def _integration_function_suffix(uri: Any) -> str | None:
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if not isinstance(text, str):
        return None
    match = re.search(r":function:\$\{AWS::StackName\}-([A-Za-z0-9_-]+)/invocations$", text)
    return match.group(1) if match else None
