from __future__ import annotations

from http import HTTPStatus


def test_the_served_schema_describes_the_openai_endpoints(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    paths = response.json()["paths"]
    chat = paths["/v1/chat/completions"]["post"]
    assert chat["operationId"] == "openai_chat_completions"
    assert set(chat["responses"]["200"]["headers"]) == {
        "X-Job-Id",
        "X-Call-Id",
        "X-Gateway-Overhead-Ms",
        "X-Credits-Charged",
        "X-Credits-Remaining",
        "X-Request-Id",
    }
    assert paths["/v1/models"]["get"]["operationId"] == "openai_models_list"
    assert paths["/v1/models/{model}"]["get"]["operationId"] == "openai_models_retrieve"
