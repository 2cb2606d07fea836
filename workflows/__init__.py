"""Deterministic orchestration: one module per pattern, private shared pieces in ``_*``."""

from workflows.agent import AgentWorkflow

__all__ = ["ALL_WORKFLOWS", "AgentWorkflow"]

ALL_WORKFLOWS = [AgentWorkflow]
