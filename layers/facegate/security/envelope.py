"""Envelope encryption of templates: AES-256-GCM under a per-site data key.

The data key comes from KMS (``GenerateDataKey``) and is stored only KMS-encrypted; its plaintext
exists in function memory. Associated data binds a ciphertext to its site, visitor and model, so
a template copied to another visitor's row fails to decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facegate.errors import FacegateError

NONCE_BYTES = 12


class DecryptionFailed(FacegateError):
    """A ciphertext does not authenticate under this key and associated data."""

    code = "decryption_failed"
    default_message = "stored data could not be decrypted"


def template_aad(site_id: str, visitor_id: str, model_id: str) -> bytes:
    """Associated data of a template ciphertext."""
    return f"facegate/template/v1|{site_id}|{visitor_id}|{model_id}".encode()


def claim_code_aad(site_id: str, invite_id: str) -> bytes:
    """Associated data of an encrypted claim code."""
    return f"facegate/claim/v1|{site_id}|{invite_id}".encode()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM encrypt; returns nonce (12 bytes) + ciphertext + tag (16 bytes)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`.

    Raises:
        DecryptionFailed: wrong key, wrong associated data or tampered bytes.
    """
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed() from exc


def derive_key(data_key: bytes, purpose: str) -> bytes:
    """A 32-byte sub-key of a site data key for one ``purpose`` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"facegate/{purpose}".encode()).derive(data_key)
