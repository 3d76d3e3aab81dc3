"""Anthropic's Messages API, so the official Anthropic SDKs and Claude Code work
unchanged: `POST /v1/messages` (streamed or not) and `POST /v1/messages/count_tokens`;
`GET /v1/models` answers in Anthropic's shape when asked with `anthropic-version`.

An adapter over the call pipeline like jobs/openai_api.py. litellm's own translator
(`LiteLLMAnthropicMessagesAdapter`) turns the request into an OpenAI chat completions
body, which the chat endpoint's parser (`chat_request_parse`) validates: every rule
lives there once. The call is billed, refused and recorded as a chat completion is
(a one-call job, or with `X-Job-Id` a call on that open job). The answer is turned
back by litellm's translator; a stream's events are written here (answers.py's
`EventWriter` says why). parse.py reads requests, answers.py writes answers,
views.py holds the three views. The key is the team's virtual key, as `x-api-key`
or `Authorization: Bearer`; `model` is an alias, and every answer names the alias.

Request fields, by policy (the README repeats it):
- honoured: model, messages, max_tokens (required), system (a string or text blocks:
  it becomes the first message, a system one), stop_sequences, stream, temperature,
  top_p, tools (client tools: name, description, input_schema), tool_choice (auto,
  any, none, tool; disable_parallel_tool_use), metadata.user_id (the job's user_id,
  passed on as OpenAI's `user`), output_config.format or output_format (a JSON
  answer). Blocks: text, image (base64 or url), document (base64) and tool_result in
  user turns; text and tool_use in assistant turns.
- dropped, because a provider behind an alias may refuse them and the answer means
  the same without them: every `anthropic-beta` flag; top_k; thinking (answers
  carry no thinking blocks, and thinking blocks sent back are left out); cache_control
  wherever it is (prompt caching is the provider's business); service_tier, speed,
  inference_geo, diagnostics, context_management, output_config.effort; a tool's
  other fields (strict, input_examples, …); tool_result.is_error; tool_choice without
  tools; fields Anthropic does not define.
- refused, a 400 (invalid_request_error) naming the field, because the answer would
  mean something else without them: server tools (a tool whose type is not
  `custom`: web search, code execution, bash, computer use, …), mcp_servers,
  container, and content blocks of any other type.

Errors are Anthropic's `{"type": "error", "error": {type, message}}`; after a stream's
first byte, an `event: error`. `usage` tells the tokens billed (a prompt read from
or written to the provider's cache as Anthropic splits it) and `credits`: `charged`
(0 with X-Job-Id: the job is charged when completed) and `remaining`, with the
X-Credits-Charged/X-Credits-Remaining headers. A stream's message_start has the
prompt's tokens counted by litellm's tokenizer (providers tell theirs only at the
end); its final message_delta has the billed usage and the credits.

litellm is imported here besides jobs/gateway.py and jobs/fastpath.py, for its
translators only: pure functions on request and answer bodies, no provider call.
"""

from __future__ import annotations

from jobs.anthropic_api.parse import MessagesRequest, messages_request_parse
from jobs.anthropic_api.views import count_tokens, messages, models_list

__all__ = [
    "MessagesRequest",
    "count_tokens",
    "messages",
    "messages_request_parse",
    "models_list",
]
