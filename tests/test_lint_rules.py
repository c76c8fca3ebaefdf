"""Every silenced check says why: `# type: ignore[code]  # reason`, `# noqa: CODE  # reason`, and each ruff ignore
in pyproject.toml carries a comment (issue 15). A bare ignore hides the next real error on the same line."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("src", "tests", "benchmarks", "migrations")

# a comment (or a comment's later `#` part, as the tools read it) `type: ignore[code, code]`, then the reason
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
# `noqa: CODE, CODE` (or the file-wide `ruff: noqa: CODE`), then the reason as a second comment
NOQA = re.compile(r"#\s*(?:ruff:\s*)?noqa(?P<codes>:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)",
                  re.IGNORECASE)
REASON = re.compile(r"^\s*#\s*\S")


def _comments(path: Path) -> list[tuple[int, str]]:
    """The comments of a module (tokenised, so a string that mentions noqa is not one)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]


def unexplained(comment: str) -> str | None:
    """What is missing from one comment's ignore, or None when it names its codes and its reason."""
    for pattern, what in ((TYPE_IGNORE, "type: ignore"), (NOQA, "noqa")):
        m = pattern.search(comment)
        if m is None:
            continue
        if not m["codes"]:
            return f"{what} without codes"
        if not REASON.match(m["rest"]):
            return f"{what} without a reason after it"
    return None


def test_the_checker_tells_explained_from_bare_ignores() -> None:
    assert unexplained("# type: ignore[arg-type]  # the fake stands in for a socket") is None
    assert unexplained("# noqa: E731  # a table of small lambdas") is None
    assert unexplained("# noqa: C901, E501  # one branch per field") is None
    assert unexplained("# ruff: noqa: E501  # long reference data") is None
    assert unexplained("# an ordinary comment") is None
    assert unexplained("# type: ignore") == "type: ignore without codes"
    assert unexplained("# type: ignore[arg-type]") == "type: ignore without a reason after it"
    assert unexplained("# noqa") == "noqa without codes"
    assert unexplained("# noqa: F401") == "noqa without a reason after it"
    assert unexplained("# noqa: F401 - imported for effect") == "noqa without a reason after it"


def test_every_type_ignore_and_noqa_gives_its_codes_and_reason() -> None:
    bad = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            for line, comment in _comments(path):
                problem = unexplained(comment)
                if problem:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {problem}: {comment}")
    assert not bad, "\n".join(bad)


def _ruff_ignore_lines(text: str) -> list[tuple[str, list[str]]]:
    """Each entry of [tool.ruff.lint] ignore and per-file-ignores with the comment lines just above it."""
    out: list[tuple[str, list[str]]] = []
    section, in_ignore, above = "", False, list[str]()
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            if not in_ignore:
                section = line
            above = []
            if line.startswith("[tool"):
                continue
        if section == "[tool.ruff.lint]" and line.startswith("ignore"):
            in_ignore = not line.rstrip().endswith("]")
            above = []
            continue
        if in_ignore:
            if line.startswith("]"):
                in_ignore = False
            elif line.startswith("#"):
                above.append(line)
            elif line:
                out.append((line, above))
                above = []
            continue
        if section == "[tool.ruff.lint.per-file-ignores]" and line and not line.startswith("#"):
            out.append((line, above))
        above = [*above, line] if line.startswith("#") else []
    return out


def test_every_ruff_ignore_in_pyproject_gives_its_reason() -> None:
    entries = _ruff_ignore_lines((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert entries, "no ruff ignore entries found: has pyproject.toml's layout changed?"
    bare = [line for line, above in entries if "#" not in line and not above]
    assert not bare, f"ruff ignores without a reason in pyproject.toml: {bare}"


@pytest.mark.parametrize("text", [
    '[tool.ruff.lint]\nignore = [\n  "D100",\n]\n',
    '[tool.ruff.lint.per-file-ignores]\n"tests/**" = ["D"]\n',
])
def test_the_pyproject_check_finds_a_bare_ignore(text: str) -> None:
    entries = _ruff_ignore_lines(text)
    assert entries and all("#" not in line and not above for line, above in entries)
