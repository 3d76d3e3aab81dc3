"""An embedding has no output: its worst case (what is reserved before the call) is
its input's tokens, at the model's input price."""

from __future__ import annotations

from jobs import pricing
from jobs.gateway import CallParams
from jobs.routing import Route

ROUTE = Route(alias="embed", model="openai/text-embedding-3-small")


def embedding(value) -> CallParams:
    return CallParams(messages=[], input=value)


def test_an_embedding_reserves_its_input_tokens_and_no_output():
    tokens, cost = pricing.call_worst_case(
        routes=[ROUTE], params=embedding([[1, 2, 3], [4]])
    )
    assert tokens == 4
    assert cost == pricing.call_cost_usd(
        route=ROUTE, prompt_tokens=4, completion_tokens=0
    )
    assert cost > 0


def test_a_text_reserves_at_least_one_token_per_four_characters():
    assert pricing.input_tokens_estimate(model=ROUTE.model, input="a" * 40) >= 10
    assert pricing.input_tokens_estimate(model=ROUTE.model, input=["a", "b"]) == 2
