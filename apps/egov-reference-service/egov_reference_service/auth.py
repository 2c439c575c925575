"""Who is asking, common to every service: sign-in at the SSO portal (/login,
/oidc/callback, /logout) and the guards that let in a signed-in user of the service's
group, or a partner agency's system by the client certificate the gateway verified."""

from __future__ import annotations

import logging
import secrets
import urllib.parse
from functools import wraps
from typing import TYPE_CHECKING

import jwt
import requests
from flask import Blueprint, abort, redirect, request, session

from egov_reference_service.service import secret

if TYPE_CHECKING:
    from egov_reference_service.service import Service

log = logging.getLogger("egov-service")


def user_required(svc: Service):
    oidc = svc.cfg.get("oidc") or {}

    def guard(view):
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
    return guard


def client_required(svc: Service):
    trusted = set(svc.cfg.get("trusted_proxies", []))

    def guard(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if request.remote_addr not in trusted:
                abort(403, "requests come through the gateway only")
            if request.headers.get("X-Egov-Client-Verify") != "SUCCESS":
                abort(403, "a client certificate from the internal CA is required")
            dn = request.headers.get("X-Egov-Client-DN", "")
            parts = dict(p.split("=", 1) for p in dn.split(",") if "=" in p)
            if parts.get("OU") != svc.cfg["mtls"]["organizational_unit"] or not parts.get("CN"):
                abort(403, "the client certificate is not a partner agency's")
            return view(parts["CN"], *args, **kwargs)
        return wrapper
    return guard


def blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("auth", __name__)
    cfg = svc.cfg
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

    @bp.get("/login")
    def login():
        if svc.login != "sso":
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

    @bp.get("/oidc/callback")
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
                               auth=(oidc["client_id"], secret(oidc["client_secret_file"])),
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

    @bp.post("/logout")
    def logout():
        session.clear()
        return redirect("/")

    return bp
