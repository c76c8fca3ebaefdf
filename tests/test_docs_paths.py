"""Every code path the docs name exists, so README.md and docs/ cannot go stale when code moves (issue 15).

Checked in README.md and every docs/**/*.md: `src/cityhub/….py` and `cityhub/….py` paths, domain-relative paths in
backticks (`connect/ingest/parse.py`), `tests/….py` and `benchmarks/….py` paths, and dotted names
`cityhub.<package>.…` — the longest prefix that is a module, then at most one attribute, which must be defined in
that module (`cityhub.connect.schemas.SeriesPoint`). Dotted names whose first part is no cityhub package (logger
names such as `cityhub.access`) are not code paths and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cityhub"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Paths the docs name on purpose although they do not exist yet, each with its reason.
PLANNED: dict[str, str] = {}
_PACKAGES = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
_MODULES = {p.stem for p in SRC.glob("*.py")}
_FILE = re.compile(r"(?<![\w/.-])(?:src/)?cityhub/[\w/]+\.py|(?<![\w/.-])(?:tests|benchmarks)/[\w/]+\.py")
_RELATIVE = re.compile(r"`((?:" + "|".join(sorted(_PACKAGES)) + r")/[\w/]+\.py)")
_DOTTED = re.compile(r"(?<![\w/.])cityhub(?:\.\w+)+")


def _module_file(parts: list[str]) -> Path | None:
    path = SRC.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _dotted_exists(name: str) -> bool:
    parts = name.split(".")[1:]
    for n in range(len(parts), 0, -1):
        module = _module_file(parts[:n])
        if module is not None:
            rest = parts[n:]
            if not rest:
                return True
            name = re.escape(rest[0])
            defined = re.search(rf"^\s*(?:async def|def|class)\s+{name}\b|^{name}\s*[:=]|^from .* import .*\b{name}\b|"
                                rf"^\s+{name},?$", module.read_text(encoding="utf-8"), re.M)
            return len(rest) <= 2 and defined is not None
    return False


def _stale() -> list[str]:
    bad = []
    for md in DOCS:
        text = md.read_text(encoding="utf-8")
        where = md.relative_to(ROOT) if md.is_relative_to(ROOT) else md
        for m in _FILE.finditer(text):
            path = m.group(0)
            full = ROOT / path if path.startswith(("src/", "tests/", "benchmarks/")) else ROOT / "src" / path
            if not full.is_file():
                bad.append(f"{where}: {path}")
        for m in _RELATIVE.finditer(text):
            if not (SRC / m.group(1)).is_file() and m.group(1) not in PLANNED:
                bad.append(f"{where}: {m.group(1)}")
        for m in _DOTTED.finditer(text):
            first = m.group(0).split(".")[1]
            if (first in _PACKAGES or first in _MODULES) and not _dotted_exists(m.group(0)):
                bad.append(f"{where}: {m.group(0)}")
    return bad


def test_docs_name_only_code_that_exists() -> None:
    stale = _stale()
    assert not stale, "docs name code that does not exist (moved? update the doc):\n" + "\n".join(stale)


def test_planned_paths_are_still_planned() -> None:
    built = [p for p in PLANNED if (SRC / p).is_file()]
    assert not built, f"built now: drop them from PLANNED {built}"


def test_the_check_catches_a_moved_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("Code: `src/cityhub/connect/mqtt.py`, `connect/ingest.py`, `cityhub.kit.events.SeriesPoint`, "
                   "`cityhub.connect.schemas.SeriesPoint`, `src/cityhub/connect/mqtt/client.py`, "
                   "logger cityhub.access\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "DOCS", [doc])
    found = "\n".join(_stale())
    assert "src/cityhub/connect/mqtt.py" in found and "connect/ingest.py" in found
    assert "cityhub.kit.events.SeriesPoint" in found
    assert "schemas.SeriesPoint" not in found and "client.py" not in found and "cityhub.access" not in found
