"""Domain-free web plumbing: the session dependency, templates, navigation registry, CSRF, static files."""

from __future__ import annotations

import functools
import hmac
import inspect
import json
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, get_type_hints
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityhub.kit import i18n, labels, safejson
from cityhub.kit.errors import CityhubError, Forbidden
from cityhub.kit.settings import get_settings

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_ROOT / "web" / "static"
VENDOR_DIR = STATIC_DIR / "vendor"  # filled by `make setup` from node_modules, git-ignored


async def _db_session(request: Request) -> AsyncIterator[Session]:
    # async on purpose: opening a session does no I/O, and a sync generator dependency costs two thread-pool hops
    # per request (enter and exit). The commit (or rollback) does I/O, so it runs in the pool, once.
    session: Session = request.app.state.db.sessionmaker()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    if session.info.get(_FINISHED):  # SessionRoute already committed in the endpoint's thread
        return
    if session.in_transaction():
        await run_in_threadpool(_finish, session, True)
    else:  # never used (a route that needed no database after all): nothing to commit, closing does no I/O
        session.close()


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# The scope key under which `app.FastPaths` hands a domain's fast path the usual middleware stack
FAST_PATH_STACK = "cityhub.stack"


# The request boundary: opens the session, commits when the handler returns, rolls back on any error.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]
_FINISHED = "cityhub.finished"  # session.info flag: committed and closed by the endpoint's own thread


def _commit_in_endpoint_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a sync endpoint taking a DbSession so it commits in the worker thread it already runs in.

    FastAPI runs a sync endpoint in the thread pool and the session dependency's exit after it; committing there
    would cost a second thread-pool hop per request (measured ≈ 0.3–0.5 ms on this 2-core machine). The outcome is
    the one `_db_session` gives: commit when the endpoint returns, and an error (a failing commit included)
    reaches `_db_session`, which rolls back.
    """
    if inspect.iscoroutinefunction(endpoint):
        return endpoint
    try:
        hints = get_type_hints(endpoint, include_extras=True)
    except Exception:  # unresolvable annotations: leave the endpoint as FastAPI sees it
        return endpoint
    names = [n for n, h in hints.items() if n != "return" and h == DbSession]
    if not names:
        return endpoint
    name = names[0]

    @functools.wraps(endpoint)
    def committing(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        session: Session = kwargs[name]
        _finish(session, True)
        session.info[_FINISHED] = True
        return result

    return committing


class SessionRoute(APIRoute):
    """The route class of every cityhub router: sync endpoints commit their session in their own thread."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _commit_in_endpoint_thread(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind a nesting check of JSON bodies it is about to parse (a 422, not a 500).

        The request middleware checks ordinary bodies before any route; this covers routes on the upload paths,
        whose bodies the middleware does not read ahead. The body read here is the one FastAPI then parses.
        """
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            if safejson.json_media(request.headers.get("content-type")):
                safejson.check_depth(await request.body())
            return await handler(request)

        return checked


@dataclass(frozen=True)
class NavItem:
    """One entry of the left navigation, grouped by layer (core, cloud, connect, data, compute, ops, apply)."""

    layer: str
    label: str  # English msgid, translated at render time
    href: str
    order: int = 100
    public: bool = False  # shown to anonymous visitors too
    # permission names (core.permissions.P values): shown to those holding any of them; empty: to all staff
    permissions: tuple[str, ...] = ()


LAYERS: tuple[tuple[str, str], ...] = (
    ("home", "Workbench"),
    ("cloud", "云 Cloud"),
    ("connect", "联 Connect"),
    ("data", "数 Data"),
    ("compute", "算 Compute"),
    ("ops", "一网统管 Operations"),
    ("apply", "用 Apply"),
    ("admin", "Administration"),
)

NAV: list[NavItem] = []
# Who sees an entry: kit knows no roles or permissions, so core registers the rule (core.deps); until then
# staff see every entry and everyone else the public ones.
NavAccess = Callable[[Any], Callable[[NavItem], bool]]
_nav_access: list[NavAccess] = []


def register_nav(*items: NavItem) -> None:
    """Add navigation entries (each domain's pages module calls this at import)."""
    for item in items:
        if item not in NAV:
            NAV.append(item)


def register_nav_access(rule: NavAccess) -> None:
    """Set the rule deciding which entries an actor sees: `rule(actor)` answers a predicate over entries."""
    _nav_access[:] = [rule]


def _default_access(actor: Any) -> Callable[[NavItem], bool]:
    internal = bool(actor is not None and getattr(actor, "is_internal", False))
    return lambda item: internal or item.public


def nav_tree(actor: Any) -> list[tuple[str, str, list[NavItem]]]:
    """Navigation grouped by layer, in layer order: only the entries the actor may open."""
    shown = (_nav_access[0] if _nav_access else _default_access)(actor)
    out = []
    for key, label in LAYERS:
        items = sorted((n for n in NAV if n.layer == key and shown(n)), key=lambda n: n.order)
        out.append((key, label, items))
    return out


def named(thing: Any) -> str:
    """A record's name in the request's language: its `name_en` on English pages when it has one, else `name`.

    For units, profiles and districts in pickers: `{{ o|named }}`.
    """
    name = str(getattr(thing, "name", "") or "")
    if i18n.get_locale() == "en":
        return str(getattr(thing, "name_en", "") or "") or name
    return name


def to_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC time in the display time zone (Asia/Shanghai)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(get_settings().display_timezone)).strftime(fmt)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def verify_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a cookie-authenticated write whose CSRF token does not match the session's."""
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise Forbidden(i18n.gettext("The form expired or came from another site; reload and try again"),
                        code="csrf_failed")


def _template_dirs() -> list[str]:
    dirs = [str(PACKAGE_ROOT / "web" / "templates")]
    dirs += sorted(str(p) for p in PACKAGE_ROOT.glob("*/templates") if p.parent.name != "web")
    return dirs


def _make_env() -> Environment:
    env = Environment(loader=ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()]),
                      autoescape=select_autoescape(["html", "xml"]))
    env.globals["_"] = i18n.gettext
    env.globals["locales"] = i18n.LOCALE_LABELS
    env.filters["local"] = to_local
    env.filters["label"] = labels.label
    env.filters["money"] = labels.money
    env.filters["number"] = labels.number
    env.filters["named"] = named
    env.globals["choices"] = labels.choices
    env.globals["display_timezone"] = lambda: get_settings().display_timezone  # charts format times in it
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    return env


templates = Jinja2Templates(env=_make_env())


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    """Render a page with the shell's common context (actor, nav, locale, CSRF token)."""
    actor = getattr(request.state, "actor", None)
    ctx: dict[str, Any] = {
        "actor": actor,
        "nav": nav_tree(actor),  # only what the actor may open (core.deps registers the rule)
        "locale": i18n.get_locale(),
        "csrf": csrf_token(request),
        "path": request.url.path,
        "vendor_ready": (VENDOR_DIR / "echarts.min.js").exists(),
    }
    kept = request.session.pop(KEPT_FORM, None) if "session" in request.scope else None
    ctx["kept"] = kept["values"] if isinstance(kept, dict) and kept.get("path") == request.url.path else {}
    ctx.update(context or {})
    if "msg" not in ctx:  # a page that shows no flash message of its own: the frame shows `?msg=` (redirects)
        ctx["flash"] = request.query_params.get("msg", "")[:300]
    response: Response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    return response


def error_text(exc: Exception) -> str:
    """What a page shows for a failed form: the message, and the fields it names when the message does not."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    if not isinstance(exc, CityhubError):
        return str(exc)
    named: list[str] = []
    if isinstance(exc.details, list):
        named = [str(d["field"]) for d in exc.details if isinstance(d, dict) and d.get("field")]
    elif isinstance(exc.details, dict):
        named = [str(exc.details[k]) for k in ("field", "quota") if exc.details.get(k)]
    extra = [n for n in dict.fromkeys(named) if n not in exc.message]
    return exc.message + (f" ({', '.join(extra)})" if extra else "")


def redirect_with_message(url: str, msg: str | None = None) -> RedirectResponse:
    """303 See Other to `url` (POST → redirect → GET), with `msg` quoted into its query as `?msg=`.

    The query goes before a `#fragment` (after it, the message would be part of the fragment and never shown).
    """
    if msg:
        path, hash_, fragment = url.partition("#")
        url = path + ("&" if "?" in path else "?") + urlencode({"msg": msg}) + hash_ + fragment
    return RedirectResponse(url, status_code=303)


KEPT_FORM = "kept_form"  # session key: a refused form's values, for the page the refusal redirects to
KEPT_FORM_MAX_CHARS = 2000  # the session is a signed cookie (≈4 KB): the longest values are dropped past this


def _kept_values(values: Mapping[str, object]) -> dict[str, str]:
    """The values worth keeping (strings, short enough for the session cookie; the longest dropped first)."""
    out = {k: str(v) for k, v in values.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    for k in sorted(out, key=lambda k: len(out[k]), reverse=True):
        if sum(len(k2) + len(v) for k2, v in out.items()) <= KEPT_FORM_MAX_CHARS:
            break
        del out[k]
    return out


@dataclass
class FormOutcome:
    """What a form action ended with: the flash message, whether the change was kept, and what to refill.

    `keep`: the submitted values a refused form gets back (never a password or a secret: the handler names them).
    """

    msg: str
    ok: bool = True
    request: Request | None = None
    keep: Mapping[str, object] | None = None

    def redirect(self, url: str) -> RedirectResponse:
        """303 to `url` carrying the message; after a refusal, the page at `url` gets the kept values (`kept`)."""
        if not self.ok and self.keep and self.request is not None and "session" in self.request.scope:
            self.request.session[KEPT_FORM] = {"path": urlsplit(url).path, "values": _kept_values(self.keep)}
        return redirect_with_message(url, self.msg)


@contextmanager
def form_action(request: Request, session: Session, submitted_csrf: str | None, ok: str,
                keep: Mapping[str, object] | None = None) -> Iterator[FormOutcome]:
    """Run a page's form handler: check CSRF, do the work in a savepoint, turn a refusal into the flash message.

        with form_action(request, session, csrf_token, _("Saved"), keep={"name": name}) as done:
            service.thing_update(session, actor, ...)
        return done.redirect("/things")

    A validation error or any CityhubError (403, 404, 409, 422) rolls the savepoint back and becomes
    `done.msg` with `done.ok = False`; anything else propagates (a bug is a 500, never a flash message). After a
    refusal the values in `keep` travel (in the session, not the URL) to the page `done.redirect` goes to, whose
    template reads them as `kept` — a refused form comes back filled in, not empty.
    """
    verify_csrf(request, submitted_csrf)
    outcome = FormOutcome(ok, request=request, keep=keep)
    try:
        with session.begin_nested():
            yield outcome
    except (ValidationError, CityhubError) as exc:
        outcome.msg, outcome.ok = error_text(exc), False


# Routes whose bodies may be larger than max_body_bytes (uploads); each domain adds its own prefixes.
LARGE_BODY_PREFIXES: list[str] = []


def allow_large_bodies(*prefixes: str) -> None:
    """Let uploads under these path prefixes exceed the normal body limit (up to upload_max_bytes)."""
    LARGE_BODY_PREFIXES.extend(p for p in prefixes if p not in LARGE_BODY_PREFIXES)
