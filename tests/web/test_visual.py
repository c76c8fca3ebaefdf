"""The visual check of issue 16: every role walks every page its navigation shows, in a real browser.

Over the demo city, Debian chromium logs in as each role (the platform admin, the bureau, a department's chief and
staff, a district, the operator, the auditor, and a citizen's portal account), opens the landing page and every
link of the navigation it finds on that page (sidebar, top bar, portal bar), at 1366×768 and at 1920×1080, and
fails on what a person would see as a bug:

- the page or anything it loads answering 4xx/5xx, a console error or an uncaught script error;
- a horizontal scrollbar (the document wider than the window);
- visible text that looks like a raw code outside <code>/<pre>: a snake_case value (`pending_bureau`), an enum name
  (`ACTIVE_UNACK`), a JSON or Python-literal fragment (`{"op"`, `['人口'`) — in the page's text, its visible
  placeholders and the names drawn by its ECharts charts (series, legend, categories, pie slices).

Every page is walked in zh-CN (the default) by every role that has it; zh-CN pages also fail on an English sentence
(an untranslated message). A representative set is walked again in English at 1366×768 (`english_sample`: each
role's landing page and one page of each section of its navigation not yet seen in English): English labels are
longer (a horizontal scrollbar), and a missed registration reads as a code in either language.

Screenshots are kept under `var/screenshots/<role>/<page>-<width>.png` and `<page>-<width>-en.png` (git-ignored) for
a person to look at: each page once per size and language by default, every role's view with
CITYHUB_VISUAL_SCREENSHOTS=all. One browser and one context serve the whole module (each role clears the cookies
and logs in); the viewport is resized in place for the second size (no second load), and the landing page the log-in
arrives at is checked where it is (no second load either). The bureau's staff and a department's chief are left out
for time: the platform admin sees every page they see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cityhub import demo
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium, wait_js

pytestmark = pytest.mark.browser

PASSWORD = "visual-demo-pass-1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SIZES = ((1366, 768), (1920, 1080))
# demo user -> what they are; "portal" registers a citizen's account on the open-data portal
ROLES = {
    "admin": "platform admin",  # sees every page the bureau sees, and more
    "rsj-staff": "department staff",
    "yz-staff": "district staff",
    "operator": "operator",
    "auditor": "auditor",
    "portal": "portal account",
}
# Screenshots cost most of the walk: each page is kept once per size (by the first role that opens it) unless
# CITYHUB_VISUAL_SCREENSHOTS=all asks for every role's view.
ALL_SCREENSHOTS = os.environ.get("CITYHUB_VISUAL_SCREENSHOTS") == "all"
SHOT: set[tuple[str, int, str]] = set()
EN_WALKED: set[str] = set()  # pages already walked in English (by an earlier role)
NAV_LINKS = "aside.sidebar a[href^='/'], nav.layers a[href^='/'], .portal-nav a[href^='/']"

SNAKE = re.compile(r"(?<![\w./:@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-]|\.\w)")
SCREAMING = re.compile(r"(?<![\w./:@-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![\w/@-])")
LITERAL = re.compile(r"""[{\[]\s*["']""")
# three or more lower-case English words in a row: a sentence nobody translated (names and acronyms are capitalised)
ENGLISH = re.compile(r"(?<![\w/.@-])[A-Za-z][a-z]+(?:(?: |'| - )[a-z]+){2,}(?![\w/@-])")

# Walks the rendered page: visible text nodes outside code blocks, visible placeholders, chart names.
COLLECT_TEXT = """() => {
  const skip = new Set(['CODE', 'PRE', 'KBD', 'SAMP', 'SCRIPT', 'STYLE', 'TEXTAREA', 'NOSCRIPT', 'TEMPLATE']);
  const visible = (el) => el && el.checkVisibility({visibilityProperty: true});
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue.trim();
    if (!text) continue;
    let el = node.parentElement, inCode = false;
    for (let e = el; e; e = e.parentElement) if (skip.has(e.tagName)) { inCode = true; break; }
    if (inCode) continue;
    if (el.tagName === 'OPTION' || el.tagName === 'OPTGROUP') el = el.closest('select');
    // text marked in another language than the page's (an English name beside the Chinese one) is data, not an
    // untranslated message: prefixed with U+2063 so english_phrases leaves it (raw_codes still reads it)
    const foreign = !!el && el.closest('[lang]') !== document.documentElement;
    if (visible(el)) out.push((foreign ? '\u2063' : '') + text);
  }
  document.querySelectorAll('input[placeholder]').forEach((i) => { if (visible(i)) out.push(i.placeholder); });
  const names = (v) => (Array.isArray(v) ? v : []).map((d) => (d && typeof d === 'object' ? d.name : d))
    .filter((s) => typeof s === 'string' && s);
  if (window.echarts) {
    document.querySelectorAll('[_echarts_instance_]').forEach((node) => {
      const chart = window.echarts.getInstanceByDom(node);
      if (!chart) return;
      const o = chart.getOption() || {};
      (o.series || []).forEach((s) => { if (s.name) out.push(s.name); names(s.data).forEach((n) => out.push(n)); });
      (o.legend || []).forEach((l) => names(l.data).forEach((n) => out.push(n)));
      [].concat(o.xAxis || [], o.yAxis || [], o.radar || []).forEach((a) => {
        if (a.name) out.push(a.name);
        names(a.data).forEach((n) => out.push(n));
      });
    });
  }
  return out;
}"""


def raw_codes(texts: list[str]) -> list[str]:
    """The pieces of visible text that read as codes rather than words."""
    found: list[str] = []
    for text in texts:
        for pattern in (SNAKE, SCREAMING, LITERAL):
            for m in pattern.finditer(text):
                found.append(text[max(0, m.start() - 20):m.end() + 20].replace("\n", " "))
    return found


def english_sample(paths: list[str]) -> list[str]:
    """The pages a role walks in English: its landing page, and one page of each section of its navigation (the
    first not yet walked in English by an earlier role) — every layer's templates in English, at a fraction of the
    cost of walking everything twice."""
    out, sections = paths[:1], {urlsplit(paths[0]).path.split("/")[1]} if paths else set()
    for path in paths[1:]:
        section = urlsplit(path).path.split("/")[1]
        if section not in sections and path not in EN_WALKED:
            sections.add(section)
            out.append(path)
    EN_WALKED.update(out)
    return out


def english_phrases(texts: list[str]) -> list[str]:
    """English sentences in the visible text of a zh-CN page (an untranslated message)."""
    return [text[max(0, m.start() - 20):m.end() + 20].replace("\n", " ") for text in texts
            if not text.startswith("\u2063") for m in ENGLISH.finditer(text)]


@dataclass
class Visit:
    """What went wrong while one page was open."""

    errors: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)


def page_slug(path: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-")
    return (slug or "home")[:80]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server over a SQLite database holding the whole demo city."""
    path: Path = tmp_path_factory.mktemp("visual") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    demo.build(db, PASSWORD, log=lambda _m: None)
    with live_app(db) as base:
        yield base
    db.engine.dispose()


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[Any]:
    """The one browser context of the module's walks: each role clears the cookies and logs in again."""
    ctx = browser.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--hide-scrollbars"])
        yield b
        b.close()


def _log_in(page: Any, base: str, username: str) -> None:
    if username == "portal":
        page.goto(f"{base}/portal/register")
        page.fill("input[name=username]", "visual-citizen")
        page.fill("input[name=email]", "visual-citizen@example.org")
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/portal/register'] button[type=submit], form[action='/portal/register'] button")
    else:
        page.goto(f"{base}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url and "/register" not in page.url, f"{username} could not log in: {page.url}"


class InFlight:
    """Requests a page has open, live streams (EventSource) aside: the page has settled when none is left."""

    def __init__(self, page: Any) -> None:
        self.open: set[Any] = set()
        page.on("request", lambda r: self.open.add(r) if r.resource_type != "eventsource" else None)
        page.on("requestfinished", lambda r: self.open.discard(r))
        page.on("requestfailed", lambda r: self.open.discard(r))

    def settle(self, page: Any, limit_ms: int = 4000) -> None:
        """Wait until the page's own requests (charts fetching their data) are answered, then let it draw."""
        waited = 0
        while self.open and waited < limit_ms:
            page.wait_for_timeout(25)
            waited += 25
        page.wait_for_timeout(60)


def _check(page: Any, base: str, path: str, visit: Visit, in_flight: InFlight, folder: Path, lang: str, *,
           loaded: bool = False) -> None:
    """Open `path` (unless the page is already on it), then check it at each size (English: the first only)."""
    if not loaded:
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        try:
            response = page.goto(f"{base}{path}", wait_until="load")
        except Exception as exc:  # e.g. a navigation link that downloads a file
            if "Download is starting" in str(exc):
                return
            raise
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            return
    in_flight.settle(page)
    suffix = "" if lang == "zh_CN" else f"-{lang}"
    for width, height in SIZES if lang == "zh_CN" else SIZES[:1]:
        if width != SIZES[0][0]:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(80)  # charts resize on the window's resize event
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if scroll > client:
            visit.add(f"horizontal scroll at {width}px ({lang}): the page is {scroll}px wide")
        if ALL_SCREENSHOTS or (path, width, lang) not in SHOT:  # a page once per size and language, unless asked
            SHOT.add((path, width, lang))
            page.screenshot(path=str(folder / f"{page_slug(path)}-{width}{suffix}.png"), full_page=True)
    texts = page.evaluate(COLLECT_TEXT)
    for piece in raw_codes(texts):
        visit.add(f"raw code ({lang}): …{piece}…")
    if lang == "zh_CN":
        for piece in english_phrases(texts):
            visit.add(f"English on a zh-CN page: …{piece}…")


def _walk(context: Any, base: str, username: str) -> dict[str, list[str]]:
    context.clear_cookies()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    in_flight = InFlight(page)
    visit = Visit()
    page.on("console", lambda m: visit.add(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.add(f"script error: {e}"))
    page.on("response", lambda r: visit.add(f"{r.status} {r.url.removeprefix(base)}") if r.status >= 400 else None)
    findings: dict[str, list[str]] = {}
    try:
        _log_in(page, base, username)
        here = urlsplit(page.url)
        if username == "portal" or here.path == "/" or here.query:
            page.goto(f"{base}/")  # registering lands on the account page; "/" takes everyone to their landing page
        visit.errors = []  # the landing page, where the log-in arrived, is checked in place (no second load)
        landing = page.url.removeprefix(base)
        hrefs = page.eval_on_selector_all(NAV_LINKS, "els => els.map(e => e.getAttribute('href'))")
        paths = list(dict.fromkeys([landing, *hrefs]))
        assert len(paths) >= 3, f"{username}: navigation has almost nothing: {paths}"
        folder = SCREENSHOTS / username
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(paths):
            if i:
                visit.errors = []
            _check(page, base, path, visit, in_flight, folder, "zh_CN", loaded=i == 0)
            if visit.errors:
                findings[path] = list(visit.errors)
        context.add_cookies([{"name": "cityhub_lang", "value": "en", "url": base}])
        for path in english_sample(paths):
            visit.errors = []
            _check(page, base, path, visit, in_flight, folder, "en")
            if visit.errors:
                findings[f"{path} (en)"] = list(visit.errors)
    finally:
        page.close()
    return findings


@pytest.mark.parametrize("username", list(ROLES))
def test_every_navigation_page_looks_right_for_every_role(demo_server: str, context: Any, username: str) -> None:
    findings = _walk(context, demo_server, username)
    report = "\n".join(f"  {path}\n" + "\n".join(f"    - {e}" for e in errors) for path, errors in findings.items())
    assert not findings, f"{ROLES[username]} ({username}) sees pages with problems:\n{report}"


@pytest.mark.parametrize(("text", "flagged"), [
    ("状态 pending_bureau", True), ("ACTIVE_UNACK", True), ('条件 {"op": ">"}', True), ("标签 ['人口']", True),
    ("待大数据局审核", False), ("Pending bureau review", False), ("PM2.5 µg/m³", False), ("API CSV DCAT", False),
    ("rsj-staff", False), ("cityhub/v1/devices/x/telemetry", False), ("a_b@example.org", False),
    ("report_2026.csv", False),
])
def test_what_counts_as_a_raw_code(text: str, flagged: bool) -> None:
    assert bool(raw_codes([text])) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("原因: validity period ended", True), ("My unit's catalog entries", True), ("PM2.5 µg/m³", False),
    ("API CSV DCAT", False), ("Open Data Portal", False), ("rsj-staff", False), ("https://api.dept.example/a", False),
    ("张三 (zhang.san)", False), ("\u2063General Office of the Municipal Government", False),
])
def test_what_counts_as_english_on_a_chinese_page(text: str, flagged: bool) -> None:
    assert bool(english_phrases([text])) is flagged


def test_the_device_chart_reads_in_the_display_time_zone(demo_server: str, browser: Any) -> None:
    """The chart's time axis and tooltip show Asia/Shanghai like the table beside it, whatever the browser's zone."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, timezone_id="America/New_York")
    page = context.new_page()
    try:
        _log_in(page, demo_server, "admin")
        page.goto(f"{demo_server}/connect")
        page.click("table[data-testid=devices] a[href^='/connect/devices/']")
        page.wait_for_selector("#chart canvas")
        wait_js(page, "window.echarts.getInstanceByDom(document.getElementById('chart'))"
                               ".getOption().series.length > 0")
        use_utc, tick, midnight, text = page.evaluate("""() => {
          const o = window.echarts.getInstanceByDom(document.getElementById('chart')).getOption();
          const f = o.xAxis[0].axisLabel.formatter;
          return [o.useUTC, f(Date.UTC(2026, 11, 5, 17, 30)), f(Date.UTC(2026, 11, 5, 16, 0)),
                  cityhub.timeText(Date.UTC(2026, 11, 5, 17, 30, 15), {seconds: true})];
        }""")
        assert use_utc is True
        assert (tick, midnight, text) == ("01:30", "12-06", "12-06 01:30:15")  # UTC+8, not New York's UTC-5
        # the device page is no navigation entry: the same look checks here
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert not raw_codes(page.evaluate(COLLECT_TEXT))
    finally:
        context.close()
