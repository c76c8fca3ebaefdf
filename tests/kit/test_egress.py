"""kit.egress, tested once: the URL rule, the pinned client (rebinding, redirects), the allow-list, and that every
outbound caller in `src/` uses it."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cityhub.kit import egress
from cityhub.kit.settings import get_settings

SRC = Path(__file__).resolve().parents[2] / "src" / "cityhub"


@pytest.fixture(autouse=True)
def _no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test sets the allow-list it needs, explicitly.
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "")
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "")


class _Server:
    """A local HTTP server: answers 200 with the Host header it got, or redirects when `redirect_to` is set."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.redirect_to = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.end_headers()
                    return
                body = (self.headers.get("host") or "").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.close()


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer getaddrinfo for the given names (in turn, when a list has several); record every lookup."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            asked.append(host)
            seq = answers[host]
            ip = seq.pop(0) if len(seq) > 1 else seq[0]
            return real(ip, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


# ---------------------------------------------------------------- the URL rule


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.0.0.1:8000/admin", "https://localhost/", "http://10.1.2.3/",
    "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://0/",
    "http://100.64.0.1/", "http://224.0.0.1/", "http://240.0.0.1/", "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
])
def test_internal_addresses_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(egress.EgressDenied) as err:
        egress.check_url(url, field="upstream_url")
    assert err.value.status_code == 422 and err.value.field == "upstream_url"


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "gopher://x/", "http:///nohost",
                                 "javascript:alert(1)", "http://[::1/"])
def test_only_http_and_https_urls_with_a_host(url: str) -> None:
    with pytest.raises(egress.EgressDenied):
        egress.check_url(url)


def test_public_addresses_pass_and_a_name_that_does_not_resolve_is_left_to_the_connection() -> None:
    assert egress.check_url("https://8.8.8.8/x") == "https://8.8.8.8/x"
    assert egress.check_url("https://upstream.invalid/p?x=1") == "https://upstream.invalid/p?x=1"


def test_a_name_resolving_to_an_internal_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"intranet.example": ["10.9.8.7"]})
    with pytest.raises(egress.EgressDenied):
        egress.check_url("https://intranet.example/api")


def test_the_allow_list_admits_internal_hosts_and_merges_the_webhook_setting(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    with pytest.raises(egress.EgressDenied):
        egress.check_url("http://127.0.0.1:9000/")
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", " 127.0.0.1 , S3.Intranet.Example. ")
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "hooks.example.gov.cn")
    assert egress.allowed_hosts() == {"127.0.0.1", "s3.intranet.example", "hooks.example.gov.cn"}
    egress.check_url("http://127.0.0.1:9000/")
    egress.check_url("https://s3.intranet.example/bucket")
    with pytest.raises(egress.EgressDenied):  # the allow-list names hosts, not every spelling of an address
        egress.check_url("http://2130706433:9000/")


def test_webhooks_may_call_listed_hosts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(egress.EgressDenied):
        egress.check_url("https://8.8.8.8/hook", listed_only=True)
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "8.8.8.8")  # the older setting still works
    egress.check_url("https://8.8.8.8/hook", listed_only=True)


# ---------------------------------------------------------------- the client


def test_the_client_refuses_internal_hosts_when_it_connects(server: _Server) -> None:
    with egress.client(timeout=2) as http:
        for url in (f"http://127.0.0.1:{server.port}/", f"http://localhost:{server.port}/",
                    f"http://2130706433:{server.port}/", f"http://[::ffff:127.0.0.1]:{server.port}/"):
            with pytest.raises(httpx.ConnectError, match="egress refused"):
                http.get(url)
    assert server.hits == []


def test_an_allow_listed_host_is_reached(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    with egress.client(timeout=2) as http:
        r = http.get(f"http://127.0.0.1:{server.port}/ok")
    assert r.status_code == 200 and server.hits == ["/ok"]


def test_dns_rebinding_after_the_check_is_refused_at_the_connection(server: _Server,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The name answers a public address to the check, then the loopback address (a rebinding attacker's DNS).
    asked = _fake_dns(monkeypatch, {"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    url = f"http://rebind.example:{server.port}/steal"
    egress.check_url(url)
    with egress.client(timeout=2) as http, pytest.raises(httpx.ConnectError, match="loopback"):
        http.get(url)
    assert server.hits == [] and asked == ["rebind.example", "rebind.example"]


def test_the_connection_goes_to_the_address_that_was_checked(server: _Server,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # One lookup per connection, and the socket connects to its answer: the URL (and so the Host header and TLS
    # name) keeps the host name.
    asked = _fake_dns(monkeypatch, {"pinned.example": ["127.0.0.1"]})
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "pinned.example")
    with egress.client(timeout=2) as http:
        r = http.get(f"http://pinned.example:{server.port}/p")
    assert r.text == f"pinned.example:{server.port}" and asked == ["pinned.example"]


def test_a_redirect_to_an_internal_host_is_refused(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    internal = _Server()
    try:
        monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
        server.redirect_to = f"http://localhost:{internal.port}/admin"  # localhost is not on the list
        with egress.client(timeout=2, follow_redirects=True) as http, \
                pytest.raises(httpx.ConnectError, match="egress refused"):
            http.get(f"http://127.0.0.1:{server.port}/start")
        assert server.hits == ["/start"] and internal.hits == []
        with egress.client(timeout=2) as http:  # without follow_redirects the 302 is the answer
            assert http.get(f"http://127.0.0.1:{server.port}/start").status_code == 302
    finally:
        internal.close()


def test_a_listed_only_client_checks_every_hop_against_the_list(server: _Server,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "127.0.0.1")
    server.redirect_to = "https://8.8.8.8/elsewhere"  # public, but not listed
    with egress.client(timeout=2, follow_redirects=True, listed_only=True) as http, \
            pytest.raises(httpx.ConnectError, match="allow-list"):
        http.get(f"http://127.0.0.1:{server.port}/hook")


def test_proxy_environment_variables_are_ignored(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{server.port}")
    with egress.client(timeout=1) as http, pytest.raises(httpx.HTTPError):
        http.get("http://upstream.invalid/x")  # would have gone to the "proxy" on loopback
    assert server.hits == []


# ---------------------------------------------------------------- every caller goes through it

# Constructing an HTTP client or opening a connection anywhere but kit/egress.py is an outbound call that skips
# the rule. The reasoned exceptions: none of them takes a URL a user of the web or API stored.
_CLIENT = re.compile(r"\bhttpx\.(?:Client|AsyncClient|HTTPTransport|AsyncHTTPTransport|get|post|put|patch|delete"
                     r"|head|request|stream)\s*\(|\brequests\.(?:get|post|put|patch|delete|head|request|Session)\s*\("
                     r"|\burllib\.request\b|\burlopen\(|\bhttp\.client\b|\baiohttp\b|\bpycurl\b"
                     r"|\bsocket\.create_connection\(|\.create_connection\(|\bopen_connection\(")
_EXEMPT = {
    "kit/egress.py": "the helper itself",
    "app.py": "/readyz opens a TCP connection to the configured MQTT broker (an operator setting, not user input)",
    "connect/cli.py": "`cityhub connect simulate --http-url`: the operator's own command line, sending telemetry "
                      "to a cityhub server they name",
    "run.py": "`make run` waits until its own server answers on the address it started it on (an operator setting)",
}


def test_outbound_calls_go_through_kit_egress() -> None:
    offenders: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel in _EXEMPT:
            continue
        hits = _CLIENT.findall(path.read_text(encoding="utf-8"))
        if hits:
            offenders[rel] = hits
    assert not offenders, f"use kit.egress.client()/check_url for outbound calls: {offenders}"


def test_the_exemptions_are_still_needed() -> None:
    for rel in _EXEMPT:
        assert _CLIENT.search((SRC / rel).read_text(encoding="utf-8")), f"{rel} no longer needs its exemption"
