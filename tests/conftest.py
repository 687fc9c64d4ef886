"""Test-wide settings: one torch thread per test process (pytest-xdist runs one process per core)."""

import pytest
import torch

pytest_plugins = ["pg_cluster"]  # the throwaway PostgreSQL cluster fixture of the event-store tests


@pytest.fixture(autouse=True, scope="session")
def _single_thread() -> None:
    torch.set_num_threads(1)
