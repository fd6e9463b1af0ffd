"""One source per route: the routers. ``template.yaml``'s HttpApi events and ``openapi.json`` are generated.

Which routes a function serves is what its ``functions/<dir>/app.py`` serves: the module's ``resolver``
(built from its routers) is loaded by file path, for each ``AWS::Serverless::Function`` whose ``CodeUri``
names the folder. Each route becomes one ``HttpApi`` event named after the route's Python function
(``create_site`` -> ``CreateSite``); a route whose ``security`` does not name the Cognito JWT scheme is
public at the gateway (``Auth: {Authorizer: NONE}``; the visitor token or the terminal signature is checked
by the handler). Routes under ``/_local/`` (the local stack's own) are never deployed.

Only the ``Events:`` block of each function is rewritten, between marker comments; every other byte of
the template stays as it was (a text splice: the template's YAML tags and comments survive).
``openapi.json`` (and its copy in the SDK package) is :func:`facegate.api.app.openapi_json`.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facegate.errors import FacegateError
from facegate_tools.local.aws import load_template

FUNCTION_TYPE = "AWS::Serverless::Function"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
JWT_SCHEME = "cognitoJwt"
LOCAL_PREFIX = "/_local/"
BEGIN = "# BEGIN generated events (make routes): edit the routers, not these lines"
END = "# END generated events"
SDK_OPENAPI = Path("client_sdk/facegate_client/openapi.json")
"""The SDK's copy of the document (its models are read against its component schemas)."""
_EVENT_INDENT = 6


@dataclass(frozen=True)
class RouterRoute:
    """One route as a function's resolver serves it.

    Attributes:
        function: logical id of the template's function (``ManageSitesFunction``).
        handler_dir: the function's ``CodeUri`` (``functions/manage_sites/``).
        event: the HttpApi event's logical name (``CreateSite``).
        method: upper-case HTTP method.
        path: API Gateway path with ``{name}`` parameters.
        jwt: the Cognito JWT authorizer guards it (else the gateway lets it through).
        documented: the route is in the OpenAPI document.
    """

    function: str
    handler_dir: str
    event: str
    method: str
    path: str
    jwt: bool
    documented: bool


def gateway_path(rule: str) -> str:
    """``/sites/<site_id>`` (Powertools) -> ``/sites/{site_id}`` (API Gateway, OpenAPI)."""
    return re.sub(r"<(\w+)>", r"{\1}", rule)


def event_name(function_name: str) -> str:
    """``create_site`` -> ``CreateSite`` (leading underscores dropped)."""
    return "".join(part[:1].upper() + part[1:] for part in function_name.strip("_").split("_") if part)


def load_resolver(repo: Path, handler_dir: str) -> Any:
    """The ``resolver`` of ``<repo>/<handler_dir>/app.py``, imported by file path under a unique name; None
    when the module declares ``resolver = None`` (a function with no HTTP routes, e.g. an EventBridge target)."""
    path = repo / handler_dir / "app.py"
    name = "facegate_routes_" + re.sub(r"\W", "_", handler_dir.strip("/"))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FacegateError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "resolver"):
        raise FacegateError(f"{path} has no module-level `resolver`")
    return module.resolver


def resolver_routes(function: str, handler_dir: str, resolver: Any) -> list[RouterRoute]:
    """The routes ``resolver`` serves, in registration order (Powertools keeps static and dynamic routes
    apart; its route keys keep the order)."""
    served = {f"{r.method.upper()}{r.path}": r for r in [*resolver._static_routes, *resolver._dynamic_routes]}
    out: list[RouterRoute] = []
    names: set[str] = set()
    for key in resolver._route_keys:
        route = served.get(key)
        if route is None or route.path.startswith(LOCAL_PREFIX):
            continue
        name = event_name(route.func.__name__)
        if name in names:
            name += route.method.capitalize()
        names.add(name)
        security = route.security or []
        out.append(
            RouterRoute(
                function=function,
                handler_dir=handler_dir,
                event=name,
                method=route.method.upper(),
                path=gateway_path(route.path),
                jwt=any(JWT_SCHEME in requirement for requirement in security),
                documented=bool(route.include_in_schema),
            )
        )
    return out


def template_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> ``CodeUri`` of every function whose code is a folder with an ``app.py`` handler."""
    code_uri_default = template.get("Globals", {}).get("Function", {}).get("CodeUri", "")
    return {
        logical_id: str(resource.get("Properties", {}).get("CodeUri", code_uri_default))
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == FUNCTION_TYPE
    }


def router_routes(repo: Path, template: Mapping[str, Any]) -> dict[str, list[RouterRoute]]:
    """Function logical id -> the routes its handler serves."""
    resolvers = {
        function: (handler_dir, load_resolver(repo, handler_dir))
        for function, handler_dir in template_functions(template).items()
        if (repo / handler_dir / "app.py").is_file()
    }
    return {
        function: resolver_routes(function, handler_dir, resolver)
        for function, (handler_dir, resolver) in resolvers.items()
        if resolver is not None
    }


def _api_id(template: Mapping[str, Any]) -> str:
    apis = [logical_id for logical_id, r in template["Resources"].items() if r.get("Type") == HTTP_API_TYPE]
    if len(apis) != 1:
        raise FacegateError(f"expected one {HTTP_API_TYPE} in the template, found {len(apis)}")
    return str(apis[0])


def _scalar(text: str) -> str:
    return text if re.fullmatch(r"/[A-Za-z0-9._/-]*", text) else '"' + text + '"'


def events_lines(routes: Sequence[RouterRoute], api_id: str) -> list[str]:
    """The ``Events:`` block of one function (with its marker comments), indented for the template."""
    pad = " " * _EVENT_INDENT
    lines = [pad + BEGIN, pad + "Events:"]
    for route in routes:
        auth = "" if route.jwt else ", Auth: {Authorizer: NONE}"
        lines += [
            f"{pad}  {route.event}:",
            f"{pad}    Type: HttpApi",
            f"{pad}    Properties: {{ApiId: !Ref {api_id}, Method: {route.method}, Path: {_scalar(route.path)}{auth}}}",
        ]
    return [*lines, pad + END]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: Sequence[str], start: int, indent: int) -> int:
    """The index after the last non-blank line deeper than ``indent`` that follows ``lines[start]``."""
    end = start + 1
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if _indent(line) <= indent:
            break
        end = index + 1
    return end


def splice_events(text: str, generated: Mapping[str, Sequence[str]]) -> str:
    """``text`` with each named function's ``Events:`` block (and markers) replaced by ``generated``'s lines.

    A function without an ``Events:`` block gets one at the end of its ``Properties``; a function with no
    generated routes keeps none. Nothing else changes.
    """
    lines = text.split("\n")
    for function, block in generated.items():
        try:
            head = lines.index(f"  {function}:")
        except ValueError as exc:
            raise FacegateError(f"template.yaml: no resource line `  {function}:`") from exc
        end = _block_end(lines, head, 2)
        props = next((i for i in range(head, end) if lines[i] == "    Properties:"), None)
        if props is None:
            raise FacegateError(f"template.yaml: {function} has no Properties block")
        props_end = _block_end(lines, props, 4)
        pad = " " * _EVENT_INDENT
        events = next((i for i in range(props, props_end) if lines[i] == pad + "Events:"), None)
        if events is None:
            start = stop = props_end
        else:
            start = events - 1 if lines[events - 1] == pad + BEGIN else events
            stop = _block_end(lines, events, _EVENT_INDENT)
            if stop < len(lines) and lines[stop] == pad + END:
                stop += 1
        lines[start:stop] = list(block)
    return "\n".join(lines)


def generated_template(repo: Path, template_path: Path) -> str:
    """``template.yaml``'s text with every function's events generated from its routers."""
    template = load_template(template_path)
    api_id = _api_id(template)
    by_function = router_routes(repo, template)
    blocks = {function: events_lines(routes, api_id) if routes else [] for function, routes in by_function.items()}
    return splice_events(template_path.read_text(encoding="utf-8"), blocks)


def generated_openapi() -> str:
    """The OpenAPI document of every router (what ``openapi.json`` and the SDK's copy hold)."""
    from facegate.api.catalog import openapi_json

    return openapi_json()


def outputs(repo: Path) -> dict[Path, str]:
    """Every generated file (repository-relative path) -> its expected text."""
    document = generated_openapi()
    return {
        Path("template.yaml"): generated_template(repo, repo / "template.yaml"),
        Path("openapi.json"): document,
        SDK_OPENAPI: document,
    }


def diffs(repo: Path, expected: Mapping[Path, str]) -> list[str]:
    """A unified diff per generated file that differs from the repository's (empty: all up to date)."""
    out: list[str] = []
    for relative, text in expected.items():
        path = repo / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{relative} (repository)",
                f"{relative} (from the routers)",
            )
            out.append("".join(diff))
    return out


def write(repo: Path, expected: Mapping[Path, str]) -> list[Path]:
    """Write the generated files that changed; returns their paths."""
    written: list[Path] = []
    for relative, text in expected.items():
        path = repo / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(relative)
    return written


def sdk_paths(sources: Iterable[str]) -> set[str]:
    """Path templates the SDK calls, as ``/sites/{}/doors`` (each f-string field is one ``{}``; the visitor
    client's ``self._prefix`` is ``/register/{}``)."""
    found: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    (
                        "/register/{}"
                        if isinstance(part, ast.FormattedValue) and ast.unparse(part.value) == "self._prefix"
                        else "{}"
                    )
                    if isinstance(part, ast.FormattedValue)
                    else str(getattr(part, "value", ""))
                    for part in node.values
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.Attribute) and ast.unparse(node) == "self._prefix":
                text = "/register/{}"
            else:
                continue
            if text.startswith("/"):
                found.add(text)
    return found


def path_shape(path: str) -> str:
    """``/sites/{site_id}/doors`` -> ``/sites/{}/doors``."""
    return re.sub(r"\{\w+\}", "{}", path)
