"""Attribute, span and metric names Baton emits, pinned to one version of the conventions.

Model, tool and agent spans and the two ``gen_ai.client.*`` metrics follow the OpenTelemetry GenAI
semantic conventions **v1.37.0** (``gen_ai.provider.name`` replaced ``gen_ai.system`` there; content
goes to ``gen_ai.input.messages``/``gen_ai.output.messages``). ``invoke_workflow`` and
``gen_ai.workflow.name`` were added to the agent-spans document later (present in v1.41.0, status
Development); Baton uses them as written there for a team run. Everything Baton-specific lives under
``baton.*`` so a backend never confuses it with a convention attribute.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_DESCRIPTION", "AGENT_ID", "AGENT_NAME", "APPROVAL_BY", "APPROVAL_DECISION",
    "APPROVAL_ID", "ATTEMPT", "CACHE_HIT", "CACHE_READ", "CACHE_WRITE", "CONVERSATION_ID",
    "COST_USD", "ERROR_TYPE", "IDEMPOTENCY_KEY", "INPUT_MESSAGES", "LEDGER_HIT", "OPERATION",
    "OUTPUT_MESSAGES", "PROVIDER", "REFUSED", "REQUEST_ID", "REQUEST_MODEL",
    "RESPONSE_FINISH_REASONS", "RESPONSE_MODEL", "RUN_STATUS", "SCHEMA_URL", "SEMCONV_VERSION",
    "STEP", "TEAM", "TENANT", "TOKEN_TYPE", "TOOL_CALL_ARGUMENTS", "TOOL_CALL_ID",
    "TOOL_CALL_RESULT", "TOOL_NAME", "TOOL_STATUS", "TOOL_TYPE", "USAGE_INPUT", "USAGE_OUTPUT",
    "WORKFLOW_NAME",
]

SEMCONV_VERSION: Final = "1.37.0"
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# GenAI conventions (v1.37.0 unless noted)
OPERATION: Final = "gen_ai.operation.name"  # chat | execute_tool | invoke_agent | invoke_workflow
PROVIDER: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT: Final = "gen_ai.usage.output_tokens"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
WORKFLOW_NAME: Final = "gen_ai.workflow.name"  # v1.41.0 agent spans (invoke_workflow)
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"  # opt-in content
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # opt-in content
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # opt-in content
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"  # opt-in content
TOKEN_TYPE: Final = "gen_ai.token.type"  # noqa: S105 - metric attribute: input | output
ERROR_TYPE: Final = "error.type"

# Baton's own
TEAM: Final = "baton.team"
TENANT: Final = "baton.tenant"
STEP: Final = "baton.step"
ATTEMPT: Final = "baton.attempt"
REQUEST_ID: Final = "baton.request_id"  # the provider's id of the call (x-request-id, request-id)
CACHE_READ: Final = "baton.usage.cache_read_tokens"  # prompt tokens read from the provider cache
CACHE_WRITE: Final = "baton.usage.cache_write_tokens"  # prompt tokens written to it
REFUSED: Final = "baton.refused"  # the model declined to answer
IDEMPOTENCY_KEY: Final = "baton.idempotency_key"
CACHE_HIT: Final = "baton.cache_hit"
LEDGER_HIT: Final = "baton.ledger_hit"
COST_USD: Final = "baton.cost_usd"
TOOL_STATUS: Final = "baton.tool.status"
RUN_STATUS: Final = "baton.run.status"
APPROVAL_ID: Final = "baton.approval_id"
APPROVAL_DECISION: Final = "baton.approval.decision"
APPROVAL_BY: Final = "baton.approval.by"
