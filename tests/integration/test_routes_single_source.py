"""One source per route: the routers. ``template.yaml``'s events and ``openapi.json`` (and the SDK's copy)
are generated from them by ``make routes``; a route that exists in one place only fails here."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from security_support import REPO, TEMPLATE
from test_security_auth_matrix import kind

from facegate.api.app import build_resolver
from facegate.api.catalog import ALL_ROUTERS
from facegate_client import models as sdk_models
from facegate_tools.local.aws import load_template, routes
from facegate_tools.routes import (
    SDK_OPENAPI,
    diffs,
    events_lines,
    outputs,
    path_shape,
    resolver_routes,
    router_routes,
    sdk_paths,
    splice_events,
    template_functions,
)

NOT_IN_SDK: set[str] = set()
"""Documented routes the SDK deliberately does not wrap (the browser console's and the kiosk's own); any other
documented route needs an SDK method."""

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def served() -> set[tuple[str, str, str]]:
    """(function, method, path) of every route the functions' handlers serve."""
    by_function = router_routes(REPO, load_template(TEMPLATE))
    return {(r.function, r.method, r.path) for found in by_function.values() for r in found}


def test_generated_files_agree_with_the_routers() -> None:
    # Given template.yaml, openapi.json and the SDK's copy as committed, and what the routers generate
    expected = outputs(REPO)
    # When they are compared
    found = diffs(REPO, expected)
    # Then nothing differs
    if found:
        pytest.fail("generated files are out of date: run `make routes`\n" + "\n".join(found), pytrace=False)
    assert set(expected) == {Path("template.yaml"), Path("openapi.json"), SDK_OPENAPI}


def test_every_deployed_route_is_served_by_its_function_and_every_served_route_is_deployed(
    served: set[tuple[str, str, str]],
) -> None:
    # Given the routes API Gateway would deploy (events and any DefinitionBody) and the routes the handlers serve
    deployed = {(r.function, r.method, r.path) for r in routes(load_template(TEMPLATE))}
    # Then they are the same routes on the same functions, and nothing local is deployed
    assert deployed - served == set(), "deployed but no router serves it (run `make routes`)"
    assert served - deployed == set(), "served but not deployed (run `make routes`)"
    assert not any(path.startswith("/_local/") for _, _, path in deployed)


def test_the_api_document_covers_exactly_the_routers_the_functions_serve(served: set[tuple[str, str, str]]) -> None:
    # Given the routers the served OpenAPI document is built from (ALL_ROUTERS) and the functions' routes
    documented = {(r.method, r.path) for r in resolver_routes("all", "", build_resolver(*ALL_ROUTERS))}
    # Then a router served by a function is in the document's set, and the document has no router of its own
    # (besides /openapi.json, which the pages function serves from the document itself)
    assert documented | {("GET", "/openapi.json")} == {(method, path) for _, method, path in served}


def test_every_route_has_an_auth_matrix_class() -> None:
    # Given every deployed route
    for route in routes(load_template(TEMPLATE)):
        # Then the auth matrix knows which credential it needs (public, admin, host, visitor or terminal)
        assert kind(route) != "unclassified", f"{route.method} {route.path}: add it to test_security_auth_matrix"


def test_every_documented_route_has_an_sdk_call() -> None:
    # Given the paths the SDK calls and the routes the API document describes
    sources = [path.read_text(encoding="utf-8") for path in (REPO / "client_sdk" / "facegate_client").glob("*.py")]
    called = sdk_paths(sources)
    by_function = router_routes(REPO, load_template(TEMPLATE))
    documented = {r.path for found in by_function.values() for r in found if r.documented}
    # Then each documented path is called by some SDK method
    missing = sorted(path for path in documented - NOT_IN_SDK if path_shape(path) not in called)
    assert not missing, f"no SDK method calls {missing} (client_sdk/facegate_client)"


def test_the_splice_changes_only_the_events_block() -> None:
    # Given a template with a function whose events are stale, between other text
    text = (
        "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n\n"
        "  OneFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/one/\n"
        "      Events:\n        Old:\n          Type: HttpApi\n          Properties: {Method: GET, Path: /old}\n"
        "      Environment:\n        Variables: {A: b}\n\n"
        "  TwoFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/two/\n\n"
        "Outputs: {}\n"
    )
    new = events_lines([], "Api")
    # When both functions' blocks are spliced in, twice
    once = splice_events(text, {"OneFunction": new, "TwoFunction": new})
    twice = splice_events(once, {"OneFunction": new, "TwoFunction": new})
    # Then the stale event is gone, a missing block is added at the end of Properties, the rest is untouched
    assert "Old:" not in once and "Environment:\n        Variables: {A: b}\n" in once
    assert once.count("      Events:") == 2
    assert once.startswith("Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n\n  OneFunction:")
    assert once.endswith("      CodeUri: functions/two/\n" + "\n".join(new) + "\n\nOutputs: {}\n")
    # And regenerating is idempotent
    assert twice == once


def test_every_sdk_result_type_reads_a_component_schema_of_the_document() -> None:
    # Given the SDK's result types and the component schemas of the document it ships
    document = json.loads((REPO / SDK_OPENAPI).read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    for name, model in sdk_models._MODELS.items():
        fields = {f for f in dataclasses.fields(model) if f.name != "raw"}
        required = {f.name for f in fields if sdk_models._required(f)}
        # Then each names a schema of the document, reads only its properties and requires only required ones
        assert name in schemas, f"{model.__name__}: no component schema {name}"
        assert {f.name for f in fields} <= set(schemas[name]["properties"]), model.__name__
        assert required <= set(schemas[name].get("required", [])), model.__name__


def test_every_functions_folder_is_a_function_of_the_template() -> None:
    # Given the handler folders and the functions template.yaml declares
    declared = {uri.strip("/") for uri in template_functions(load_template(TEMPLATE)).values()}
    folders = {f"functions/{path.parent.name}" for path in (REPO / "functions").glob("*/app.py")}
    # Then no handler exists without a function (its routes would be served nowhere)
    assert folders <= declared, f"no function in template.yaml for {sorted(folders - declared)}"
