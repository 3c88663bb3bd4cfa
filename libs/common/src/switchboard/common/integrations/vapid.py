"""The application server's VAPID identity for Web Push: its P-256 key pair and subject."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from switchboard.common.integrations import config
from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings

log = get_logger(__name__)

DEV_KEY_FILENAME = "vapid_private_key.pem"


@dataclass(frozen=True)
class VapidKeys:
    """The application server's VAPID identity."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    subject: str

    @property
    def public_key(self) -> str:
        """The base64url ``applicationServerKey`` browsers subscribe with."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def private_key_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def generate_vapid_keys(subject: str = config.DEFAULT_VAPID_SUBJECT) -> VapidKeys:
    """A fresh P-256 key pair."""
    return VapidKeys(ec.generate_private_key(ec.SECP256R1()), subject)


def parse_vapid_private_key(text: str, subject: str) -> VapidKeys:
    """Keys from a PEM, or from base64url DER or raw 32-byte scalar (``vapid`` CLI formats)."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID private key must be a P-256 (prime256v1) EC key")
    return VapidKeys(key, subject)


def load_vapid_keys(settings: Settings) -> VapidKeys:
    """The configured VAPID keys; outside production, a dev pair kept under ``var_dir``.

    The dev key is generated once and reused, so browsers stay subscribed across restarts.
    """
    subject = config.vapid_subject(settings)
    configured = config.vapid_private_key(settings)
    if configured:
        return parse_vapid_private_key(configured, subject)
    if settings.environment == "production":
        raise ValueError("VAPID_PRIVATE_KEY must be set in production")
    path = Path(settings.var_dir) / DEV_KEY_FILENAME
    if path.exists():
        return parse_vapid_private_key(path.read_text(), subject)
    keys = generate_vapid_keys(subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.private_key_pem())
    log.info("push.vapid_dev_key_created", path=str(path), public_key=keys.public_key)
    return keys
