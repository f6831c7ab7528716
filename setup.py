"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

The configs stay in the repository's conf/ and ship as the package kronbench.conf (package-dir in pyproject.toml);
each of its folders is a data-only package, so the wheel holds kronbench/conf/**.yaml (kronbench/paths.py).
"""

from setuptools import find_namespace_packages, find_packages, setup

CONF_PACKAGES = [f"kronbench.{name}" for name in find_namespace_packages(include=["conf", "conf.*"])]

setup(packages=find_packages(include=["kronbench", "kronbench.*"]) + CONF_PACKAGES)
