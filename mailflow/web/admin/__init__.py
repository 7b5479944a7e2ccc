"""Admin pages (password login, CSRF-protected forms)."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the admin pages and what they need (sessions) on the app."""
