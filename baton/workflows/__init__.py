"""Deterministic orchestration: one module per pattern, private shared pieces in ``_*``.

The names below load lazily. The workflow sandbox re-imports a workflow's module, with its
package, for every workflow run; an ``__init__`` that imported all eight patterns made every
run import all of them (measured: a fan-out of 50 agents took about twice as long).

For the same reason the modules that define workflow handlers (queries, signals, updates, run
methods) do not use ``from __future__ import annotations``: at every import Temporal reads each
handler's type hints, and each hint written as a string is compiled again (measured: an eighth
of the CPU time of creating an agent run's sandbox). ``tests/test_sandbox.py`` holds this.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ALL_WORKFLOWS", "WORKFLOW_TYPES", "AgentWorkflow", "BlackboardWorkflow", "DebateWorkflow",
    "FanoutWorkflow", "HandoffWorkflow", "HierarchicalWorkflow", "PipelineWorkflow",
    "RolloutWorkflow", "SessionWorkflow", "SupervisorWorkflow", "TenantBudgetWorkflow",
    "workflow_type",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("baton.workflows.registry"), name)
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")
