"""Health and metrics, common to every service: /healthz, /metrics and the request counter."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify, request

if TYPE_CHECKING:
    from egov_reference_service.service import Service


class Metrics:
    """Counters in the Prometheus text format (one process, several threads)."""

    def __init__(self, service: str):
        self.service = service
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.writes: dict[str, int] = {}
        self.started = time.time()

    def request(self, method: str, status: int) -> None:
        with self.lock:
            key = (method, status)
            self.requests[key] = self.requests.get(key, 0) + 1

    def write(self, table: str) -> None:
        with self.lock:
            self.writes[table] = self.writes.get(table, 0) + 1

    def render(self, database_up: bool) -> str:
        label = f'service="{self.service}"'
        out = ["# HELP egov_service_up The service answers.", "# TYPE egov_service_up gauge",
               f"egov_service_up{{{label}}} 1",
               "# HELP egov_service_database_up The service's database answers.",
               "# TYPE egov_service_database_up gauge",
               f"egov_service_database_up{{{label}}} {int(database_up)}",
               "# HELP egov_service_start_time_seconds Start time of the process.",
               "# TYPE egov_service_start_time_seconds gauge",
               f"egov_service_start_time_seconds{{{label}}} {self.started:.0f}",
               "# HELP egov_service_requests_total HTTP requests answered.",
               "# TYPE egov_service_requests_total counter"]
        with self.lock:
            for (method, status), n in sorted(self.requests.items()):
                out.append(f'egov_service_requests_total{{{label},method="{method}",'
                           f'code="{status}"}} {n}')
            out += ["# HELP egov_service_writes_total Rows written, by table.",
                    "# TYPE egov_service_writes_total counter"]
            for table, n in sorted(self.writes.items()):
                out.append(f'egov_service_writes_total{{{label},table="{table}"}} {n}')
        return "\n".join(out) + "\n"


def blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz():
        ok = svc.database_up()
        return jsonify(service=svc.name, status="ok" if ok else "database unreachable"), \
            200 if ok else 503

    @bp.get("/metrics")
    def prometheus():
        return svc.metrics.render(svc.database_up()), 200, \
            {"Content-Type": "text/plain; version=0.0.4"}

    @bp.after_app_request
    def count(response):
        svc.metrics.request(request.method, response.status_code)
        return response

    return bp
