"""Context tests serve user @contexts from a dictionary: the suite never reaches the network."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from cityhub.context import jsonld
from tests.context.helpers import ETSI_DOCS, USER_CTX, USER_DOC

DOCUMENTS = {USER_CTX: USER_DOC, **ETSI_DOCS}


def _fetch(url: str) -> bytes:
    if url not in DOCUMENTS:
        raise OSError(f"unreachable in tests: {url}")
    return orjson.dumps(DOCUMENTS[url])


@pytest.fixture(autouse=True)
def _contexts_served_locally(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(jsonld, "fetch", _fetch)
    jsonld.clear_caches()
    yield
    jsonld.clear_caches()
