"""Every actor module, imported in one place so workers know all actors."""

from mailflow.inbound.actors import process_inbound

__all__ = ["process_inbound"]
