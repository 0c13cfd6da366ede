"""Every module of the service imports: mypy runs with ``attr-defined`` off (docs/architecture.md), so a
name imported from a module that no longer has it (after a move) would otherwise surface only at run time."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bcp_service
import notifiers

MODULES = sorted(
    info.name
    for package in (bcp_service, notifiers)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)
