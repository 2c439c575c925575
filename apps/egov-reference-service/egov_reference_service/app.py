"""The reference e-government service: one small web application, configured per service,
that stands in for the city's systems so that every path of the platform is real.

Who the user is comes only from the SSO (an ID token verified against the portal's keys,
kept in a signed session cookie) or, for G2G services, from the client certificate the
gateway verified. Identity headers are believed only from the gateways' addresses, and the
gateway overwrites them on every request.

Every service has sign-in (auth.py) and health and metrics (health.py); its own pages come
from the blueprint of its kind: citizen.py (G2C, G2B), partner.py (G2G), employee.py (G2E),
or records.py for a newly onboarded service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Flask, jsonify

from egov_reference_service import auth, health
from egov_reference_service.citizen import business_licences, civil_registration
from egov_reference_service.employee import attendance_book
from egov_reference_service.partner import resident_lookup
from egov_reference_service.records import records_book
from egov_reference_service.service import Service, secret

# A service's kind names the pages it serves; any other kind keeps records.
BLUEPRINT_OF_KIND: dict[str, Callable[[Service], Blueprint]] = {
    "slawe": civil_registration,
    "sipanse": business_licences,
    "spcp": resident_lookup,
    "eabsen": attendance_book,
}


def create_app(config_path: str | None = None) -> Flask:
    cfg = json.loads(Path(config_path or os.environ["EGOV_SERVICE_CONFIG"]).read_text())
    name = cfg["name"]
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret(cfg["session_secret_file"]),
                      SESSION_COOKIE_NAME=f"egov_{name.replace('-', '_')}_session",
                      SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=3600)
    svc = Service(cfg)
    svc.prepare_database_when_up()

    app.register_blueprint(auth.blueprint(svc))
    app.register_blueprint(health.blueprint(svc))
    app.register_blueprint(BLUEPRINT_OF_KIND.get(svc.kind, records_book)(svc))

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(409)
    @app.errorhandler(502)
    def error(exc):
        return jsonify(error=exc.description), exc.code

    return app
