"""Locating external tools: fail loudly in CI, skip with instructions elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, package: str = "prometheus") -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found; install it with: apt-get install -y {package}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
