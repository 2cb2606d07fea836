"""Example teams (``*.yaml``) and the offline tools they use. Runnable from an installed wheel.

What the embedded stack (``baton up``, ``baton demo``) serves in addition to its configuration,
so every example runs there without a ``baton.toml``: the example tools (``TOOL_MODULES``) and
the approver groups their approval policies name (``APPROVER_GROUPS``).
"""

__all__ = ["APPROVER_GROUPS", "TOOL_MODULES"]

APPROVER_GROUPS = {
    "support-leads": ["alice", "demo"],
    "ops-managers": ["morgan"],
}

TOOL_MODULES = (
    "baton.examples.support_tools",
    "baton.examples.desk_tools",
    "baton.examples.incident_tools",
    "baton.examples.code_tools",
    "baton.examples.research_tools",
)
