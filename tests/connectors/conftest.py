"""Connector test fixtures: a fake clock, mocked HTTP, an RSA key for Salesforce's JWT flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytest.register_assert_rewrite("connectors.testing")

from connectors.testing import FakeClock  # noqa: E402 (after the rewrite hook)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps():
    """Mocked HTTP: an unregistered URL fails the call instead of reaching the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def private_key_file(rsa_key, tmp_path: Path) -> Path:
    path = tmp_path / "salesforce.key"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
