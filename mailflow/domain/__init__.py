"""The pure rules of mailflow: statuses and the state machines that change them (no database
session, no broker, no templates; ``now`` comes in as a parameter)."""
