"""Deterministic orchestration: one module per pattern, private shared pieces in ``_*``."""

from workflows._members import WORKFLOW_TYPES, workflow_type
from workflows.agent import AgentWorkflow
from workflows.blackboard import BlackboardWorkflow
from workflows.debate import DebateWorkflow
from workflows.fanout import FanoutWorkflow
from workflows.handoff import HandoffWorkflow
from workflows.hierarchical import HierarchicalWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.supervisor import SupervisorWorkflow

__all__ = ["ALL_WORKFLOWS", "WORKFLOW_TYPES", "AgentWorkflow", "SupervisorWorkflow",
           "workflow_type"]
__all__ += ["FanoutWorkflow", "HierarchicalWorkflow", "PipelineWorkflow"]
__all__ += ["BlackboardWorkflow", "DebateWorkflow", "HandoffWorkflow"]

ALL_WORKFLOWS: list[type] = [AgentWorkflow, SupervisorWorkflow]
ALL_WORKFLOWS += [FanoutWorkflow, HierarchicalWorkflow, PipelineWorkflow]
ALL_WORKFLOWS += [BlackboardWorkflow, DebateWorkflow, HandoffWorkflow]
