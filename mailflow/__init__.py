"""mailflow: distributes sales leads to installers by email."""

__version__ = "0.1.0"
