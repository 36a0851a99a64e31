"""openapi.yaml documents exactly the routes the application serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.params import declared

SPEC = yaml.safe_load((Path(__file__).resolve().parent.parent / "openapi.yaml").read_text())


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = create_app(Settings(), "postgresql://unused")
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"
    }
    documented = {
        (method, path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert served == documented


def test_every_response_names_a_description() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                assert "$ref" in response or response.get("description"), (path, method, status)


def test_every_route_declares_the_query_parameters_documented() -> None:
    """A route refuses the query parameters it does not declare (gateway.http.params):
    the declaration and the document must name the same ones."""
    app = create_app(Settings(), "postgresql://unused")
    shared = SPEC["components"].get("parameters", {})
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        item = SPEC["paths"][route.resource.canonical]
        parameters = item.get("parameters", []) + item[route.method.lower()].get("parameters", [])
        parameters = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in parameters]
        documented = {p["name"] for p in parameters if p["in"] == "query"}
        assert documented == declared(route.handler), (route.method, route.resource.canonical)
