"""Generated bodies and query strings thrown at every endpoint that takes input, on
PostgreSQL: none may answer a 5xx, and the ledger must reconcile afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credits.services import credits_reconcile

pytestmark = pytest.mark.postgres

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["\x00", "a\x00b", "\ud800", "sk-" + "0" * 32, "../x", "%00"])
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
RAW_BODIES = st.sampled_from(
    [
        b'{"model": NaN}',
        b'{"max_tokens": 1e999}',
        b'{"a": Infinity}',
        b"[" * 1000 + b"]" * 1000,
        b'{"team_id": "\\ud800"}',
        b'{"job_type": "a\\u0000b"}',
        b"\xff\xfe",
        b"",
        b"null",
    ]
)

HELLO = [{"role": "user", "content": "hi"}]
# (method, path, whose key, a valid body to mutate)
ENDPOINTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("post", "/api/jobs/create", "team", {"team_id": "acme-corp", "job_type": "t"}),
    ("post", "/api/jobs/{job}/llm-call", "team", {"model": "chat", "messages": HELLO}),
    (
        "post",
        "/api/jobs/{job}/llm-call-stream",
        "team",
        {"model": "chat", "messages": HELLO},
    ),
    ("post", "/api/jobs/{job}/complete", "team", {"status": "completed"}),
    ("patch", "/api/jobs/{job}/metadata", "team", {"metadata": {"a": 1}}),
    (
        "post",
        "/api/jobs/create-and-call",
        "team",
        {"team_id": "acme-corp", "job_type": "t", "model": "chat", "messages": HELLO},
    ),
    ("post", "/v1/chat/completions", "team", {"model": "chat", "messages": HELLO}),
    (
        "post",
        "/v1/chat/completions",
        "team",
        {"model": "chat", "messages": HELLO, "stream": True},
    ),
    (
        "post",
        "/api/organizations/create",
        "admin",
        {"organization_id": "o", "name": "O"},
    ),
    (
        "post",
        "/api/teams/create",
        "admin",
        {"organization_id": "org_acme", "team_id": "t2", "credits_allocated": 5},
    ),
    ("put", "/api/teams/acme-corp", "admin", {"team_alias": "A"}),
    ("post", "/api/credits/teams/acme-corp/add", "admin", {"credits": 5}),
    (
        "post",
        "/api/credits/teams/acme-corp/replenish",
        "admin",
        {"credits": 5, "payment_type": "one_time"},
    ),
    (
        "patch",
        "/api/credits/teams/acme-corp/budget-mode",
        "admin",
        {"budget_mode": "consumption_tokens"},
    ),
    (
        "post",
        "/api/models/create",
        "admin",
        {"model_alias": "m", "provider": "openai", "actual_model": "openai/x"},
    ),
    ("post", "/api/teams/acme-corp/keys", "admin", {"name": "k"}),
]
QUERIES = [
    ("/api/teams/acme-corp/jobs", "team", ["status", "limit", "offset"]),
    ("/api/teams/acme-corp/usage", "team", ["period"]),
    ("/api/organizations/org_acme/usage", "admin", ["period"]),
    ("/api/credits/balance", "team", ["team_id"]),
    ("/api/credits/teams/acme-corp/transactions", "team", ["limit"]),
]


@st.composite
def mutated(draw: Any, valid: dict[str, Any]) -> bytes:
    """A body: raw odd bytes, or the valid one with fields replaced or added."""
    if draw(st.integers(0, 5)) == 0:
        return draw(RAW_BODIES)
    body = dict(valid)
    for name in draw(st.lists(st.sampled_from(sorted(valid)), max_size=2)):
        body[name] = draw(JSON_VALUES)
    body.update(draw(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2)))
    return json.dumps(body).encode()


@pytest.fixture
def callers(team_client, admin_client_api, job_id, chat_alias):
    return {"team": team_client, "admin": admin_client_api, "job": job_id}


FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize(
    ("method", "path", "who", "valid"),
    ENDPOINTS,
    ids=[f"{method} {path}" for method, path, _, _ in ENDPOINTS],
)
@FUZZ
@given(data=st.data())
def test_generated_bodies_never_get_a_server_error(
    callers, method, path, who, valid, data
):
    body = data.draw(mutated(valid))
    client = callers[who]
    url = path.format(job=callers["job"])
    response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code < 500, (url, body[:200], response.content[:300])
    assert credits_reconcile() == {}


@pytest.mark.parametrize(("path", "who", "names"), QUERIES)
@FUZZ
@given(data=st.data())
def test_generated_query_strings_never_get_a_server_error(
    callers, path, who, names, data
):
    params = data.draw(st.dictionaries(st.sampled_from(names), st.text(max_size=20)))
    response = callers[who].get(path, params)
    assert response.status_code < 500, (path, params, response.content[:300])
