"""Request validation for the jobs endpoints (responses are built in services)."""

from __future__ import annotations

import copy
import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from jobs.gateway import CallParams
from jobs.models import JobStatus
from jobs.services import CallRequest
from teams.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    offset_field,
)

MESSAGE_ROLES = ("system", "user", "assistant", "tool", "developer")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")
MAX_MESSAGES = 1000
# A content part's type and the type of its payload (under the same key).
CONTENT_PARTS: dict[str, type] = {
    "text": str,
    "image_url": str,
    "input_audio": dict,
    "file": dict,
    "refusal": str,
}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
PASSED_THROUGH = (
    "seed",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "parallel_tool_calls",
    "reasoning_effort",
    "verbosity",
    "service_tier",
    "prediction",
    "modalities",
)
MAX_LOGIT_BIAS = 300
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_TOOLS = 128


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class JobCreateSerializer(serializers.Serializer):
    team_id = StrictCharField(max_length=100)
    job_type = StrictCharField(max_length=100)
    user_id = StrictCharField(max_length=200, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)


class JobCompleteSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[JobStatus.COMPLETED, JobStatus.FAILED])
    metadata = serializers.DictField(required=False)
    error_message = StrictCharField(max_length=2000, required=False, allow_blank=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("status"), str):
            data = {**data, "status": data["status"].lower()}
        return super().to_internal_value(data)


class JobMetadataSerializer(serializers.Serializer):
    metadata = serializers.DictField()


def _message(value: Any, position: int) -> dict[str, Any]:
    where = f"messages[{position}]"
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"{where} must be an object")
    role = value.get("role")
    if role not in MESSAGE_ROLES:
        raise serializers.ValidationError(
            f"{where}.role must be one of {', '.join(MESSAGE_ROLES)}"
        )
    content = value.get("content")
    if content is None:
        if not (role == "assistant" and value.get("tool_calls")):
            raise serializers.ValidationError(f"{where}.content is required")
    elif isinstance(content, list):
        if not content:
            raise serializers.ValidationError(
                f"{where}.content must be a string or a non-empty list of parts"
            )
        for number, part in enumerate(content):
            _content_part_check(part, f"{where}.content[{number}]", role=role)
    elif not isinstance(content, str):
        raise serializers.ValidationError(f"{where}.content must be a string")
    if "tool_calls" in value and not isinstance(value["tool_calls"], list):
        raise serializers.ValidationError(f"{where}.tool_calls must be a list")
    for name in ("name", "tool_call_id"):
        if name in value and not isinstance(value[name], str):
            raise serializers.ValidationError(f"{where}.{name} must be a string")
    return {key: value[key] for key in MESSAGE_KEYS if key in value}


def _content_part_check(part: Any, where: str, *, role: str) -> None:
    """A part of one of OpenAI's kinds, with its payload; anything else would be a
    provider's 400, after the call was reserved."""
    if not isinstance(part, dict):
        raise serializers.ValidationError(f"{where} must be an object")
    kind = part.get("type")
    if not isinstance(kind, str) or kind not in CONTENT_PARTS:
        raise serializers.ValidationError(
            f"{where}.type must be one of {', '.join(CONTENT_PARTS)}"
        )
    if kind == "refusal" and role != "assistant":
        # litellm refuses it before any provider is asked (it was a 502).
        raise serializers.ValidationError(f"{where}: only an assistant has refusals")
    payload = part.get(kind)
    if kind == "image_url" and isinstance(payload, dict):
        payload = payload.get("url")  # OpenAI's form; litellm also takes the bare URL
    if not isinstance(payload, CONTENT_PARTS[kind]):
        raise serializers.ValidationError(f"{where}.{kind} is missing or malformed")


class MessagesField(serializers.Field):
    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError("messages must be a non-empty list")
        if len(data) > MAX_MESSAGES:
            raise serializers.ValidationError(f"at most {MAX_MESSAGES} messages")
        return [_message(item, position) for position, item in enumerate(data)]

    def to_representation(self, value: Any) -> Any:
        return value


class StopField(serializers.Field):
    def to_internal_value(self, data: Any) -> str | list[str]:
        if isinstance(data, str):
            return data
        if (
            isinstance(data, list)
            and 0 < len(data) <= 4
            and all(isinstance(item, str) for item in data)
        ):
            return data
        raise serializers.ValidationError("stop must be a string or 1-4 strings")

    def to_representation(self, value: Any) -> Any:
        return value


def _tool(value: Any, position: int) -> dict[str, Any]:
    """An OpenAI function tool (the only kind litellm passes to every provider);
    anything else would be a provider's 400, after the call was reserved."""
    where = f"tools[{position}]"
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"{where} must be an object")
    if value.get("type") != "function":
        raise serializers.ValidationError(f'{where}.type must be "function"')
    function = value.get("function")
    if not isinstance(function, dict):
        raise serializers.ValidationError(f"{where}.function must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise serializers.ValidationError(
            f"{where}.function.name must be 1-64 letters, digits, _ or -"
        )
    if not isinstance(function.get("description", ""), str):
        raise serializers.ValidationError(
            f"{where}.function.description must be a string"
        )
    if "parameters" in function and not isinstance(function["parameters"], dict):
        raise serializers.ValidationError(
            f"{where}.function.parameters must be an object (a JSON Schema)"
        )
    return value


class ToolsField(serializers.Field):
    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            raise serializers.ValidationError("tools must be a list")
        if len(data) > MAX_TOOLS:
            raise serializers.ValidationError(f"at most {MAX_TOOLS} tools")
        return [_tool(item, position) for position, item in enumerate(data)]

    def to_representation(self, value: Any) -> Any:
        return value


class ToolChoiceField(serializers.Field):
    def to_internal_value(self, data: Any) -> str | dict[str, Any]:
        if isinstance(data, str | dict):
            return data
        raise serializers.ValidationError("tool_choice must be a string or an object")

    def to_representation(self, value: Any) -> Any:
        return value


class CallNotesSerializer(serializers.Serializer):
    """The team's notes on a call (every kind of call takes them).

    Every LLM request builds one of these, so its fields are copied shallowly:
    DRF deep-copies the declared fields for each instance, which re-runs every
    field's constructor (340 of 450 µs for a chat request's validation). A
    shallow copy is enough here: `bind` sets the copy's own name and parent, and
    validation does not change a field, nor the child field a shallow copy shares.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    purpose = StrictCharField(max_length=200, required=False, allow_blank=True)
    call_metadata = serializers.DictField(required=False)


class LLMCallSerializer(CallNotesSerializer):
    model = StrictCharField(max_length=100)
    messages = MessagesField()
    temperature = StrictFloatField(
        min_value=0, max_value=2, required=False, allow_null=True
    )
    max_tokens = StrictIntegerField(min_value=1, required=False, allow_null=True)
    top_p = StrictFloatField(min_value=0, max_value=1, required=False, allow_null=True)
    stop = StopField(required=False, allow_null=True)
    response_format = serializers.DictField(required=False, allow_null=True)
    tools = ToolsField(required=False, allow_null=True)
    tool_choice = ToolChoiceField(required=False, allow_null=True)
    # OpenAI's other parameters, passed through to the provider as given
    # (PASSED_THROUGH); one a route's provider cannot take is refused.
    seed = StrictIntegerField(
        min_value=-(2**63), max_value=2**63 - 1, required=False, allow_null=True
    )
    logprobs = StrictBooleanField(required=False, allow_null=True)
    top_logprobs = StrictIntegerField(
        min_value=0, max_value=20, required=False, allow_null=True
    )
    presence_penalty = StrictFloatField(
        min_value=-2, max_value=2, required=False, allow_null=True
    )
    frequency_penalty = StrictFloatField(
        min_value=-2, max_value=2, required=False, allow_null=True
    )
    logit_bias = serializers.DictField(
        child=StrictFloatField(min_value=-100, max_value=100),
        required=False,
        allow_null=True,
    )
    parallel_tool_calls = StrictBooleanField(required=False, allow_null=True)
    reasoning_effort = serializers.ChoiceField(
        choices=REASONING_EFFORTS, required=False, allow_null=True
    )
    verbosity = serializers.ChoiceField(
        choices=("low", "medium", "high"), required=False, allow_null=True
    )
    service_tier = StrictCharField(
        max_length=20, required=False, allow_null=True, allow_blank=True
    )
    prediction = serializers.DictField(required=False, allow_null=True)
    modalities = serializers.ListField(
        child=serializers.ChoiceField(choices=["text"]),
        required=False,
        allow_null=True,
        max_length=1,
    )

    def validate_logit_bias(self, value: dict[str, float] | None) -> Any:
        if value and len(value) > MAX_LOGIT_BIAS:
            raise serializers.ValidationError(f"at most {MAX_LOGIT_BIAS} tokens")
        return value

    def validate_max_tokens(self, value: int | None) -> int | None:
        if value is not None and value > settings.LLM_MAX_TOKENS_LIMIT:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to "
                f"{settings.LLM_MAX_TOKENS_LIMIT}."
            )
        return value

    def call_request(self, *, n: int = 1, user: str = "") -> CallRequest:
        """The validated call; `n` answers (OpenAI's chat only), `user` passed on."""
        data = self.validated_data
        params = CallParams(
            messages=data["messages"],
            max_tokens=data.get("max_tokens"),
            temperature=data.get("temperature"),
            top_p=data.get("top_p"),
            stop=data.get("stop"),
            response_format=data.get("response_format"),
            tools=data.get("tools") or None,
            tool_choice=data.get("tool_choice"),
            n=n,
            options={
                name: data[name]
                for name in PASSED_THROUGH
                if data.get(name) not in (None, "")
            }
            | ({"user": user} if user else {}),
        )
        return CallRequest(
            model=data["model"],
            params=params,
            purpose=data.get("purpose", ""),
            call_metadata=data.get("call_metadata") or {},
        )


class CreateAndCallSerializer(LLMCallSerializer, JobCreateSerializer):
    pass


class TeamJobsQuerySerializer(serializers.Serializer):
    status = serializers.CharField(required=False, allow_blank=True)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = offset_field(
        default=0,
        help_text="Rows to skip (kept for compatibility; ignored with a cursor). "
        "Deep pages are slow: use `cursor`.",
    )
    cursor = serializers.RegexField(
        r"^([0-9]{1,18}_[0-9]{1,18})?$",
        required=False,
        allow_blank=True,
        help_text="The `next_cursor` of the previous page (opaque): the jobs after "
        "it, at the same cost on any page, and no `total`. Empty: the first such "
        "page. Absent: the `offset` page, with the total.",
    )


class PeriodQuerySerializer(serializers.Serializer):
    period = serializers.CharField(required=False, allow_blank=True, max_length=10)


class OrganizationUsageQuerySerializer(PeriodQuerySerializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=1000, default=100, help_text="Teams per page."
    )
    cursor = serializers.RegexField(
        r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$",
        required=False,
        allow_blank=True,
        help_text="The `next_cursor` of the previous page: the teams after it.",
    )


# --- Response shapes (for the OpenAPI schema; responses are built in selectors) ------


class JobCreatedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class JobCallSerializer(serializers.Serializer):
    call_id = serializers.UUIDField()
    purpose = serializers.CharField()
    model = serializers.CharField(help_text="The alias the team asked for.")
    status = serializers.CharField()
    tokens = serializers.IntegerField()
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class JobCostsSerializer(serializers.Serializer):
    total_calls = serializers.IntegerField()
    successful_calls = serializers.IntegerField()
    failed_calls = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    credits_charged = serializers.IntegerField()
    credit_applied = serializers.BooleanField()
    credits_remaining = serializers.IntegerField()
    avg_latency_ms = serializers.IntegerField()


class JobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    team_id = serializers.CharField()
    job_type = serializers.CharField()
    user_id = serializers.CharField()
    status = serializers.CharField()
    metadata = serializers.DictField()
    error_message = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    credits_charged = serializers.IntegerField(allow_null=True)


class JobWithCallsSerializer(JobSerializer):
    calls = JobCallSerializer(many=True)


class JobCompletionSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    completed_at = serializers.DateTimeField()
    costs = JobCostsSerializer()
    calls = JobCallSerializer(many=True)


class JobCostsResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    costs = JobCostsSerializer()


class JobMetadataResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    metadata = serializers.DictField()


class TeamJobsSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    total = serializers.IntegerField(
        allow_null=True,
        help_text="The team's jobs (with the status); null with a cursor.",
    )
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    jobs = JobSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="The `cursor` of the next page; null on the last."
    )


class UsageSummarySerializer(serializers.Serializer):
    total_jobs = serializers.IntegerField()
    successful_jobs = serializers.IntegerField()
    failed_jobs = serializers.IntegerField()
    credits_used = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost_usd = serializers.DecimalField(
        max_digits=20, decimal_places=8, required=False, help_text="Operator only."
    )
    avg_cost_per_job = serializers.DecimalField(
        max_digits=20, decimal_places=8, required=False, help_text="Operator only."
    )


class TeamUsageSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    period = serializers.CharField()
    summary = UsageSummarySerializer()
    job_types = serializers.DictField(
        help_text="{job_type: {count, credits_used, total_tokens, cost_usd (operator)}}"
    )


class OrganizationUsageSerializer(serializers.Serializer):
    organization_id = serializers.CharField()
    period = serializers.CharField()
    summary = UsageSummarySerializer()
    teams = serializers.DictField(
        child=UsageSummarySerializer(),
        help_text="A page of the organization's teams, by team id: {team_id: usage}.",
    )
    next_cursor = serializers.CharField(
        allow_null=True, help_text="The `cursor` of the next page; null on the last."
    )
