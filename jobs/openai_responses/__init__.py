"""OpenAI's Responses API: `POST /v1/responses` (streamed or not), `GET` and
`DELETE /v1/responses/{id}`. An adapter over the call pipeline, billed, refused and
answered like /v1/chat/completions (jobs/openai_api.py): a one-call job, or a call
on the open job of `X-Job-Id`; `model` is an alias, and every answer names it.

Request: translated into a chat completions body that the chat endpoint's own
parser (`chat_request_parse`) validates, so every rule of a call lives once.
litellm's Responses bridge does the translations it has in public form: input
items to chat messages (after the history of `previous_response_id`, which the
gateway expands itself: jobs.services.responses), function tools, and the answer's
output items and status. Hand-written here, and why:
- `tool_choice` and `text.format`: litellm's converters are private, and the
  latter drops a schema's `description`;
- the stream: litellm's streaming iterator pulls from a litellm stream it owns,
  whereas here the pipeline owns the provider stream (its billing, its
  disconnects) and hands over one chat chunk at a time.

Fields: `model`, `input`, `instructions`, `tools` (function tools only: a built-in
tool such as web_search is a 400 naming it), `tool_choice`, `max_output_tokens`,
`temperature`, `top_p`, `text`, `user`, `metadata`, `store`, `stream`,
`previous_response_id`; `parallel_tool_calls`, `reasoning.effort`, `service_tier`,
`safety_identifier` and `prompt_cache_key` go to the chat parser, whose policy
applies to them. Accepted and ignored, since nothing they ask for is produced
here: `include`, `stream_options`, `top_logprobs` (no logprobs are returned) and
`max_tool_calls` (it counts built-in tool calls). Refused when set: `background`,
`conversation`, `prompt`, `truncation: "auto"`. Any other field is a 400 naming
it, as OpenAI answers. In `input`, `reasoning` items are dropped (a chat model
cannot take a prior turn's reasoning back) and items of built-in tools refused.

Responses are stored (unless `store: false`) before the answer, or a stream's
`response.completed`, is written, so the next turn can name them at once. A stream
cut by its client, or a failed call, is not stored.

Modules: `parse` (the request as a chat call), `answers` (the response object and
the stream's events), `views`.
"""

from __future__ import annotations

from jobs.openai_responses.views import response_detail, responses_create

__all__ = ["response_detail", "responses_create"]
