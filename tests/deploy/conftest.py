"""Deploy tier: the SAM template, the sample events, the built artifact, SnapStart hooks."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds the deployment artifact with sam build (about a minute)"
    )
