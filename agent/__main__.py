"""``python -m agent`` runs the ``hearth`` command line."""

from agent.cli import main

main()
