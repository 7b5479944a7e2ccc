"""Email and web templates, shipped inside the wheel as ``mailflow.templates``."""
