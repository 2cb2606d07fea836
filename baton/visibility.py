"""Baton's custom search attributes: registered by ``baton up``, set by client and workflows.

The same names work in ``temporal workflow list --query`` and in the Temporal UI, e.g.
``BatonStatus = 'awaiting_approval' AND BatonTeam = 'support'``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

__all__ = [
    "AGENT",
    "ALL_SEARCH_ATTRIBUTES",
    "COST_USD",
    "STATUS",
    "TEAM",
    "TENANT",
    "VERSION",
    "dev_server_flags",
]

TEAM = SearchAttributeKey.for_keyword("BatonTeam")
TENANT = SearchAttributeKey.for_keyword("BatonTenant")
STATUS = SearchAttributeKey.for_keyword("BatonStatus")
AGENT = SearchAttributeKey.for_keyword("BatonAgent")
COST_USD = SearchAttributeKey.for_float("BatonCostUSD")
# The team version a run carries (its content digest, see baton.rollout.team_digest).
VERSION = SearchAttributeKey.for_keyword("BatonTeamVersion")

ALL_SEARCH_ATTRIBUTES = (TEAM, TENANT, STATUS, AGENT, COST_USD, VERSION)

_CLI_TYPE = {"KEYWORD": "Keyword", "DOUBLE": "Double"}


def dev_server_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags = []
    for key in ALL_SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}"]
    return flags
