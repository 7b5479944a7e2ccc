"""Outbound mail: templates, the transactional outbox, transports and the sending actor."""
