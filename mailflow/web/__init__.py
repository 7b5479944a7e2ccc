"""The web side: JSON API, webhook, link pages and admin pages (one ASGI app)."""
