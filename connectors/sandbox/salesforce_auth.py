"""Salesforce's OAuth token endpoint checks: the JWT bearer assertion and client credentials."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.sandbox.config import SalesforceConfig

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class GrantError(Exception):
    """The token endpoint's 400: {"error": …, "error_description": …}."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_rs256(public_pem: str, signing_input: bytes, signature: bytes) -> bool:
    # The connected app holds a certificate; a bare public key is accepted too.
    pem = public_pem.encode()
    if b"CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def check_assertion(assertion: str, config: SalesforceConfig, now: float) -> dict[str, Any]:
    """The claims of a valid assertion; GrantError with Salesforce's wording otherwise.

    https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
    """
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(claims_b64))
        signature = _b64decode(signature_b64)
    except (ValueError, binascii.Error):
        raise GrantError("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
        raise GrantError("invalid_grant", "invalid assertion")
    if not secrets.compare_digest(str(claims.get("iss", "")), config.client_id):
        raise GrantError("invalid_client_id", "client identifier invalid")
    signing_input = f"{header_b64}.{claims_b64}".encode()
    if config.public_key_pem and not _verify_rs256(config.public_key_pem, signing_input, signature):
        raise GrantError("invalid_grant", "invalid assertion")
    if claims.get("aud") not in config.audiences:
        raise GrantError("invalid_grant", "audience is invalid")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        # Salesforce's wording for an expired (or clock-skewed) assertion.
        raise GrantError("invalid_grant", "expired authorization code")
    if claims.get("sub") != config.username:
        raise GrantError("invalid_grant", "user hasn't approved this consumer")
    return claims


def check_client(client_id: str, client_secret: str, config: SalesforceConfig) -> None:
    if not secrets.compare_digest(client_id, config.client_id):
        raise GrantError("invalid_client_id", "client identifier invalid")
    if not secrets.compare_digest(client_secret, config.client_secret):
        raise GrantError("invalid_client", "invalid client credentials")
