"""Deterministic orchestration: one module per pattern, private shared pieces in ``_*``."""

from workflows._members import WORKFLOW_TYPES, workflow_type
from workflows.agent import AgentWorkflow
from workflows.supervisor import SupervisorWorkflow

__all__ = ["ALL_WORKFLOWS", "WORKFLOW_TYPES", "AgentWorkflow", "SupervisorWorkflow",
           "workflow_type"]

ALL_WORKFLOWS = [AgentWorkflow, SupervisorWorkflow]
