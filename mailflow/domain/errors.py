"""Errors the domain raises for people to read (the web translates their field messages)."""

from __future__ import annotations


class NotYours(Exception):
    """The lead is not (or no longer) held by this installer."""


class StepInvalid(ValueError):
    """A form's fields do not hold what the step needs; ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
