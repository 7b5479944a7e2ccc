"""The intake use cases: process a stored message or a webhook into a lead, a reply, a bounce."""
