"""``openapi.json`` in the repository, the document served at ``GET /openapi.json`` and the routes
``template.yaml`` deploys all describe the same API."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facegate.api.catalog import openapi_json
from facegate_tools.local.aws import load_template, routes
from facegate_tools.local.events import LambdaContext, http_event
from facegate_tools.local.inprocess import to_response

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
PUBLIC_PAGES = {
    ("GET", "/openapi.json"),
    ("GET", "/register/{token}"),
    ("GET", "/kiosk"),
    ("GET", "/static/{name}"),
    ("GET", "/"),
    ("GET", "/console"),
    ("GET", "/console/config.json"),
}
"""The explicitly public page routes: served by ServePages, deliberately not in the API document."""
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }


@pytest.fixture(scope="module")
def serve_pages() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The ServePages Lambda handler, loaded from the folder template.yaml names."""
    handler_dir = next(r.handler_dir for r in routes(load_template(TEMPLATE)) if r.path == "/openapi.json")
    spec = importlib.util.spec_from_file_location(
        "facegate_fn_serve_pages_openapi", TEMPLATE.parent / handler_dir / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.lambda_handler
    return handler


def test_repository_openapi_json_is_the_generated_document() -> None:
    # Given the committed openapi.json and the document generated from the route modules
    committed = (REPO / "openapi.json").read_text(encoding="utf-8")
    generated = openapi_json()
    # Then they are identical, byte for byte
    assert committed == generated, (
        "openapi.json is out of date: regenerate it with "
        "`.venv/bin/python -c 'from facegate.api.catalog import openapi_json; print(openapi_json(), end=\"\")' "
        "> openapi.json`"
    )


def test_get_openapi_json_through_the_serve_pages_handler(
    serve_pages: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> None:
    # Given the ServePages handler, as API Gateway invokes it
    event = http_event("GET", "/openapi.json", headers={"host": "api.example.test"})
    # When the document is requested
    response = to_response(serve_pages(event, LambdaContext("serve-pages")))
    # Then it is served as JSON and is the repository's document
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads((REPO / "openapi.json").read_text(encoding="utf-8"))
    assert response.body.decode() == openapi_json()


def test_document_is_openapi_3_1_with_the_security_schemes() -> None:
    # Given the generated document
    document = json.loads(openapi_json())
    # Then it is OpenAPI 3.1 and declares the two credentials the API uses
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert set(document["components"]["securitySchemes"]) == {"cognitoJwt", "terminalSignature"}


def test_every_deployed_route_is_documented_and_every_documented_route_is_deployed() -> None:
    # Given the routes template.yaml deploys and the operations the document describes
    deployed = {(route.method, route.path) for route in routes(load_template(TEMPLATE))}
    documented = documented_operations(json.loads(openapi_json()))
    # Then the public page routes are deployed but not documented
    assert deployed >= PUBLIC_PAGES
    assert not PUBLIC_PAGES & documented
    # And every other deployed route is documented, and nothing undeployed is documented
    assert deployed - PUBLIC_PAGES == documented


def test_documented_path_parameters_match_the_path_templates() -> None:
    # Given each documented operation
    document = json.loads(openapi_json())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            # Then its path parameters are exactly the {names} of its path, all required
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
            # And every error response uses the one error body
            for status, response in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
