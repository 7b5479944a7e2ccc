"""Infrastructure below the use cases: enqueueing jobs by name (and, as #15 goes on, database
sessions, locks, templates and the other plumbing)."""
