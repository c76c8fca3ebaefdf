"""No template carries code the Content-Security-Policy would block, and page scripts draw charts only escaped.

Inline `<script>` bodies, `on*=` handlers, `hx-on` and `javascript:` URLs would either break under the CSP or, if
the CSP were ever loosened for them, reopen stored XSS; page data goes in `<script type="application/json">` blocks
filled by `|tojson` (which escapes `<`, `>`, `&` and quotes). Page scripts in /static draw every ECharts chart
through `cityhub.chart`, whose tooltip formatters escape, and never write HTML from strings.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from cityhub.kit.web import PACKAGE_ROOT, STATIC_DIR

TEMPLATES = sorted(PACKAGE_ROOT.glob("*/templates/**/*.html"))
OWN_JS = sorted(p for p in STATIC_DIR.rglob("*.js") if "vendor" not in p.relative_to(STATIC_DIR).parts)
HELPER = STATIC_DIR / "cityhub.js"
JSON_BLOCK = re.compile(r"\s*\{\{.*\|\s*tojson\s*\}\}\s*", re.S)


class _Scan(HTMLParser):
    """Collects the problems of one template."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self._open: tuple[str, bool, bool] | None = None  # (where, JSON block, has src) of the <script> being read
        self._body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"line {line}: inline event handler {name}=")
            if value and re.match(r"\s*(javascript|vbscript|data\s*:\s*text/html)", value, re.I):
                self.problems.append(f"line {line}: script URL in {name}=")
            if name in ("hx-vals", "hx-headers") and value and re.match(r"\s*(js|javascript):", value):
                self.problems.append(f"line {line}: {name} evaluated as code")
        if tag != "script":
            return
        a = dict(attrs)
        is_json = a.get("type") == "application/json"
        src = a.get("src")
        if src is not None:
            if not src.startswith("/static/"):
                self.problems.append(f"line {line}: script from {src}, not /static/")
            self.scripts.append(src)
        elif not is_json:
            self.problems.append(f"line {line}: inline <script> (move it to /static/pages/, data to a JSON block)")
        self._open = (f"line {line}", is_json, src is not None)
        self._body = []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._body.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open:
            where, is_json, has_src = self._open
            body = "".join(self._body)
            if is_json and not JSON_BLOCK.fullmatch(body):
                self.problems.append(f"{where}: a JSON block holds exactly one {{{{ …|tojson }}}}")
            if has_src and body.strip():
                self.problems.append(f"{where}: a <script src> with a body")
            self._open = None


def _scan(path: Path) -> _Scan:
    scan = _Scan()
    text = path.read_text(encoding="utf-8")
    scan.feed(text)
    scan.close()
    if re.search(r"javascript\s*:", text, re.I):
        scan.problems.append("javascript: in the template")
    return scan


def test_the_scan_finds_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<script>alert(1)</script><script type="application/json">{"a": {{ x }}}</script>\n'
                   '<select onchange="this.form.submit()"></select><a href="JavaScript:go()">x</a>\n'
                   '<div hx-on:click="x"></div><script src="https://cdn.example/x.js"></script>')
    problems = " | ".join(_scan(bad).problems)
    for needle in ("inline <script>", "JSON block", "onchange=", "script URL in href=", "hx-on:click=",
                   "not /static/", "javascript: in the template"):
        assert needle in problems, (needle, problems)
    good = tmp_path / "good.html"
    good.write_text('<script type="application/json" id="page-data">{{ {"a": a}|tojson }}</script>\n'
                    '<script src="/static/pages/x.js" defer></script><select data-autosubmit></select>')
    assert _scan(good).problems == []


def test_no_template_has_inline_script_handlers_or_script_urls() -> None:
    assert len(TEMPLATES) > 30
    problems = {str(p.relative_to(PACKAGE_ROOT)): s.problems for p in TEMPLATES if (s := _scan(p)).problems}
    assert problems == {}


def test_every_page_script_exists_and_is_used() -> None:
    used = {src for p in TEMPLATES for src in _scan(p).scripts}
    own = {"/static/" + p.relative_to(STATIC_DIR).as_posix() for p in OWN_JS}
    missing = {s for s in used if not s.startswith("/static/vendor/") and s not in own}
    assert missing == set()
    assert own - used == set()  # no page script left behind


FORBIDDEN_IN_PAGES = {
    r"\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write": "writes HTML from strings",
    r"\beval\s*\(|new\s+Function\b|set(Timeout|Interval)\s*\(\s*['\"`]": "evaluates strings (blocked by the CSP)",
    r"echarts\.init\s*\(|\.setOption\s*\(": "draws a chart around cityhub.chart (its tooltips would not be escaped)",
}


def test_page_scripts_draw_through_the_escaping_helper() -> None:
    assert HELPER in OWN_JS and len(OWN_JS) > 10
    problems = []
    for path in OWN_JS:
        if path == HELPER:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, why in FORBIDDEN_IN_PAGES.items():
            for m in re.finditer(pattern, text):
                problems.append(f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)} {why}")
    assert problems == []
