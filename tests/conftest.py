"""Shared test settings: keep JAX on the CPU and its compilation cache warm across tests."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
