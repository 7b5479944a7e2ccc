"""What the commands share: settings, this process's broker, signals, /metrics, progress.

Each helper imports what it needs when called, so that loading a command (for its --help)
imports no more than click."""

from __future__ import annotations

import signal
import sys
import threading

import click


def settings():
    from mailflow.config import get_settings

    return get_settings()


def setup_jobs(settings):
    """This process's broker, with every actor declared on it (jobs are sent through it)."""
    from mailflow.jobs.broker import setup

    return setup(settings)


def close_embedded_redis(broker) -> None:
    from mailflow.jobs.broker import close_embedded_redis

    close_embedded_redis(broker)


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass


def serve_metrics(settings):
    from mailflow.metrics import serve_process_metrics

    try:
        server = serve_process_metrics(settings.metrics_listen)
    except OSError as exc:
        raise click.UsageError(
            f"MAILFLOW_METRICS_LISTEN={settings.metrics_listen}: {exc}"
        ) from None
    if server is not None:
        click.echo(f"metrics at http://{settings.metrics_listen}/metrics")
    return server


def stop_metrics(server) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def refuse_unknown_timers(settings, broker) -> None:
    from mailflow.schedule import UnknownTimerKinds, check_timer_kinds

    try:
        check_timer_kinds(settings)
    except UnknownTimerKinds as exc:
        close_embedded_redis(broker)
        raise click.ClickException(str(exc)) from None


def progress_line(what: str):
    """A progress line on stderr (rewritten in place on a terminal, every 100 rows otherwise)."""
    interactive = sys.stderr.isatty()

    def progress(done: int) -> None:
        if interactive:
            click.echo(f"\r{what}: {done} rows done", nl=False, err=True)
        elif done % 100 == 0:
            click.echo(f"{what}: {done} rows done", err=True)

    return progress
