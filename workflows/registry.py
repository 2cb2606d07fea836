"""Every workflow type the worker registers, and the workflow type of each pattern."""

from workflows._members import WORKFLOW_TYPES, workflow_type
from workflows.agent import AgentWorkflow
from workflows.blackboard import BlackboardWorkflow
from workflows.debate import DebateWorkflow
from workflows.fanout import FanoutWorkflow
from workflows.handoff import HandoffWorkflow
from workflows.hierarchical import HierarchicalWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.supervisor import SupervisorWorkflow

__all__ = [
    "ALL_WORKFLOWS", "WORKFLOW_TYPES", "AgentWorkflow", "BlackboardWorkflow", "DebateWorkflow",
    "FanoutWorkflow", "HandoffWorkflow", "HierarchicalWorkflow", "PipelineWorkflow",
    "SupervisorWorkflow", "workflow_type",
]

ALL_WORKFLOWS: list[type] = [
    AgentWorkflow, SupervisorWorkflow, HierarchicalWorkflow, PipelineWorkflow, FanoutWorkflow,
    DebateWorkflow, HandoffWorkflow, BlackboardWorkflow,
]
