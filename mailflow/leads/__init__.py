"""Leads: the schema every channel produces, normalisation, creation and duplicates."""
