"""Search tokens of components: jieba's search-mode segmentation, as the data catalog does it.

The catalog's segmentation is internal to the data domain (not on its public surface), so the hub segments with
the same library and the same rule: lower-cased, punctuation dropped, each token once.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_lock = threading.Lock()
_ready = False


def _jieba() -> Any:
    global _ready
    import jieba

    if not _ready:
        with _lock:
            if not _ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _ready = True
    return jieba


def segment(text: str) -> list[str]:
    """Search tokens of a text."""
    out: list[str] = []
    seen: set[str] = set()
    for tok in _jieba().cut_for_search(text.lower()):
        tok = tok.strip()
        if tok and not _PUNCT.match(tok) and tok not in seen:
            seen.add(tok)
            out.append(tok)
    return out
