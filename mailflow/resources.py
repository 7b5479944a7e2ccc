"""Files mailflow reads at run time, found through ``importlib.resources`` so that they are read
from wherever the package is installed (a wheel, a Docker image, an editable checkout), never
through a path relative to the source tree.

``templates/`` lives at the top of the repository and is mapped into the package as
``mailflow.templates`` when building (see ``setup.py``); the translation catalogs live in
``mailflow/translations``."""

from __future__ import annotations

from functools import cache
from importlib.resources import as_file, files
from pathlib import Path


@cache
def _directory(package: str, *parts: str) -> Path:
    # Installed packages are plain directories; as_file() also covers zipped installs by
    # extracting once (kept for the life of the process).
    resource = files(package).joinpath(*parts)
    context = as_file(resource)
    return Path(context.__enter__())


def templates_dir() -> Path:
    """The root of the templates (``email/`` and ``web/`` below it)."""
    return _directory("mailflow.templates")


def translations_dir() -> Path:
    """The gettext catalogs: ``<language>/LC_MESSAGES/messages.mo``."""
    return _directory("mailflow", "translations")
