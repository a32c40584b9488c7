"""pytest fixtures for azemu (registered by the wheel's `pytest11` entry point).

- `azemu`: one emulator for the whole session.
- `azemu_function`: a fresh emulator for one test.

Both start from the world `azemu_seed` returns (None: an empty subscription);
override that fixture to seed principals, resources and images:

    @pytest.fixture(scope="session")
    def azemu_seed():
        return "tests/world.yaml"

The handle gives the URL, CA path, credentials, `env()` for subprocesses,
`credential()`/`sdk_kwargs()` for the Azure SDKs and `az(...)` for az.
"""

from __future__ import annotations

import pytest

from . import Azemu


def pytest_addoption(parser):
    parser.addini("azemu_mode", "how clients reach azemu: transparent (default) or explicit", default="transparent")
    parser.addini("azemu_args", "extra arguments for `azemu serve`", type="args", default=[])


@pytest.fixture(scope="session")
def azemu_seed():
    """The seed document (YAML or JSON path) emulators start from; None for none."""
    return None


def _start(request, seed) -> Azemu:
    return Azemu(
        seed=seed,
        mode=request.config.getini("azemu_mode"),
        args=request.config.getini("azemu_args"),
    ).start()


@pytest.fixture(scope="session")
def azemu(request, azemu_seed):
    """An emulator shared by the session."""
    em = _start(request, azemu_seed)
    yield em
    em.stop()


@pytest.fixture
def azemu_function(request, azemu_seed):
    """An emulator of this test's own."""
    em = _start(request, azemu_seed)
    yield em
    em.stop()
