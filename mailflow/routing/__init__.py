"""Routing: who gets a lead next, and until when (pure rules), plus the offer lifecycle."""
