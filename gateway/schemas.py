"""Schema validation of whole documents: fast on the hot path, readable on failure.

libxml2 (through lxml) validates XML at ~160k items/s, xmlschema at ~1k items/s: so lxml
decides, and only a document that fails is validated again by xmlschema to name every
bad element with its path. JSON likewise: jsonschema-rs (compiled, ~1 µs per NDJSON line)
decides, and jsonschema (pure Python, ~0.5 ms per line) names the problems of a document
that fails.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
import jsonschema_rs
import orjson
import xmlschema
from lxml import etree

from gateway.codes import MessageCode
from gateway.paths import json_pointer, xml_path
from xsd import schema_path

MAX_DETAILS = 50


class SchemaInvalid(Exception):
    """The document breaks its schema; ``details`` lists ``{"path", "message"}``."""

    def __init__(self, schema: str, details: list[dict[str, Any]]) -> None:
        super().__init__(f"document does not validate against {schema}")
        self.code = MessageCode.SCHEMA_INVALID
        self.message = str(self)
        self.details = details


@cache
def _lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schema_path(name))))


@cache
def _xmlschema(name: str) -> xmlschema.XMLSchemaBase:
    return xmlschema.XMLSchema(str(schema_path(name)))


@cache
def _json_schema(name: str) -> Any:
    return orjson.loads(schema_path(name).read_bytes())


@cache
def json_validator(name: str) -> jsonschema.protocols.Validator:
    schema = _json_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def _fast_json_validator(name: str) -> Any:
    """Formats are annotations only, as in the jsonschema validator above."""
    json_validator(name)  # the schema is checked once, with readable errors
    return jsonschema_rs.validator_for(_json_schema(name), validate_formats=False)


def _fast_json_valid(name: str, value: Any) -> bool:
    """jsonschema-rs's verdict, where it is the same as jsonschema's. The gateway parses
    JSON fractions as Decimal, which jsonschema never counts as an integer but
    jsonschema-rs does when whole ("850.0"): a document with any Decimal is left to
    jsonschema."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)  # parsed JSON holds these exact types, no subclasses
        if kind is dict:
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind is Decimal:
            return False
    return _fast_json_validator(name).is_valid(value)


def validate_xml(name: str, root: etree._Element) -> None:
    if _lxml_schema(name).validate(root):
        return
    details = []
    for error in _xmlschema(name).iter_errors(root):
        elem = error.elem if isinstance(error.elem, etree._Element) else None
        details.append(
            {
                "path": xml_path(elem) if elem is not None else (error.path or "/"),
                "message": error.reason or str(error),
                "line": elem.sourceline if elem is not None else None,
            }
        )
        if len(details) >= MAX_DETAILS:
            break
    if not details:  # libxml2 and xmlschema disagree: trust libxml2 and report its log.
        details = [
            {"path": e.path or "/", "message": e.message, "line": e.line}
            for e in _lxml_schema(name).error_log
        ][:MAX_DETAILS]
    raise SchemaInvalid(name, details)


def json_problems(name: str, value: Any, prefix: tuple[str | int, ...] = ()) -> list[dict]:
    """Every JSON Schema violation as ``{"path": pointer, "message"}`` (empty when valid)."""
    if _fast_json_valid(name, value):
        return []
    problems = []
    for error in json_validator(name).iter_errors(value):
        problems.append(
            {"path": json_pointer((*prefix, *error.absolute_path)), "message": error.message}
        )
        if len(problems) >= MAX_DETAILS:
            break
    return problems


def validate_json(name: str, value: Any) -> None:
    details = json_problems(name, value)
    if details:
        raise SchemaInvalid(name, details)
