"""Working memory's summariser calls, on the worker side.

A summariser request (``ChatRequest.summarize``, set by the agent loop) references the agent's
conversation like any call of that agent, so the worker resolves it from its prefix cache and no
message enters history a second time. Here it becomes what the summariser model is sent: the
summariser's instructions and a transcript of the range to fold. Its calls are attributed to
``<agent>.summarizer`` (the ``X-Baton-Agent`` header), so a scripted test scripts the summariser
apart from the agent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from baton.calls import ChatRequest
from baton.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)
from baton.workflows.prompts import SUMMARIZER_PROMPT

__all__ = ["SUMMARIZER_SUFFIX", "caller", "prompt_for"]

SUMMARIZER_SUFFIX = ".summarizer"  # never part of an agent name (names have no dots)
_MESSAGE_CHARS = 6_000  # one message in the transcript; a long tool result keeps its start


def caller(request: ChatRequest) -> str:
    """Who makes the call, for attribution: the agent, or its summariser."""
    return request.agent + (SUMMARIZER_SUFFIX if request.summarize else "")


def _entry(message: Message) -> str:
    if isinstance(message, ToolResultMessage):
        head = f"[tool {message.name}{' error' if message.is_error else ''}]"
        text = message.content
    elif isinstance(message, AssistantMessage):
        calls = "; ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})"
                          for c in message.tool_calls)
        head, text = "[assistant]", " ".join(p for p in (message.content, calls and
                                                         f"calls {calls}") if p)
    elif isinstance(message, UserMessage):
        head, text = f"[{message.source or 'user'}]", message.content
    else:
        head, text = "[system]", message.content
    if len(text) > _MESSAGE_CHARS:
        text = f"{text[:_MESSAGE_CHARS]} …[{len(text) - _MESSAGE_CHARS} characters cut]"
    return f"{head} {text}"


def prompt_for(request: ChatRequest, messages: Sequence[Message]) -> Sequence[Message]:
    """The messages the provider is sent for ``request``: the conversation itself, or for a
    summariser request its instructions and the transcript to fold."""
    if request.summarize is None:
        return messages
    start, end = request.summarize
    words = max(40, (request.max_output_tokens or request.profile.max_output_tokens) * 3 // 4)
    transcript = "\n\n".join(_entry(m) for m in messages[start:end])
    return [SystemMessage(content=SUMMARIZER_PROMPT.format(words=words)),
            UserMessage(content=f"Summarise this part of the conversation:\n\n{transcript}")]
