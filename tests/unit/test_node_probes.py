"""The probes the node checks run on a node leave nothing that another check, running at the
same time on the same node, would take for a listening port: the DNS query's UDP socket is
connected while it waits for the answer (`ss --listening` lists only unconnected ones)."""

from __future__ import annotations

import importlib.util
import socket
import struct
import subprocess
import threading
from pathlib import Path

NODES = Path(__file__).resolve().parents[1] / "nodes"
UDP_STATES = {"01": "connected", "07": "unconnected"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"node_check_{name}", NODES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalHost:
    """Just enough of a testinfra host to run a check's command on this machine."""

    def check_output(self, command: str) -> str:
        return subprocess.run(command, shell=True, check=True, capture_output=True,
                              text=True, timeout=30).stdout


def _udp_state(port: int) -> str:
    """The state of this machine's IPv4 UDP socket bound to `port`, as /proc/net/udp has it."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            return UDP_STATES.get(fields[3], fields[3])
    return "gone"


def _answer(query: bytes, address: str) -> bytes:
    header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    record = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
    return header + query[12:] + record


def test_the_dns_query_waits_on_a_connected_socket_and_reads_the_answer():
    dns = _load("test_dns")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    seen: list[str] = []

    def serve():
        query, client = server.recvfrom(512)
        seen.append(_udp_state(client[1]))
        server.sendto(_answer(query, "10.20.30.40"), client)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        answers = dns.query(LocalHost(), "127.0.0.1", "node.example.", port=server.getsockname()[1])
    finally:
        thread.join(15)
        server.close()
    assert answers == {"node.example.": {"rcode": 0, "addresses": ["10.20.30.40"]}}
    assert seen == ["connected"], \
        f"the query's socket was {seen} while it waited: the firewall check would see a listener"
