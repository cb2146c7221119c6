"""The signed fleet document: an envelope (version, target, validity, key id, config text) and its signature.

On the wire a document is JSON ``{"envelope": {...}, "signature": "<base64>"}``. The signature is Ed25519
over ``DOMAIN + canonical(envelope)``, where ``canonical`` is msgspec's JSON encoding of the envelope
Struct: fields in declaration order, no whitespace, integers only, so the bytes a hub rebuilds from a
decoded envelope are exactly the bytes the fleet manager signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.errors import ConfigError

FORMAT = "hearth-fleet/1"
DOMAIN = b"hearth-fleet-config/1\x00"
MAX_DOCUMENT_BYTES = 256 * 1024

Target = Annotated[str, msgspec.Meta(pattern=r"^(hub|group):[a-z0-9][a-z0-9_-]{0,62}$")]


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the fleet key signs: the config text and the terms under which a hub may apply it."""

    format: Literal["hearth-fleet/1"] = "hearth-fleet/1"
    version: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    target: Target
    issued_at: int
    expires_at: int
    key_id: str
    config_format: Literal["toml", "json"]
    config: str


class SignedDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An envelope with its base64 Ed25519 signature, as published on a fleet topic."""

    envelope: Envelope
    signature: str


class DocumentError(Exception):
    """A payload that is not a well-formed fleet document (the reason is safe to report)."""


def canonical(envelope: Envelope) -> bytes:
    """The exact bytes the signature covers."""
    return DOMAIN + msgspec.json.encode(envelope)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 hex digits of the sha256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what ``fleet.public_key`` takes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(envelope: Envelope, private_key: Ed25519PrivateKey) -> SignedDocument:
    """Sign ``envelope`` with the fleet's private key."""
    signature = private_key.sign(canonical(envelope))
    return SignedDocument(envelope, base64.b64encode(signature).decode("ascii"))


def encode(document: SignedDocument) -> bytes:
    """The wire form of a signed document."""
    return msgspec.json.encode(document)


def decode(payload: bytes) -> SignedDocument:
    """Parse a wire payload; raise ``DocumentError`` if it is not a fleet document."""
    if len(payload) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"document is {len(payload)} bytes, the limit is {MAX_DOCUMENT_BYTES}")
    try:
        return msgspec.json.decode(payload, type=SignedDocument)
    except msgspec.DecodeError as exc:
        raise DocumentError(f"malformed document: {exc}") from None


def signature_valid(document: SignedDocument, public_key: Ed25519PublicKey) -> bool:
    """True if ``document`` was signed by the private half of ``public_key``."""
    try:
        signature = base64.b64decode(document.signature, validate=True)
        public_key.verify(signature, canonical(document.envelope))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_public_key(value: str, *, base_dir: Path | None = None) -> Ed25519PublicKey:
    """Read a pinned key given as base64 of 32 raw bytes, inline PEM, or a PEM file path."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        raw = _b64_or_none(text)
        if raw is not None and len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        path = Path(text)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"not a base64 Ed25519 key and not a readable PEM file: {exc}",
                key_path="fleet.public_key",
                hint="paste the key printed by `hearth fleet keygen`, or the path of its .pub file",
            ) from None
        raw = _b64_or_none(text.strip())
        if raw is not None and len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigError(f"not a PEM public key: {exc}", key_path="fleet.public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the fleet key must be an Ed25519 key", key_path="fleet.public_key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read the fleet's private key (PEM, PKCS#8) from ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key: {exc.strerror}", source=str(path)) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not an unencrypted PEM private key: {exc}", source=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("the fleet key must be an Ed25519 key", source=str(path))
    return key


def _b64_or_none(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
