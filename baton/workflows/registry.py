"""Every workflow type the worker registers, and the workflow type of each pattern."""

from baton.workflows._members import WORKFLOW_TYPES, workflow_type
from baton.workflows.agent import AgentWorkflow
from baton.workflows.blackboard import BlackboardWorkflow
from baton.workflows.debate import DebateWorkflow
from baton.workflows.fanout import FanoutWorkflow
from baton.workflows.handoff import HandoffWorkflow
from baton.workflows.hierarchical import HierarchicalWorkflow
from baton.workflows.pipeline import PipelineWorkflow
from baton.workflows.rollout import RolloutWorkflow
from baton.workflows.session import SessionWorkflow
from baton.workflows.supervisor import SupervisorWorkflow
from baton.workflows.tenant_budget import TenantBudgetWorkflow

__all__ = [
    "ALL_WORKFLOWS", "WORKFLOW_TYPES", "AgentWorkflow", "BlackboardWorkflow", "DebateWorkflow",
    "FanoutWorkflow", "HandoffWorkflow", "HierarchicalWorkflow", "PipelineWorkflow",
    "RolloutWorkflow", "SessionWorkflow", "SupervisorWorkflow", "TenantBudgetWorkflow",
    "workflow_type",
]

# The eight patterns, the session (a conversation with a team), then the two entity workflows
# (one per tenant with a budget, one per team with a rollout).
ALL_WORKFLOWS: list[type] = [
    AgentWorkflow, SupervisorWorkflow, HierarchicalWorkflow, PipelineWorkflow, FanoutWorkflow,
    DebateWorkflow, HandoffWorkflow, BlackboardWorkflow, SessionWorkflow, TenantBudgetWorkflow,
    RolloutWorkflow,
]
