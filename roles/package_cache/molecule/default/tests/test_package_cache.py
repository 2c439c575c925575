"""The package cache serves Debian's packages to the stack, and tunnels nothing else."""

from __future__ import annotations

import shlex

from egov.model import PACKAGE_CACHE_PORT as PORT

# CONNECT asked of the cache, its status line printed: what apt does for an https source.
CONNECT = (f"import http.client, sys; c = http.client.HTTPConnection(sys.argv[1], {PORT}, "
           "timeout=20); c.request('CONNECT', sys.argv[2] + ':443'); "
           "print(c.getresponse().status)")


def _address(host) -> str:
    return host.interface("eth0").addresses[0]


def _connect_status(host, target: str) -> str:
    res = host.run(f"python3 -c {shlex.quote(CONNECT)} {_address(host)} {target}")
    return res.stdout.strip() or res.stderr.strip().splitlines()[-1]


def test_the_cache_runs_and_starts_at_boot(host):
    svc = host.service("apt-cacher-ng")
    assert svc.is_running and svc.is_enabled, f"{host.backend.hostname}: apt-cacher-ng down"


def test_the_cache_listens_on_the_node_address_only(host):
    address = _address(host)
    assert host.socket(f"tcp://{address}:{PORT}").is_listening, (
        f"{host.backend.hostname}: nothing listens on {address}:{PORT}")
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening, (
        f"{host.backend.hostname}: the cache listens on every address")


def test_apt_fetches_the_package_indexes_through_the_cache(host):
    proxy = f"Acquire::http::Proxy=http://{_address(host)}:{PORT}"
    res = host.run(f"apt-get -o {proxy} update")
    assert res.rc == 0, f"{host.backend.hostname}: apt through the cache: {res.stderr}"
    kept = host.run("find /var/cache/apt-cacher-ng -name InRelease")
    assert kept.stdout.strip(), f"{host.backend.hostname}: the cache kept no index"


def test_https_passes_through_to_debian_only(host):
    assert _connect_status(host, "deb.debian.org") == "200", (
        f"{host.backend.hostname}: the cache refused HTTPS to deb.debian.org")
    refused = _connect_status(host, "example.invalid")
    assert refused != "200", f"{host.backend.hostname}: the cache tunnelled to example.invalid"
