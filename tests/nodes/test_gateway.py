"""Gateway: nginx terminating TLS 1.2/1.3 for every public name, with HSTS and security
headers, HTTP redirected, unknown names refused, client identity headers never passed on.
Every probe runs on the gateway itself, against its loopback."""

import json
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from egov.model import SSO_SITE, Role

pytestmark = pytest.mark.control("EGOV-GATEWAY", "SPBE-33-TLS")

ROLES = Path(__file__).resolve().parents[2] / "roles"
GATEWAY = yaml.safe_load((ROLES / "gateway" / "defaults" / "main.yml").read_text())
HTTPS = GATEWAY["gateway__https_port"]
HTTP = GATEWAY["gateway__http_port"]
CA = "/etc/ssl/egov/ca.crt"
UNKNOWN = "unknown.invalid"
# The rate-limit probe's own client address (all of 127.0.0.0/8 is the node's loopback).
RATE_LIMITED_CLIENT = "127.0.0.2"

# HTTP requests from the node (python3 is on every node, curl is not), several per run:
# TLS connections to 127.0.0.1 with the site's name as SNI, checked against the internal
# CA. Prints, for each request, [[status, {header: value}], ...] or {"error": "..."} when
# the connection is refused.
PROBE = r"""
import concurrent.futures, http.client, json, socket, ssl, sys, threading
cafile = sys.argv[2]
def request(port, sni, scheme, count, path, headers, source):
    class Conn(http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                                 source_address=(source, 0))
            if scheme == "https":
                ctx = ssl.create_default_context(cafile=cafile)
                self.sock = ctx.wrap_socket(self.sock, server_hostname=sni)
    def run(n):
        conn, got = Conn(sni, port, timeout=10), []
        # Handshake first, then every connection sends together: the requests arrive
        # within milliseconds however slow the handshakes or the backend are.
        conn.connect()
        start.wait()
        for _ in range(n):
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            got.append([r.status, dict((k.lower(), v) for k, v in r.getheaders())])
        return got
    # A burst over a few connections, a handful of requests each: the limit answers the
    # excess at once (no backend), and every TLS handshake costs the gateway CPU.
    workers = min(count, 20)
    start = threading.Barrier(workers, timeout=60)
    shares = [count // workers + (i < count % workers) for i in range(workers)]
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return [item for got in pool.map(run, shares) for item in got]
    except Exception as e:
        return {"error": type(e).__name__ + ": " + str(e)}
print(json.dumps([request(*r) for r in json.loads(sys.argv[1])]))
"""


def probes(host, requests: list[dict]) -> list:
    """Each of `requests` ({site, scheme, count, path, headers, source}) from the node, in
    one run. The gateway limits requests per client address: every probe comes from
    127.0.0.1 but the rate-limit probe, which has a loopback address of its own."""
    rows = [[HTTPS if r.get("scheme", "https") == "https" else HTTP, r["site"],
             r.get("scheme", "https"), r.get("count", 1), r.get("path", "/"),
             r.get("headers") or {}, r.get("source", "127.0.0.1")] for r in requests]
    command = " ".join(shlex.quote(a) for a in ["python3", "-c", PROBE, json.dumps(rows), CA])
    return json.loads(host.check_output(command))


def probe(host, site: str, scheme: str = "https", count: int = 1, path: str = "/",
          headers: dict | None = None):
    return probes(host, [{"site": site, "scheme": scheme, "count": count, "path": path,
                          "headers": headers}])[0]


def s_client(host, site: str, *options: str):
    return host.run(
        f"openssl s_client -connect 127.0.0.1:{HTTPS} -servername {site} "
        f"-CAfile {CA} -verify_return_error {' '.join(options)} </dev/null")


@pytest.fixture
def sites(node, stack):
    if Role.gateway not in node.roles:
        pytest.skip(f"{node.name} has no gateway role")
    assert stack.derived.sites, f"{node.name}: the stack has no public sites"
    return stack.derived.sites


def test_nginx_runs_with_a_valid_configuration(host, name, sites):
    nginx = host.service("nginx")
    assert nginx.is_running and nginx.is_enabled, f"{name}: nginx not running and enabled"
    with host.sudo():
        check = host.run("nginx -t")
        conf = host.check_output("nginx -T")
    assert check.rc == 0, f"{name}: nginx -t fails: {check.stderr}"
    for port in (HTTP, HTTPS):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening, f"{name}: nginx not on :{port}"
    for directive in ("server_tokens off;", "ssl_session_tickets off;",
                      "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_reject_handshake on;"):
        assert directive in conf, f"{name}: nginx -T lacks {directive}"
    # Identity comes only from the SSO: these client headers never reach a backend.
    for header in GATEWAY["gateway__cleared_headers"]:
        assert f'proxy_set_header {header} "";' in conf, f"{name}: {header} is passed to backends"
    for site in sites:
        assert f"server_name {site.name};" in conf, f"{name}: no virtual host for {site.name}"
        for backend in site.backends:
            assert f"server {backend} " in conf, f"{name}: {site.name} does not proxy to {backend}"


def test_only_tls_1_2_and_1_3_are_offered(host, name, sites):
    for site in sites:
        for version in ("-tls1_2", "-tls1_3"):
            res = s_client(host, site.name, version)
            assert res.rc == 0, f"{name}: {site.name} refuses {version}: {res.stderr[-300:]}"
            assert "Verify return code: 0 (ok)" in res.stdout, \
                f"{name}: {site.name} certificate does not verify against the CA"
        # The client's own floor is lowered so the refusal is the server's.
        for version in ("-tls1", "-tls1_1"):
            res = s_client(host, site.name, version, "-cipher", "DEFAULT@SECLEVEL=0")
            assert res.rc != 0, f"{name}: {site.name} accepts {version}"


@pytest.mark.slow
def test_tls_1_2_uses_ecdhe_and_aead_only_without_tickets(host, name, sites):
    for site in sites:
        for weak in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256",
                     "DHE-RSA-AES128-GCM-SHA256"):
            res = s_client(host, site.name, "-tls1_2", "-cipher", weak)
            assert res.rc != 0, f"{name}: {site.name} accepts the TLS 1.2 cipher {weak}"
        res = s_client(host, site.name, "-tls1_2")
        assert "TLS session ticket:" not in res.stdout, \
            f"{name}: {site.name} issues session tickets"


@pytest.mark.slow
def test_https_answers_carry_hsts_and_security_headers(host, name, sites):
    answers = probes(host, [{"site": site.name} for site in sites])
    for site, answer in zip(sites, answers, strict=True):
        assert isinstance(answer, list), f"{name}: https://{site.name} failed: {answer}"
        status, headers = answer[0]
        hsts = headers.get("strict-transport-security", "")
        age = int(hsts.split("max-age=")[1].split(";")[0]) if "max-age=" in hsts else 0
        assert age >= 31536000, f"{name}: {site.name} HSTS is {hsts!r}"
        assert headers.get("x-content-type-options") == "nosniff", \
            f"{name}: {site.name} lacks X-Content-Type-Options nosniff"
        assert headers.get("x-frame-options") in ("DENY", "SAMEORIGIN") \
            or "frame-ancestors" in headers.get("content-security-policy", ""), \
            f"{name}: {site.name} may be framed by anyone"
        assert headers.get("referrer-policy"), f"{name}: {site.name} lacks Referrer-Policy"
        assert headers.get("server") == "nginx", \
            f"{name}: {site.name} Server header shows {headers.get('server')!r}"
        assert host.file(f"/var/log/nginx/{site.name}.access.log").exists, \
            f"{name}: no access log of {site.name}"


def test_http_redirects_to_https(host, name, sites):
    answers = probes(host, [{"site": site.name, "scheme": "http", "path": "/probe?x=1"}
                            for site in sites])
    for site, answer in zip(sites, answers, strict=True):
        assert isinstance(answer, list), f"{name}: http://{site.name} failed: {answer}"
        status, headers = answer[0]
        location = headers.get("location", "")
        assert status == 301 and location.startswith(f"https://{site.name}") \
            and location.endswith("/probe?x=1"), \
            f"{name}: http://{site.name} answers {status} {location!r}, not a redirect to HTTPS"


def test_unknown_names_are_refused(host, name, sites):
    res = s_client(host, UNKNOWN, "-tls1_3")
    assert res.rc != 0, f"{name}: TLS handshake accepted for {UNKNOWN}"
    res = host.run(f"openssl s_client -connect 127.0.0.1:{HTTPS} -noservername </dev/null")
    assert res.rc != 0, f"{name}: TLS handshake accepted without a server name"
    answer = probe(host, UNKNOWN, scheme="http")
    assert isinstance(answer, dict), f"{name}: http with Host {UNKNOWN} answered {answer}"


@pytest.mark.slow
def test_requests_are_rate_limited_per_client(host, name, sites, stack):
    burst = GATEWAY["gateway__rate_burst"]
    # A service that answers a browser quickly: the requests let through must not queue
    # behind a slow backend (every site carries the same limit).
    site = next((s for s in sites if s.kind == "service"
                 and stack.service(s.service).access.login != "mtls"), sites[0])
    burst_answer, other = probes(host, [
        {"site": site.name, "count": burst * 2 + 20, "path": "/egov-rate-limit-probe",
         "source": RATE_LIMITED_CLIENT},
        {"site": site.name, "path": "/egov-rate-limit-probe"}])
    assert isinstance(burst_answer, list), f"{name}: {site.name} failed: {burst_answer}"
    statuses = [status for status, _ in burst_answer]
    assert 429 in statuses, \
        f"{name}: {len(statuses)} quick requests to {site.name} never got 429"
    assert isinstance(other, list) and other[0][0] != 429, \
        f"{name}: another client was limited too: {other}"


@pytest.mark.slow
@pytest.mark.control("EGOV-SSO", "EGOV-MTLS")
def test_each_service_enforces_its_access_policy(host, name, sites, stack, evidence):
    """Browser-facing services send an unknown visitor to the SSO portal; G2G services
    refuse a client without a certificate from the internal CA."""
    portal = f"{SSO_SITE}.{stack.domain}"
    wrong, seen = [], []
    asks = []
    for svc in stack.services:
        site = stack.site_of(svc).name
        paths = ["/"] if svc.access.login == "mtls" else ["/", "/login"]
        asks += [{"site": site, "path": path} for path in paths]
    answers = iter(probes(host, asks))
    for svc in stack.services:
        site = stack.site_of(svc).name
        if svc.access.login == "mtls":
            [[status, _]] = next(answers)
            seen.append(f"{site}: {status} without a client certificate")
            if status not in (400, 403, 495, 496):
                wrong.append(f"{site} ({svc.name}, {svc.relation}): answered {status} to a "
                             "client without a certificate")
            continue
        [[first, h1]] = next(answers)
        [[second, h2]] = next(answers)
        target = urlsplit(h2.get("location", ""))
        seen.append(f"{site}: / -> {first} {h1.get('location', '')}; /login -> {second} "
                    f"{target.scheme}://{target.hostname}{target.path}")
        if first not in (302, 303) or not h1.get("location", "").startswith("/login"):
            wrong.append(f"{site} ({svc.name}): / answered {first} "
                         f"{h1.get('location', '')!r} to a visitor without a session")
        if second not in (302, 303) or target.hostname != portal \
                or not target.path.startswith("/oauth2/authorize"):
            wrong.append(f"{site} ({svc.name}): /login answered {second} "
                         f"{h2.get('location', '')!r}, not the portal's authorization endpoint")
    evidence("; ".join(seen))
    assert not wrong, f"{name}: access policies not enforced:\n" + "\n".join(wrong)
