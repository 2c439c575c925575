"""Forms for citizens and businesses (G2C, G2B): civil registration requests (SLAWE) and
business licences (SIPANSE), each signed in through the SSO portal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, abort, jsonify, redirect, request

from egov_reference_service.auth import user_required
from egov_reference_service.service import wants_json

if TYPE_CHECKING:
    from egov_reference_service.service import Service

# The nine request types of the civil registration office (SLAWE).
SLAWE_TYPES = {
    "ktp": "Kartu Tanda Penduduk (identity card)",
    "kia": "Kartu Identitas Anak (child identity card)",
    "sync": "Online data synchronisation",
    "recording": "Recording certificate",
    "birth": "Birth certificate",
    "death": "Death certificate",
    "family-card": "Family card",
    "moving": "Moving letter",
    "mobile": "Mobile registration service",
}
LICENCE_TYPES = {"siup": "Trading licence", "nib": "Business identification number",
                 "imb": "Building permit", "reklame": "Advertising permit"}


def civil_registration(svc: Service) -> Blueprint:
    """G2C: a citizen files requests and follows them."""
    bp = Blueprint("slawe", __name__)

    @bp.get("/")
    @user_required(svc)
    def my_requests(user):
        with svc.cursor() as cur:
            cur.execute("SELECT id, kind, note, status, filed FROM requests "
                        "WHERE citizen = %s ORDER BY id", (user["sub"],))
            rows = [dict(zip(("id", "kind", "note", "status", "filed"), r, strict=True))
                    for r in cur.fetchall()]
        if wants_json():
            return jsonify(requests=rows)
        return svc.page("slawe.html", user, rows=rows, types=SLAWE_TYPES)

    @bp.post("/requests")
    @user_required(svc)
    def file_request(user):
        data = request.get_json(silent=True) or request.form
        kind_ = data.get("kind", "")
        if kind_ not in SLAWE_TYPES:
            abort(400, f"kind must be one of {', '.join(SLAWE_TYPES)}")
        note = str(data.get("note", ""))[:500]
        with svc.cursor() as cur:
            cur.execute("INSERT INTO requests (citizen, kind, note) VALUES (%s, %s, %s) "
                        "RETURNING id, status", (user["sub"], kind_, note))
            rid, status = cur.fetchone()
        svc.wrote("requests", "filed", id=rid, citizen=user["sub"], kind=kind_)
        if wants_json():
            return jsonify(id=rid, kind=kind_, status=status), 201
        return redirect("/")

    return bp


def business_licences(svc: Service) -> Blueprint:
    """G2B: a business applies for licences and follows them."""
    bp = Blueprint("sipanse", __name__)

    @bp.get("/")
    @user_required(svc)
    def my_licences(user):
        with svc.cursor() as cur:
            cur.execute("SELECT id, licence, activity, status, filed FROM licences "
                        "WHERE business = %s ORDER BY id", (user["sub"],))
            rows = [dict(zip(("id", "licence", "activity", "status", "filed"), r, strict=True))
                    for r in cur.fetchall()]
        if wants_json():
            return jsonify(licences=rows)
        return svc.page("sipanse.html", user, rows=rows, types=LICENCE_TYPES)

    @bp.post("/licences")
    @user_required(svc)
    def apply(user):
        data = request.get_json(silent=True) or request.form
        licence = data.get("licence", "")
        if licence not in LICENCE_TYPES:
            abort(400, f"licence must be one of {', '.join(LICENCE_TYPES)}")
        activity = str(data.get("activity", ""))[:500]
        with svc.cursor() as cur:
            cur.execute("INSERT INTO licences (business, licence, activity) "
                        "VALUES (%s, %s, %s) RETURNING id, status",
                        (user["sub"], licence, activity))
            lid, status = cur.fetchone()
        svc.wrote("licences", "applied", id=lid, business=user["sub"], licence=licence)
        if wants_json():
            return jsonify(id=lid, licence=licence, status=status), 201
        return redirect("/")

    return bp
