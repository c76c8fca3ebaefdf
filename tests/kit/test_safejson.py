"""kit.safejson: JSON from outside is parsed with a nesting and a size limit, and every failure is a named 422."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cityhub.kit import safejson
from cityhub.kit.errors import ValidationFailed

SRC = Path(__file__).resolve().parents[2] / "src" / "cityhub"

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


def _true_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_true_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
@example("{")  # a lone bracket inside a string (CI found it: the one-bracket shortcut counted it)
@example(["]", {"[": "{"}])
def test_depth_is_the_real_nesting_and_strings_do_not_count(value: object) -> None:
    text = json.dumps(value)
    assert safejson.depth(text) == _true_depth(value)
    assert safejson.loads(text) == value


TRICKY_TEXT = st.text(alphabet='ab[]{}"\\\n中', max_size=8)  # what could fool the string and escape removal
TRICKY_VALUES = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(TRICKY_VALUES, st.booleans())
@example(["\\\\\"[[", '"]]'], True)  # an escaped backslash before an escaped quote
@example({'"': '""', "": '"[[["'}, False)  # adjacent quotes inside strings and around them
def test_depth_sees_through_quotes_escapes_and_brackets_in_strings(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert safejson.depth(text) == _true_depth(value)
    assert safejson.depth(text, limit=2) == min(_true_depth(value), 3)  # the count stops past the limit


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,  # the finding: a RecursionError in the standard library's parser
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "[" * 65 + "]" * 65,
    b"[" * 100_000,  # not even closed
])
def test_deep_nesting_is_a_named_422_not_a_recursion_error(raw: bytes | str) -> None:
    with pytest.raises(ValidationFailed) as err:
        safejson.loads(raw, field="filters")
    assert err.value.status_code == 422 and err.value.field == "filters"
    assert err.value.details[0]["type"] == "json_too_deep"


def test_the_limit_is_inclusive_and_brackets_in_strings_are_text() -> None:
    assert safejson.loads("[" * 64 + "]" * 64) is not None
    assert safejson.loads(json.dumps({"q": "[" * 10_000})) == {"q": "[" * 10_000}
    assert safejson.loads(json.dumps(["\\\"[[[", '"]]'])) == ["\\\"[[[", '"]]']


def test_size_and_syntax_errors_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as big:
        safejson.loads(b'"' + b"x" * 2000 + b'"', max_bytes=1000, field="body")
    assert big.value.details[0]["type"] == "json_too_large"
    with pytest.raises(ValidationFailed) as bad:
        safejson.loads("{not json", field="items")
    assert bad.value.details[0]["type"] == "json_invalid" and bad.value.field == "items"


@pytest.mark.parametrize(("ctype", "json_"), [
    (None, True), ("application/json", True), ("application/json; charset=utf-8", True),
    (b"application/merge-patch+json", True), ("text/csv", False), ("multipart/form-data; boundary=x", False),
    ("application/x-www-form-urlencoded", False),
])
def test_json_media_matches_what_fastapi_parses(ctype: str | bytes | None, json_: bool) -> None:
    assert safejson.json_media(ctype) is json_


# Parses of cityhub's own data, never a caller's, with how many each module holds at most.
_INTERNAL_PARSES = {
    "data/datastore/stores.py": 1,  # API resource credentials cityhub encrypted (Fernet: nobody else can write them)
    "cloud/providers/service.py": 1,  # provider credentials, likewise
    "ops/rules/queue.py": 1,  # the ops queue's batches, which ingest wrote (zstd over orjson) in the same database
    "connect/ingest/parse.py": 1,  # the fast path, after safejson's size and depth checks done inline (_decode)
    "compute/builtins/districts.py": 2,  # the district outlines shipped with the package
    "cloud/plugins/dummy.py": 1,  # the local test/demo provider's own state file
    "kit/backup.py": 1,  # the manifest of a backup the operator points `cityhub restore` at
    "kit/resilience.py": 1,  # the heartbeat files cityhub's own workers write
    "context/jsonld.py": 1,  # the NGSI-LD core @context bundled with the package
    "context/store.py": 3,  # stored types, attributes and scopes, which the broker wrote after validating them
    "context/devicewatch.py": 1,  # the device-change queue rows the ingest path wrote in the same database
    "data/base/geo.py": 1,  # a golden record's geometry, which `geo.parse` validated through safejson when merged
    "data/base/service.py": 1,  # likewise (the geometry column a reader is shown)
}


def test_outside_json_is_parsed_only_through_safejson() -> None:
    found: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel == "kit/safejson.py":
            continue
        n = len(re.findall(r"\b(?:json|orjson)\.loads?\(|\.json\(\)", path.read_text(encoding="utf-8")))
        if n:
            found[rel] = n
    extra = {f: n for f, n in found.items() if n > _INTERNAL_PARSES.get(f, 0)}
    assert not extra, f"parse outside input with kit.safejson.loads (or list an internal parse here): {extra}"
