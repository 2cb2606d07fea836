"""Example teams (``*.yaml``) and the offline tools they use. Runnable from an installed wheel.

``TOOL_MODULES`` is what the embedded stack (``baton up``, ``baton demo``) serves in addition to
its configuration, so every example runs there without a ``baton.toml``.
"""

__all__ = ["TOOL_MODULES"]

TOOL_MODULES = (
    "baton.examples.support_tools",
    "baton.examples.desk_tools",
    "baton.examples.incident_tools",
    "baton.examples.code_tools",
    "baton.examples.research_tools",
)
