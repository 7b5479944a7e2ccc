"""What the tests share: paths, waiting, factories, mail helpers and the real servers they start.

Importable as ``support`` because pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in
pyproject.toml). Test modules import from here, never from each other.
"""
