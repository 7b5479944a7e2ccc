"""A click group whose commands live in modules imported only when needed (click's documented
lazy-loading pattern), so ``mailflow --help`` imports none of the application."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class Lazy:
    """Where a command is (``module``, ``attribute``) and its one-line summary, shown by the
    group's help without importing the module (a unit test checks it matches the command)."""

    module: str
    attribute: str
    summary: str


class LazyGroup(click.Group):
    def __init__(self, *args, lazy_commands: dict[str, Lazy] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            # The group's own help lists the commands: their summary is enough.
            return click.Command(cmd_name, help=lazy.summary)
        return self.load(cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        lazy = self.lazy_commands[cmd_name]
        command = getattr(importlib.import_module(lazy.module), lazy.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{lazy.module}.{lazy.attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False
