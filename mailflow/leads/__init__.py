"""Leads: creation and duplicates, import/export, admin actions, privacy (the schema every
channel produces is :mod:`mailflow.domain.intake.schema`)."""
