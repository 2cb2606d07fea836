"""``python -m bench.peers.worker PEER ADDRESS QUEUE``: one peer's worker process, configured by
the ``BATON_PEER_*`` variables of ``bench.peers._common`` (a separate entry point, so workflow
classes live in their importable modules and never in ``__main__``)."""

from __future__ import annotations

import asyncio
import importlib
import sys

if __name__ == "__main__":
    peer, address, queue = sys.argv[1:4]
    asyncio.run(importlib.import_module(f"bench.peers.{peer}").serve(address, queue))
