"""Baton against its peers (``make bench-peers``, ``python -m bench.peers``): the same N-step tool
loop on the same Temporal dev server against the same scripted endpoint, through Baton,
Temporal's OpenAI Agents integration, pydantic-ai's Temporal durability and LangGraph with its
SQLite checkpointer. One module per peer; the peers' libraries come from the ``peers`` extra and
are imported only by these modules (never by ``baton``)."""
