"""LangGraph with its SQLite checkpointer (``langgraph``, ``langgraph-checkpoint-sqlite``,
``langchain-openai``), no Temporal: the agent graph of LangGraph's documentation (a model node,
a ``ToolNode``, ``tools_condition`` between them, ``MessagesState``), checkpointed to a SQLite
file after every super-step. Runs in the benchmark process; stored bytes are the database's.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from contextlib import closing
from pathlib import Path
from typing import Any

NAME = "langgraph"
TITLE = "LangGraph + SQLite checkpointer"
PACKAGES = ["langgraph", "langgraph-checkpoint-sqlite", "langchain-openai"]


def _database_bytes(path: Path) -> int:
    """The checkpoint database's size once its write-ahead log is folded in."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(pages) * int(size)


async def run_loop(model_url: str, database: Path, steps: int) -> tuple[int, float]:
    """One ``steps``-step run on a fresh database: (stored bytes, wall seconds of the run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices of the libraries' own imports
        from langchain_core.messages import HumanMessage, SystemMessage
        from langchain_core.tools import tool
        from langchain_openai import ChatOpenAI
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        from langgraph.graph import START, MessagesState, StateGraph
        from langgraph.prebuilt import ToolNode, tools_condition

    from bench.peers import _loop

    @tool
    def echo(text: str) -> str:
        """Return the text unchanged.

        Args:
            text: Any text.
        """
        return text

    llm = ChatOpenAI(model=_loop.MODEL, base_url=model_url, api_key="scripted",
                     max_retries=0).bind_tools([echo])

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await llm.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([echo]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    async with AsyncSqliteSaver.from_conn_string(str(database)) as saver:
        app = graph.compile(checkpointer=saver)
        started = time.perf_counter()
        await app.ainvoke(
            {"messages": [SystemMessage(_loop.INSTRUCTIONS), HumanMessage(_loop.PROMPT)]},
            {"configurable": {"thread_id": "peers"}, "recursion_limit": 2 * steps + 10})
        elapsed = time.perf_counter() - started
    return _database_bytes(database), elapsed
