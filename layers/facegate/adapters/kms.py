"""KMS adapter of :class:`~facegate.ports.KeyService`: envelope keys bound to an encryption context.

Every call names the key explicitly (Decrypt too, so a blob made under another key is refused) and
passes the context, which KMS binds to the ciphertext and records in CloudTrail. Transient KMS
failures become :class:`~facegate.errors.ServiceUnavailable`; a blob that does not decrypt under
this key and context becomes :class:`~facegate.security.envelope.DecryptionFailed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from facegate.adapters.dynamodb import error_code, unavailable_on_transient
from facegate.security.envelope import DecryptionFailed

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

UNDECRYPTABLE_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsKeyService:
    """AES-256 data keys, Encrypt and Decrypt under one KMS key (id, ARN or alias)."""

    def __init__(self, client: KMSClient, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        """A new AES-256 data key: (plaintext, 32 bytes; KMS ciphertext blob)."""
        with unavailable_on_transient():
            response = self._client.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        return response["Plaintext"], response["CiphertextBlob"]

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        """Encrypt up to 4096 bytes directly under the KMS key."""
        with unavailable_on_transient():
            response = self._client.encrypt(KeyId=self._key_id, Plaintext=plaintext, EncryptionContext=context)
        return response["CiphertextBlob"]

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        """Plaintext of ``blob``.

        Raises:
            DecryptionFailed: wrong key, wrong context or a damaged blob.
            ServiceUnavailable: KMS throttled or failed after retries.
        """
        try:
            with unavailable_on_transient():
                response = self._client.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=self._key_id)
        except ClientError as exc:
            if error_code(exc) in UNDECRYPTABLE_CODES:
                raise DecryptionFailed() from exc
            raise
        return response["Plaintext"]
