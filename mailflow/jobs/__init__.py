"""The job layer: the only package that imports Dramatiq. Actors (each a few lines calling a
plain function), the broker and its set-up, the worker threads and the scheduler thread. Code
below enqueues jobs by name through ``mailflow.infra.enqueue``."""
