"""``python -m baton.client.cli``: what the ``baton`` script runs, and how the embedded stack
spawns its worker and model server (no installed script needed)."""

from baton.client.cli import main

main()
