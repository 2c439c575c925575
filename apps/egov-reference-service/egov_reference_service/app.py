"""The reference e-government service: one small web application, configured per service,
that stands in for the city's systems so that every path of the platform is real.

Who the user is comes only from the SSO (an ID token verified against the portal's keys,
kept in a signed session cookie) or, for G2G services, from the client certificate the
gateway verified. Identity headers are believed only from the gateways' addresses, and the
gateway overwrites them on every request.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.parse
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

import jwt
import psycopg2
import psycopg2.pool
import requests
from flask import Flask, abort, jsonify, redirect, render_template, request, session

log = logging.getLogger("egov-service")

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

SCHEMAS = {
    "slawe": """CREATE TABLE IF NOT EXISTS requests (
        id bigserial PRIMARY KEY, citizen text NOT NULL, kind text NOT NULL,
        note text NOT NULL DEFAULT '', status text NOT NULL DEFAULT 'submitted',
        filed timestamptz NOT NULL DEFAULT now())""",
    "sipanse": """CREATE TABLE IF NOT EXISTS licences (
        id bigserial PRIMARY KEY, business text NOT NULL, licence text NOT NULL,
        activity text NOT NULL DEFAULT '', status text NOT NULL DEFAULT 'submitted',
        filed timestamptz NOT NULL DEFAULT now())""",
    "spcp": """CREATE TABLE IF NOT EXISTS residents (
        nik char(16) PRIMARY KEY, name text NOT NULL, birth_date date NOT NULL,
        district text NOT NULL);
        CREATE TABLE IF NOT EXISTS lookups (
        id bigserial PRIMARY KEY, client text NOT NULL, nik text NOT NULL,
        found boolean NOT NULL, at timestamptz NOT NULL DEFAULT now())""",
    "eabsen": """CREATE TABLE IF NOT EXISTS attendance (
        id bigserial PRIMARY KEY, employee text NOT NULL,
        day date NOT NULL DEFAULT current_date, check_in timestamptz,
        check_out timestamptz, UNIQUE (employee, day))""",
    "records": """CREATE TABLE IF NOT EXISTS records (
        id bigserial PRIMARY KEY, owner text NOT NULL, body text NOT NULL,
        filed timestamptz NOT NULL DEFAULT now())""",
}
# Synthetic residents for the lab's data-exchange API (never real people).
LAB_RESIDENTS = [
    ("1771010101900001", "Budi Santoso", "1990-01-01", "Gading Cempaka"),
    ("1771020202850002", "Siti Aminah", "1985-02-02", "Ratu Agung"),
    ("1771030303000003", "Rahmat Hidayat", "2000-03-03", "Teluk Segara"),
]


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


def _secret(path: str) -> str:
    return Path(path).read_text().strip()


def create_app(config_path: str | None = None) -> Flask:
    cfg = json.loads(Path(config_path or os.environ["EGOV_SERVICE_CONFIG"]).read_text())
    name, kind, login_method = cfg["name"], cfg["kind"], cfg["login"]
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret(cfg["session_secret_file"]),
                      SESSION_COOKIE_NAME=f"egov_{name.replace('-', '_')}_session",
                      SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=3600)
    metrics = Metrics(name)
    db = cfg["database"]
    pool = psycopg2.pool.ThreadedConnectionPool(
        0, 8, host=db["host"], port=db["port"], dbname=db["name"], user=db["user"],
        password=_secret(db["password_file"]), sslmode="verify-full",
        sslrootcert=db["ca_file"], connect_timeout=5, application_name=name)
    trusted = set(cfg.get("trusted_proxies", []))

    @contextmanager
    def cursor():
        conn = pool.getconn()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            pool.putconn(conn)

    def prepare_database() -> None:
        with cursor() as cur:
            cur.execute(SCHEMAS[kind])
            if kind == "spcp" and cfg.get("seed_lab_residents"):
                cur.executemany("INSERT INTO residents VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT (nik) DO NOTHING", LAB_RESIDENTS)

    for _attempt in range(30):  # the database may still be starting with the node
        try:
            prepare_database()
            break
        except psycopg2.OperationalError as exc:
            log.warning("database not ready (%s), retrying", str(exc).strip())
            time.sleep(2)
    else:
        prepare_database()

    def wrote(table: str, what: str, **fields) -> None:
        metrics.write(table)
        log.info("write %s %s %s", table, what, json.dumps(fields, default=str, sort_keys=True))

    # ---- who is asking --------------------------------------------------------------
    oidc = cfg.get("oidc") or {}
    keys: dict[str, object] = {}

    # The portal's back channel inside the data centre is asked for by its public name.
    internal = {"Host": oidc["internal_host"]} if oidc.get("internal_host") else {}

    def signing_key(kid: str):
        if kid not in keys:
            jwks = requests.get(oidc["jwks_uri"], headers=internal,
                                timeout=10).json()
            keys.clear()
            for jwk in jwks.get("keys", []):
                if jwk.get("use", "sig") == "sig":
                    keys[jwk.get("kid", "")] = jwt.PyJWK(jwk).key
        if kid not in keys:
            abort(401, "the ID token is signed by an unknown key")
        return keys[kid]

    def wants_json() -> bool:
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        return request.is_json or best == "application/json"

    def user_required(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = session.get("user")
            if not user:
                if request.method != "GET":
                    abort(401, "sign in first")
                here = request.full_path if request.query_string else request.path
                return redirect(f"/login?next={urllib.parse.quote(here)}")
            if oidc.get("group") and oidc["group"] not in user["groups"]:
                abort(403, f"this service is for {oidc['group']} only")
            return view(user, *args, **kwargs)
        return wrapper

    def client_required(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if request.remote_addr not in trusted:
                abort(403, "requests come through the gateway only")
            if request.headers.get("X-Egov-Client-Verify") != "SUCCESS":
                abort(403, "a client certificate from the internal CA is required")
            dn = request.headers.get("X-Egov-Client-DN", "")
            parts = dict(p.split("=", 1) for p in dn.split(",") if "=" in p)
            if parts.get("OU") != cfg["mtls"]["organizational_unit"] or not parts.get("CN"):
                abort(403, "the client certificate is not a partner agency's")
            return view(parts["CN"], *args, **kwargs)
        return wrapper

    @app.get("/login")
    def login():
        if login_method != "sso":
            abort(404)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        nxt = request.args.get("next", "/")
        session["oidc"] = {"state": state, "nonce": nonce,
                           "next": nxt if nxt.startswith("/") and not nxt.startswith("//")
                           else "/"}
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": oidc["client_id"],
            "redirect_uri": cfg["public_url"] + "/oidc/callback",
            "scope": "openid profile email groups", "state": state, "nonce": nonce})
        return redirect(f"{oidc['authorization_endpoint']}?{query}")

    @app.get("/oidc/callback")
    def callback():
        pending = session.pop("oidc", None)
        if not pending or request.args.get("state") != pending["state"]:
            abort(400, "unknown or replayed sign-in")
        if "code" not in request.args:
            abort(403, request.args.get("error_description") or request.args.get("error")
                  or "the portal refused the sign-in")
        answer = requests.post(oidc["token_endpoint"], headers=internal,
                               data={"grant_type": "authorization_code",
                                     "code": request.args["code"],
                                     "redirect_uri": cfg["public_url"] + "/oidc/callback"},
                               auth=(oidc["client_id"], _secret(oidc["client_secret_file"])),
                               timeout=10)
        if answer.status_code != 200:
            log.warning("token endpoint answered %s: %s", answer.status_code, answer.text[:200])
            abort(502, "the portal did not exchange the code")
        token = answer.json()["id_token"]
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, signing_key(header.get("kid", "")), algorithms=["RS256"],
                            audience=oidc["client_id"], issuer=oidc["issuer"],
                            options={"require": ["exp", "iat", "sub", "nonce"]})
        if claims["nonce"] != pending["nonce"]:
            abort(400, "the ID token answers another sign-in")
        groups = claims.get("groups") or []
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.replace(",", ";").split(";") if g.strip()]
        session.clear()
        session["user"] = {"sub": claims["sub"], "name": claims.get("name", claims["sub"]),
                           "groups": sorted(groups)}
        session.permanent = True
        log.info("sign-in %s groups=%s", claims["sub"], ",".join(groups))
        return redirect(pending["next"])

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect("/")

    # ---- health and metrics ------------------------------------------------------------
    def database_up() -> bool:
        try:
            with cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except psycopg2.Error:
            return False

    @app.get("/healthz")
    def healthz():
        ok = database_up()
        return jsonify(service=name, status="ok" if ok else "database unreachable"), \
            200 if ok else 503

    @app.get("/metrics")
    def prometheus():
        return metrics.render(database_up()), 200, {"Content-Type": "text/plain; version=0.0.4"}

    @app.after_request
    def count(response):
        metrics.request(request.method, response.status_code)
        return response

    # ---- the service itself ------------------------------------------------------------
    def page(template: str, user: dict, **values):
        return render_template(template, cfg=cfg, user=user, **values)

    if kind == "slawe":
        @app.get("/")
        @user_required
        def my_requests(user):
            with cursor() as cur:
                cur.execute("SELECT id, kind, note, status, filed FROM requests "
                            "WHERE citizen = %s ORDER BY id", (user["sub"],))
                rows = [dict(zip(("id", "kind", "note", "status", "filed"), r, strict=True))
                        for r in cur.fetchall()]
            if wants_json():
                return jsonify(requests=rows)
            return page("slawe.html", user, rows=rows, types=SLAWE_TYPES)

        @app.post("/requests")
        @user_required
        def file_request(user):
            data = request.get_json(silent=True) or request.form
            kind_ = data.get("kind", "")
            if kind_ not in SLAWE_TYPES:
                abort(400, f"kind must be one of {', '.join(SLAWE_TYPES)}")
            note = str(data.get("note", ""))[:500]
            with cursor() as cur:
                cur.execute("INSERT INTO requests (citizen, kind, note) VALUES (%s, %s, %s) "
                            "RETURNING id, status", (user["sub"], kind_, note))
                rid, status = cur.fetchone()
            wrote("requests", "filed", id=rid, citizen=user["sub"], kind=kind_)
            if wants_json():
                return jsonify(id=rid, kind=kind_, status=status), 201
            return redirect("/")

    elif kind == "sipanse":
        @app.get("/")
        @user_required
        def my_licences(user):
            with cursor() as cur:
                cur.execute("SELECT id, licence, activity, status, filed FROM licences "
                            "WHERE business = %s ORDER BY id", (user["sub"],))
                rows = [dict(zip(("id", "licence", "activity", "status", "filed"), r, strict=True))
                        for r in cur.fetchall()]
            if wants_json():
                return jsonify(licences=rows)
            return page("sipanse.html", user, rows=rows, types=LICENCE_TYPES)

        @app.post("/licences")
        @user_required
        def apply(user):
            data = request.get_json(silent=True) or request.form
            licence = data.get("licence", "")
            if licence not in LICENCE_TYPES:
                abort(400, f"licence must be one of {', '.join(LICENCE_TYPES)}")
            activity = str(data.get("activity", ""))[:500]
            with cursor() as cur:
                cur.execute("INSERT INTO licences (business, licence, activity) "
                            "VALUES (%s, %s, %s) RETURNING id, status",
                            (user["sub"], licence, activity))
                lid, status = cur.fetchone()
            wrote("licences", "applied", id=lid, business=user["sub"], licence=licence)
            if wants_json():
                return jsonify(id=lid, licence=licence, status=status), 201
            return redirect("/")

    elif kind == "spcp":
        @app.get("/api/residents/<nik>")
        @client_required
        def resident(client, nik):
            if not (len(nik) == 16 and nik.isdigit()):
                abort(400, "a resident identifier (NIK) is 16 digits")
            with cursor() as cur:
                cur.execute("SELECT nik, name, birth_date, district FROM residents "
                            "WHERE nik = %s", (nik,))
                row = cur.fetchone()
                cur.execute("INSERT INTO lookups (client, nik, found) VALUES (%s, %s, %s)",
                            (client, nik, row is not None))
            wrote("lookups", "lookup", client=client, nik=nik, found=row is not None)
            if row is None:
                abort(404, "no resident with that identifier")
            return jsonify(dict(zip(("nik", "name", "birth_date", "district"),
                                    (row[0], row[1], row[2].isoformat(), row[3]), strict=True)))

        @app.get("/")
        @client_required
        def api_index(client):
            return jsonify(service=name, client=client,
                           endpoints=["/api/residents/<nik>"])

    elif kind == "eabsen":
        @app.get("/")
        @user_required
        def today(user):
            with cursor() as cur:
                cur.execute("SELECT check_in, check_out FROM attendance "
                            "WHERE employee = %s AND day = current_date", (user["sub"],))
                mine = cur.fetchone()
            mine = dict(zip(("check_in", "check_out"), mine, strict=True)) if mine else None
            if wants_json():
                return jsonify(employee=user["sub"], today=mine)
            return page("eabsen.html", user, mine=mine,
                        supervisor=cfg["supervisor_group"] in user["groups"])

        @app.post("/check-in")
        @user_required
        def check_in(user):
            with cursor() as cur:
                cur.execute("INSERT INTO attendance (employee, check_in) VALUES (%s, now()) "
                            "ON CONFLICT (employee, day) DO NOTHING RETURNING id",
                            (user["sub"],))
                row = cur.fetchone()
            if row is None:
                abort(409, "already checked in today")
            wrote("attendance", "check-in", id=row[0], employee=user["sub"])
            return (jsonify(checked_in=True), 201) if wants_json() else redirect("/")

        @app.post("/check-out")
        @user_required
        def check_out(user):
            with cursor() as cur:
                cur.execute("UPDATE attendance SET check_out = now() WHERE employee = %s "
                            "AND day = current_date AND check_out IS NULL RETURNING id",
                            (user["sub"],))
                row = cur.fetchone()
            if row is None:
                abort(409, "not checked in, or already checked out today")
            wrote("attendance", "check-out", id=row[0], employee=user["sub"])
            return (jsonify(checked_out=True), 200) if wants_json() else redirect("/")

        @app.get("/attendance")
        @user_required
        def attendance(user):
            if cfg["supervisor_group"] not in user["groups"]:
                abort(403, "only supervisors see the day's attendance")
            with cursor() as cur:
                cur.execute("SELECT employee, check_in, check_out FROM attendance "
                            "WHERE day = current_date ORDER BY employee")
                rows = [dict(zip(("employee", "check_in", "check_out"), r, strict=True))
                        for r in cur.fetchall()]
            return jsonify(day=time.strftime("%Y-%m-%d"), attendance=rows)

    else:  # a newly onboarded service: records kept per user (or per partner system)
        guard = user_required if login_method == "sso" else client_required

        def owner(who) -> str:
            return who["sub"] if isinstance(who, dict) else who

        @app.get("/")
        @guard
        def my_records(who):
            with cursor() as cur:
                cur.execute("SELECT id, body, filed FROM records WHERE owner = %s ORDER BY id",
                            (owner(who),))
                rows = [dict(zip(("id", "body", "filed"), r, strict=True)) for r in cur.fetchall()]
            return jsonify(service=name, records=rows)

        @app.post("/records")
        @guard
        def add_record(who):
            data = request.get_json(silent=True) or request.form
            body = str(data.get("body", ""))[:2000]
            if not body:
                abort(400, "body is empty")
            with cursor() as cur:
                cur.execute("INSERT INTO records (owner, body) VALUES (%s, %s) RETURNING id",
                            (owner(who), body))
                rid = cur.fetchone()[0]
            wrote("records", "added", id=rid, owner=owner(who))
            return jsonify(id=rid), 201

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(409)
    @app.errorhandler(502)
    def error(exc):
        return jsonify(error=exc.description), exc.code

    return app
