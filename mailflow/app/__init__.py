"""Use cases above the features and infrastructure, below the entry points (web, jobs, intake
adapters). For now: the scheduler's tables (sweeps and timer handlers)."""
