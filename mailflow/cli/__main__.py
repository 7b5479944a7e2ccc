"""``python -m mailflow.cli`` (the servers the tests and benches start)."""

from mailflow.cli import main

main()
