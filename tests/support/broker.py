"""The one StubBroker of the test session. It must be in place before any actor module is
imported, so tests/conftest.py imports this module first."""

from __future__ import annotations

from dramatiq.brokers.stub import StubBroker

from mailflow.broker import setup_broker

stub_broker = StubBroker()
stub_broker.emit_after("process_boot")
setup_broker(broker=stub_broker)
