"""The partner agencies' API (G2G): resident lookups of the population registry (SPCP),
for systems that present a client certificate from the internal CA; no browser login."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, abort, jsonify

from egov_reference_service.auth import client_required

if TYPE_CHECKING:
    from egov_reference_service.service import Service


def resident_lookup(svc: Service) -> Blueprint:
    bp = Blueprint("spcp", __name__)

    @bp.get("/api/residents/<nik>")
    @client_required(svc)
    def resident(client, nik):
        if not (len(nik) == 16 and nik.isdigit()):
            abort(400, "a resident identifier (NIK) is 16 digits")
        with svc.cursor() as cur:
            cur.execute("SELECT nik, name, birth_date, district FROM residents "
                        "WHERE nik = %s", (nik,))
            row = cur.fetchone()
            cur.execute("INSERT INTO lookups (client, nik, found) VALUES (%s, %s, %s)",
                        (client, nik, row is not None))
        svc.wrote("lookups", "lookup", client=client, nik=nik, found=row is not None)
        if row is None:
            abort(404, "no resident with that identifier")
        return jsonify(dict(zip(("nik", "name", "birth_date", "district"),
                                (row[0], row[1], row[2].isoformat(), row[3]), strict=True)))

    @bp.get("/")
    @client_required(svc)
    def api_index(client):
        return jsonify(service=svc.name, client=client,
                       endpoints=["/api/residents/<nik>"])

    return bp
