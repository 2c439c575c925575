"""Attendance for the city's employees (G2E, EABSEN): check in and out through the SSO
portal; supervisors see the day's attendance."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, abort, jsonify, redirect

from egov_reference_service.auth import user_required
from egov_reference_service.service import wants_json

if TYPE_CHECKING:
    from egov_reference_service.service import Service


def attendance_book(svc: Service) -> Blueprint:
    bp = Blueprint("eabsen", __name__)
    cfg = svc.cfg

    @bp.get("/")
    @user_required(svc)
    def today(user):
        with svc.cursor() as cur:
            cur.execute("SELECT check_in, check_out FROM attendance "
                        "WHERE employee = %s AND day = current_date", (user["sub"],))
            mine = cur.fetchone()
        mine = dict(zip(("check_in", "check_out"), mine, strict=True)) if mine else None
        if wants_json():
            return jsonify(employee=user["sub"], today=mine)
        return svc.page("eabsen.html", user, mine=mine,
                        supervisor=cfg["supervisor_group"] in user["groups"])

    @bp.post("/check-in")
    @user_required(svc)
    def check_in(user):
        with svc.cursor() as cur:
            cur.execute("INSERT INTO attendance (employee, check_in) VALUES (%s, now()) "
                        "ON CONFLICT (employee, day) DO NOTHING RETURNING id",
                        (user["sub"],))
            row = cur.fetchone()
        if row is None:
            abort(409, "already checked in today")
        svc.wrote("attendance", "check-in", id=row[0], employee=user["sub"])
        return (jsonify(checked_in=True), 201) if wants_json() else redirect("/")

    @bp.post("/check-out")
    @user_required(svc)
    def check_out(user):
        with svc.cursor() as cur:
            cur.execute("UPDATE attendance SET check_out = now() WHERE employee = %s "
                        "AND day = current_date AND check_out IS NULL RETURNING id",
                        (user["sub"],))
            row = cur.fetchone()
        if row is None:
            abort(409, "not checked in, or already checked out today")
        svc.wrote("attendance", "check-out", id=row[0], employee=user["sub"])
        return (jsonify(checked_out=True), 200) if wants_json() else redirect("/")

    @bp.get("/attendance")
    @user_required(svc)
    def attendance(user):
        if cfg["supervisor_group"] not in user["groups"]:
            abort(403, "only supervisors see the day's attendance")
        with svc.cursor() as cur:
            cur.execute("SELECT employee, check_in, check_out FROM attendance "
                        "WHERE day = current_date ORDER BY employee")
            rows = [dict(zip(("employee", "check_in", "check_out"), r, strict=True))
                    for r in cur.fetchall()]
        return jsonify(day=time.strftime("%Y-%m-%d"), attendance=rows)

    return bp
