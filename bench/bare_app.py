"""The yardstick of B1/B2: a bare Flask route, served by the same gunicorn settings.

It answers ``GET /api/v1/me`` with a JSON body of the same shape as col_auth's,
without authentication, database or extensions.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)

_BODY = {
    "userid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    "username": "bench",
    "full_name": "Bench User",
    "email": "bench@bench.example",
    "siteid": "3F2504E0-4F89-11D3-9A0C-0305E82C3302",
    "site": "Bench CU",
    "auth": "user_token",
}


@app.get("/api/v1/me")
def me():
    return jsonify(_BODY)
