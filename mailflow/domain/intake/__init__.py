"""Intake, pure: reading inbound messages and lead payloads (no I/O, no clock, no database)."""
