"""JSON-LD for the broker: the bundled NGSI-LD v1.8 core @context, user contexts, term expansion and compaction.

pyld (the JSON-LD reference implementation for Python) processes every context, so scoped, protected and remote
contexts mean what JSON-LD says; the broker then only needs *term* expansion (attribute names, entity types,
vocab values) and its inverse. Both go through pyld's IRI algorithms on the processed active context and are
cached per context and term: a context is processed once (≈ 2 ms), a term costs a dict lookup after its first use.
`tests/context/test_jsonld.py` checks the fast path against pyld's full `expand`/`compact`.

The core context is never fetched: every `https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context*.jsonld` URL is
served from the file in `ldcontexts/` (v1.8 is a superset of the earlier ones). User contexts given by URL are
fetched through `kit.egress` once and kept (at most `_REMOTE_MAX` documents of at most `_REMOTE_MAX_BYTES` bytes,
each for `_REMOTE_TTL_S` seconds); an unreachable one is a 503 `LdContextNotAvailable`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from pyld import jsonld

from cityhub.context.problems import NgsiError, bad
from cityhub.kit import egress, safejson

CORE_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
_CORE_URL_RE = re.compile(r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(-v1\.\d+)?\.jsonld$")
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LINK_REL = "http://www.w3.org/ns/json-ld#context"
_REMOTE_MAX, _REMOTE_MAX_BYTES, _REMOTE_TTL_S = 128, 1_000_000, 3600.0
_CONTEXTS_MAX = 256


@cache
def core_document() -> dict[str, Any]:
    """The bundled v1.8 core context document."""
    path = Path(__file__).parent / "ldcontexts" / "ngsi-ld-core-context-v1.8.jsonld"
    doc: dict[str, Any] = orjson.loads(path.read_bytes())
    return doc


def is_core_url(url: str) -> bool:
    """Is `url` one of the core context's published addresses?"""
    return bool(_CORE_URL_RE.match(url))


# ---- remote contexts


def _http_fetch(url: str) -> bytes:
    """GET a user context through the egress client (SSRF checks; private addresses refused)."""
    egress.check_url(url, field="@context")
    with egress.client(timeout=5.0, follow_redirects=True) as http, http.stream(
            "GET", url, headers={"Accept": "application/ld+json, application/json"}) as resp:
        resp.raise_for_status()
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > _REMOTE_MAX_BYTES:
                raise ValueError(f"over {_REMOTE_MAX_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


# tests replace this with a function serving their own documents (no network in the suite)
fetch: Callable[[str], bytes] = _http_fetch
_remote: OrderedDict[str, tuple[float, Any]] = OrderedDict()
_remote_lock = threading.Lock()


def remote_document(url: str) -> Any:
    """The JSON document at `url`, from the bounded cache or fetched once; 503 LdContextNotAvailable."""
    if is_core_url(url):
        return core_document()
    now = time.monotonic()
    with _remote_lock:
        hit = _remote.get(url)
        if hit is not None and hit[0] > now:
            _remote.move_to_end(url)
            return hit[1]
    try:
        doc = safejson.loads(fetch(url), field="@context")
    except Exception as exc:  # any failure to get a usable document is the same answer to the client
        raise NgsiError("LdContextNotAvailable", f"@context {url} could not be loaded: {type(exc).__name__}"
                        ) from exc
    if not isinstance(doc, dict) or "@context" not in doc:
        raise NgsiError("LdContextNotAvailable", f"{url} is not a JSON-LD context document")
    with _remote_lock:
        _remote[url] = (now + _REMOTE_TTL_S, doc)
        while len(_remote) > _REMOTE_MAX:
            _remote.popitem(last=False)
    return doc


def _loader(url: str, options: Any = None) -> dict[str, Any]:
    return {"contextUrl": None, "documentUrl": url, "document": remote_document(url)}


def clear_caches() -> None:
    """Forget remote documents and processed contexts (tests)."""
    with _remote_lock:
        _remote.clear()
    with _contexts_lock:
        _contexts.clear()


# ---- processed contexts


class LdContext:
    """A processed @context: the user's (if any) followed by the core context, with term caches."""

    def __init__(self, user: Any) -> None:
        self.user = user  # None, a URL, an object or a list of them, as the client sent it
        local = [*(user if isinstance(user, list) else [user]), CORE_URL] if user is not None else [CORE_URL]
        self._proc = jsonld.JsonLdProcessor()
        options = {"documentLoader": _loader, "base": ""}
        try:
            self._active = self._proc.process_context(self._proc._get_initial_context(options), local, options)
        except NgsiError:
            raise
        except jsonld.JsonLdError as exc:
            cause: Any = exc
            while cause is not None and not isinstance(cause, NgsiError):  # pyld wraps the loader's error
                cause = getattr(cause, "cause", None) or cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause from exc
            raise bad(f"Invalid @context: {exc.code or exc.type}", "@context") from exc
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def link_url(self) -> str:
        """The context URL a JSON response names in its Link header (the user's, when it is one URL)."""
        return self.user if isinstance(self.user, str) else CORE_URL

    @property
    def body_value(self) -> Any:
        """The value of `@context` in a JSON-LD response body.

        The request's own context as it came (the core context is implied; ETSI TP 001_01 compares it as sent),
        else the core context.
        """
        if self.user is None:
            return CORE_URL
        return self.user

    def expand(self, term: str) -> str:
        """The IRI of an attribute name or type name (vocab-relative, as JSON-LD expands keys and @type)."""
        hit = self._expanded.get(term)
        if hit is None:
            with self._lock:
                # private pyld API (stable since pyld 1.0): the IRI algorithm on an already processed context
                hit = str(self._proc._expand_iri(self._active, term, vocab=True))
                self._expanded[term] = hit
        return hit

    def expand_all(self, terms: Iterable[str]) -> list[str]:
        """`expand` over several names."""
        return [self.expand(t) for t in terms]

    def compact(self, iri: str) -> str:
        """The shortest term of this context for `iri` (the IRI itself when none fits)."""
        hit = self._compacted.get(iri)
        if hit is None:
            with self._lock:
                hit = str(self._proc._compact_iri(self._active, iri, vocab=True))
                self._compacted[iri] = hit
        return hit


_contexts: OrderedDict[bytes, LdContext] = OrderedDict()
_contexts_lock = threading.Lock()


def context_for(user: Any) -> LdContext:
    """The processed context for a client's @context value (cached; None is the core context alone)."""
    if isinstance(user, str) and is_core_url(user):
        user = None
    if isinstance(user, list) and not user:
        user = None
    key = orjson.dumps(user, option=orjson.OPT_SORT_KEYS)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            _contexts.move_to_end(key)
            return ctx
    ctx = LdContext(user)
    with _contexts_lock:
        _contexts[key] = ctx
        while len(_contexts) > _CONTEXTS_MAX:
            _contexts.popitem(last=False)
    return ctx


def core() -> LdContext:
    """The core context alone."""
    return context_for(None)


_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


def link_context(header: str | None) -> str | None:
    """The context URL of a `Link` header with rel `http://www.w3.org/ns/json-ld#context`, or None."""
    if not header:
        return None
    found = None
    for match in _LINK_RE.finditer(header):
        params = match.group(2)
        if LINK_REL in params:
            if found is not None:
                raise bad("More than one JSON-LD context Link header", "Link")
            found = match.group(1).strip()
    if found is not None and not re.match(r"^https?://\S+$", found):
        raise bad(f"The Link header's context is not an http(s) URL: {found[:100]}", "Link")
    return found


def link_header(url: str) -> str:
    """A Link header value naming `url` as the JSON-LD context."""
    return f'<{url}>; rel="{LINK_REL}"; type="application/ld+json"'
