"""A sample third-party app: it sends the user to col_auth and uses what comes back.

Run alone with ``flask --app examples/sample_app/app.py run --port 5001`` and the
settings in the environment (``SAMPLE_COL_AUTH_URL``, ``SAMPLE_APP_TOKEN``,
``SAMPLE_APP_SECRET``); ``col-auth demo`` starts it already configured.
"""

from __future__ import annotations

import base64
import os
import secrets
from urllib.parse import urlencode

import jwt
import requests
from flask import Flask, render_template_string, request

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sample third-party app</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
 padding: 0 1rem">
<h1>Sample third-party app</h1>
<p>This app never sees your col_auth password.</p>
<p><a href="{{ user_link }}">Connect with col_auth</a> (user token) ·
<a href="{{ site_link }}">Connect as site</a> (site token, site administrators)</p>
{% if cancelled %}<p><strong>You cancelled.</strong> Nothing was granted.</p>{% endif %}
{% if error %}<p><strong>Error:</strong> {{ error }}</p>{% endif %}
{% if claims %}<h2>Verified packet</h2><pre>{{ claims | tojson(indent=2) }}</pre>{% endif %}
{% if me %}<h2>/api/v1/me</h2><pre>{{ me | tojson(indent=2) }}</pre>{% endif %}
</body></html>"""


def create_sample_app(settings: dict[str, str] | None = None) -> Flask:
    settings = dict(settings or {})
    for key in ("COL_AUTH_URL", "APP_TOKEN", "APP_SECRET", "CLIENT_ID", "CLIENT_SECRET"):
        settings.setdefault(key, os.environ.get(f"SAMPLE_{key}", ""))
    base = settings["COL_AUTH_URL"].rstrip("/") or "http://127.0.0.1:5000"
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secrets.token_urlsafe(32)

    def auth_link(token_type: str) -> str:
        return f"{base}/auth/?" + urlencode({"apptoken": settings["APP_TOKEN"],
                                             "type": token_type})

    def page(**context):
        return render_template_string(PAGE, user_link=auth_link("44"),
                                      site_link=auth_link("1"), **context)

    @app.route("/")
    def index():
        return page()

    @app.route("/privacy")
    def privacy():
        return "<p>The sample app keeps nothing about you.</p>"

    @app.route("/col")
    def col_return():
        if request.args.get("cancel") == "1":
            return page(cancelled=True)
        packet = request.args.get("jwt", "")
        try:
            claims = jwt.decode(packet, settings["APP_SECRET"].encode("utf-8"),
                                algorithms=["HS256"], options={"require": ["iat", "jti"]})
        except jwt.PyJWTError as exc:
            return page(error=f"the packet does not verify: {exc}"), 400
        if "error" in claims:
            return page(error=claims["error"], claims=claims)
        basic = base64.b64encode(f"{claims['username']}:{claims['token']}".encode()).decode()
        response = requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Basic {basic}"},
                                timeout=10)
        shown = dict(claims, token=claims["token"][:16] + "…")
        return page(claims=shown, me=response.json())

    @app.route("/oauth/callback")
    def oauth_callback():
        if "error" in request.args:
            return page(error=request.args["error"])
        response = requests.post(f"{base}/api/o/oauth/v2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": request.args.get("code", ""),
            "redirect_uri": request.base_url, "client_id": settings["CLIENT_ID"],
            "client_secret": settings["CLIENT_SECRET"]})
        if response.status_code != 200:
            return page(error=response.json().get("error", "token request failed")), 400
        access = response.json()["access_token"]
        me = requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {access}"},
                          timeout=10)
        return page(me=me.json())

    return app
