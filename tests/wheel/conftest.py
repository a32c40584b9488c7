"""The wheel's own suite: run by scripts/test in a fresh venv where only the
built wheel, pytest and the Azure SDK are installed (az comes from AZEMU_AZ).
It uses the plugin's fixtures as a user would, seeded with the first seed
document's world (a registry holding hello-world, an identity with AcrPull)."""

from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "fixtures/seeds/aci-from-acr-managed-identity.yaml"


@pytest.fixture(scope="session")
def azemu_seed():
    return SEED
