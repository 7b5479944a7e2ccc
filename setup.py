"""The one thing pyproject.toml cannot say: ``templates/`` stays at the top of the repository
(the project's layout) and ships inside the package as ``mailflow.templates``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["mailflow", "mailflow.*"]), "mailflow.templates"],
    package_dir={"mailflow.templates": "templates"},
)
