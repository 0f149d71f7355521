"""JSON bodies (``web.json``): nesting too deep for the parser is a 400
``invalid_request``, wherever the app reads JSON (issue 9, finding 6: a
``RecursionError`` and a 500)."""

from __future__ import annotations

import pytest
import requests
from flask import request
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest

from col_auth.core.errors import InvalidRequest
from col_auth.core.models import Item
from col_auth.extensions import db
from col_auth.web import errors
from tests.api.test_web_api import issue
from tests.helpers import basic, seed

DEEP_BODIES = ["[" * 100_000, '{"a":' * 50_000, '{"title": "x", "body": ' + "[" * 100_000,
               "[" * 100_000 + "]" * 100_000]


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["open-arrays", "open-objects",
                                                   "inside-a-field", "closed-arrays"])
def test_deeply_nested_json_at_the_api_is_invalid_request(app, live, body):
    s = seed(app)
    _, token = issue(app, s.member_id, s.app_token)
    response = requests.post(f"{live.url}/api/v1/items", data=body, timeout=30,
                             headers={**basic("Member", token),
                                      "Content-Type": "application/json"})
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid_request"
    assert "nested" in response.json()["error_description"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Item)) == 0


def test_nesting_that_the_parser_can_read_is_left_to_the_validator(app, live):
    s = seed(app)
    _, token = issue(app, s.member_id, s.app_token)
    response = requests.post(f"{live.url}/api/v1/items", timeout=30,
                             data='{"title": ' + "[" * 200 + "]" * 200 + "}",
                             headers={**basic("Member", token),
                                      "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"


@pytest.mark.parametrize("silent", [True, False])
def test_every_get_json_refuses_deep_nesting_as_invalid_request(app, silent):
    """Not only the one view: ``request.get_json`` anywhere, silent or not."""
    with app.test_request_context("/api/v1/items", method="POST", data="[" * 100_000,
                                  content_type="application/json"), \
            pytest.raises(InvalidRequest):
        request.get_json(silent=silent)


def test_json_that_does_not_parse_at_the_api_is_a_400_with_a_stable_code(app):
    """What Flask's own refusal (``BadRequest`` from a non-silent ``get_json``) answers
    on /api/v1: 400 JSON ``bad_request``."""
    with app.test_request_context("/api/v1/items", method="POST", data="{nope",
                                  content_type="application/json"):
        with pytest.raises(BadRequest) as refused:
            request.get_json()
        response = errors.json_response(refused.value)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
