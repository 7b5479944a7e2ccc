"""Routing: the offer lifecycle and answers by email (the pure rules and deadlines are in
:mod:`mailflow.domain.routing` and :mod:`mailflow.domain.deadlines`)."""
