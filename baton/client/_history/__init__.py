"""Reading a run from its Temporal event history alone: no query, no worker, no replay.

A closed run (or one whose worker is gone) is rebuilt from what history holds: the run input,
each ``chat`` and ``execute_tool`` activity's input and result, member starts and typed results,
approvals (the ``BatonApprovals`` memo and the ``decide`` updates and signals), continue-as-new
and the close event. Payloads pass through the client's codec and are read as plain JSON, field
by field, so histories of older releases read too. ``view`` is the entry point.
"""
