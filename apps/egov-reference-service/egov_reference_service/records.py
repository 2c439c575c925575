"""A newly onboarded service: records kept per signed-in user, or per partner system for a
G2G service, until the agency's own system replaces it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, abort, jsonify, request

from egov_reference_service.auth import client_required, user_required

if TYPE_CHECKING:
    from egov_reference_service.service import Service


def records_book(svc: Service) -> Blueprint:
    bp = Blueprint("records", __name__)
    guard = user_required(svc) if svc.login == "sso" else client_required(svc)

    def owner(who) -> str:
        return who["sub"] if isinstance(who, dict) else who

    @bp.get("/")
    @guard
    def my_records(who):
        with svc.cursor() as cur:
            cur.execute("SELECT id, body, filed FROM records WHERE owner = %s ORDER BY id",
                        (owner(who),))
            rows = [dict(zip(("id", "body", "filed"), r, strict=True)) for r in cur.fetchall()]
        return jsonify(service=svc.name, records=rows)

    @bp.post("/records")
    @guard
    def add_record(who):
        data = request.get_json(silent=True) or request.form
        body = str(data.get("body", ""))[:2000]
        if not body:
            abort(400, "body is empty")
        with svc.cursor() as cur:
            cur.execute("INSERT INTO records (owner, body) VALUES (%s, %s) RETURNING id",
                        (owner(who), body))
            rid = cur.fetchone()[0]
        svc.wrote("records", "added", id=rid, owner=owner(who))
        return jsonify(id=rid), 201

    return bp
