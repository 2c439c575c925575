"""A citizen's browser for the lab: every public name is reached at the gateway's published
port on this machine (the names resolve nowhere here), TLS is checked against the stack's
internal CA for that name, cookies are kept per domain and redirects are followed."""

from __future__ import annotations

import html.parser
import http.client
import http.cookies
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field


def tls_context(ca_file, cert: tuple | None = None) -> ssl.SSLContext:
    """TLS that trusts only the stack's internal CA; `cert` = (certificate, key) to present."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


class PublicName(http.client.HTTPSConnection):
    """HTTPS to the gateway's published port, with SNI and the certificate check made for
    the public name (the name resolves nowhere on this machine)."""

    def __init__(self, name: str, address: str, port: int, context: ssl.SSLContext,
                 timeout: float = 60):
        super().__init__(address, port, context=context, timeout=timeout)
        self.public_name = name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.public_name)


@dataclass
class Page:
    url: str
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    history: list[str] = field(default_factory=list)  # every URL visited, redirects included

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": a.get("method", "get"),
                               "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type", "text") in ("hidden", "text", "password", "email"):
                self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def forms(page: Page) -> list[dict]:
    parser = _Forms()
    parser.feed(page.text)
    return parser.forms


class Browser:
    def __init__(self, address: str, port: int, context: ssl.SSLContext):
        self.address, self.port, self.context = address, port, context
        self.cookies: dict[tuple[str, str], str] = {}  # (domain, name) -> value

    def _cookie_header(self, host: str) -> str:
        return "; ".join(f"{name}={value}" for (domain, name), value in self.cookies.items()
                         if host == domain or host.endswith("." + domain))

    def _keep_cookies(self, host: str, headers: http.client.HTTPMessage) -> None:
        for raw in headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                domain = (morsel["domain"] or host).lstrip(".")
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop((domain, name), None)
                else:
                    self.cookies[(domain, name)] = morsel.value

    def request(self, method: str, url: str, data: dict | None = None,
                json_body: str | None = None, headers: dict | None = None,
                follow: bool = True) -> Page:
        history = []
        for _ in range(15):
            history.append(url)
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname or ""
            conn = PublicName(host, self.address, self.port, self.context)
            send = {"Host": parts.netloc, "User-Agent": "egov-lab-browser",
                    **(headers or {})}
            body = None
            if data is not None:
                body = urllib.parse.urlencode(data)
                send["Content-Type"] = "application/x-www-form-urlencoded"
            elif json_body is not None:
                body = json_body
                send["Content-Type"] = "application/json"
            cookie = self._cookie_header(host)
            if cookie:
                send["Cookie"] = cookie
            path = parts.path or "/"
            conn.request(method, path + (f"?{parts.query}" if parts.query else ""), body=body,
                         headers=send)
            res = conn.getresponse()
            payload = res.read()
            conn.close()
            self._keep_cookies(host, res.headers)
            location = res.getheader("Location")
            if follow and res.status in (301, 302, 303, 307, 308) and location:
                url = urllib.parse.urljoin(url, location)
                if res.status in (301, 302, 303):
                    method, data, json_body = "GET", None, None
                continue
            return Page(url, res.status, res.headers, payload, history)
        raise AssertionError(f"more than 15 redirects from {history[0]}: {history}")

    def get(self, url: str, **kw) -> Page:
        return self.request("GET", url, **kw)

    def login(self, page: Page, user: str, password: str) -> Page:
        """Fill in and send the portal's login form shown on `page`."""
        form = next((f for f in forms(page) if "password" in f["fields"]), None)
        assert form, f"no login form at {page.url} (status {page.status}): {page.text[:300]}"
        fields = {**form["fields"], "user": user, "password": password}
        action = urllib.parse.urljoin(page.url, form["action"]) if form["action"] not in (
            "", "#") else page.url
        return self.request("POST", action, data=fields)
