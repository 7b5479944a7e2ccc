"""Intake: SMTP, IMAP, webhook and file import all store the raw message first, then a
Dramatiq actor parses it and makes the lead."""
