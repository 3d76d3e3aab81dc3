from __future__ import annotations

from http import HTTPStatus


def test_the_served_schema_describes_the_async_llm_endpoints(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    paths = response.json()["paths"]
    for path in (
        "/api/jobs/{job_id}/llm-call",
        "/api/jobs/{job_id}/llm-call-stream",
        "/api/jobs/create-and-call",
        "/api/jobs/create-and-call-stream",
    ):
        assert "operationId" in paths[path]["post"]
    assert "/api/jobs/{job_id}/complete" in paths
