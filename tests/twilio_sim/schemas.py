"""Twilio's published response schemas (a part of twilio-oai, kept in fixtures/) as JSON Schema validators.

The fixture is the 2xx responses of create / fetch / list Messages and Calls and the component
schemas they reference, unchanged from Twilio's OpenAPI 3.0.1 description (its ``_source`` says
where from). OpenAPI's ``nullable`` becomes a JSON Schema type union here.
Run ``python -m tests.twilio_sim.schemas --extract PATH_TO/twilio_api_v2010.json`` to regenerate it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator

FIXTURE = Path(__file__).parent / "fixtures" / "twilio_v2010_messages_calls.json"
PREFIX = "/2010-04-01/Accounts/{AccountSid}/"
WANTED = {
    "Messages.json": ["post", "get"],
    "Messages/{Sid}.json": ["get"],
    "Calls.json": ["post", "get"],
    "Calls/{Sid}.json": ["get"],
}


def _nullable(node):
    if isinstance(node, dict):
        node = {key: _nullable(value) for key, value in node.items()}
        if node.pop("nullable", False):
            if "type" in node:
                node["type"] = [node["type"], "null"]
            elif "$ref" in node:
                node = {"anyOf": [{"$ref": node.pop("$ref")}, {"type": "null"}], **node}
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(node, list):
        return [_nullable(value) for value in node]
    return node


@lru_cache
def _document() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def response_schema(resource: str, method: str, status: str) -> dict:
    schema = _document()["paths"][PREFIX + resource][method]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return _nullable(copy.deepcopy(schema))


def component(name: str) -> dict:
    return _nullable(copy.deepcopy(_document()["components"]["schemas"][name]))


def validator(resource: str, method: str, status: str) -> Draft202012Validator:
    schema = response_schema(resource, method, status)
    schema["components"] = {"schemas": {name: component(name) for name in _document()["components"]["schemas"]}}
    return Draft202012Validator(schema)


def extract(spec_path: str) -> dict:
    raw = Path(spec_path).read_bytes()
    spec = json.loads(raw)
    paths = {
        PREFIX + path: {
            method: {
                "responses": {
                    code: response
                    for code, response in spec["paths"][PREFIX + path][method]["responses"].items()
                    if code.startswith("2")
                }
            }
            for method in methods
        }
        for path, methods in WANTED.items()
    }
    components: dict = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in components:
                name = ref.rsplit("/", 1)[1]
                components[name] = spec["components"]["schemas"][name]
                walk(components[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(paths)
    source = (
        "Part of spec/json/twilio_api_v2010.json from github.com/twilio/twilio-oai, commit "
        "d50069b44ea8cd23141385bdb6db48f16ff75bb5 (twilio-oai 2.6.7), copied from /work/shared/data/twilio/ "
        f"(sha256 {hashlib.sha256(raw).hexdigest()}): the 2xx responses of create/fetch/list Messages "
        "and Calls and the component schemas they reference, unchanged. Regenerate with "
        "tests/twilio_sim/schemas.py --extract."
    )
    return {"_source": source, "paths": paths, "components": {"schemas": components}}


if __name__ == "__main__" and sys.argv[1:2] == ["--extract"]:
    FIXTURE.write_text(json.dumps(extract(sys.argv[2]), ensure_ascii=False, indent=1), encoding="utf-8")
