"""The one StubBroker of the test session, set up (every actor declared on it, jobs sent
through it) when tests/conftest.py imports this module. Every queue is declared before any
test's worker starts: a worker started earlier would take the messages of a queue declared
after it and never run them."""

from __future__ import annotations

from dramatiq.brokers.stub import StubBroker

from mailflow.jobs.broker import setup

stub_broker = StubBroker()
stub_broker.emit_after("process_boot")
setup(broker=stub_broker)
