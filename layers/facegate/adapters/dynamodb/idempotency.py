"""The Powertools idempotency store on the ephemeral table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from facegate.adapters.dynamodb._client import TTL_ATTRIBUTE
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def idempotency_store(client: DynamoDBClient, settings: Settings) -> DynamoDBPersistenceLayer:
    """Powertools idempotency records in the ephemeral table (key ``pk``, expiry = the TTL attribute)."""
    return DynamoDBPersistenceLayer(
        table_name=settings.ephemeral_table,
        key_attr="pk",
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=client,
    )
