"""DynamoDB adapters of :class:`~facegate.ports.Repository`, :class:`~facegate.ports.AuditLog` and
:class:`~facegate.ports.Ephemeral`, plus the Powertools idempotency store.

They honour exactly the contracts of :mod:`facegate.adapters.memory`; the shared contract suite
(``tests/integration/test_adapters_contract.py``) runs against both.

Table design (key attributes are always ``pk``/``sk``, strings; ``expires_at`` is the TTL attribute,
epoch seconds; times are stored as fixed-width RFC 3339 strings with microseconds, which sort
lexicographically in time order; ciphertexts are Binary attributes)::

    directory   pk                    sk            item
                SITE#<site_id>        SITE          site (+ ``template_version``, bumped by enroll/erase)
                SITE#<site_id>        DOOR#<door>   door (``list_doors`` = one Query on the site's pk)
                TERMINAL#<id>         TERMINAL      terminal
                KEY#<key_id>          KEY           copy of the terminal (one read per signed request;
                                                    written and revoked in the same transaction)
                INVITE#<invite_id>    INVITE        invite (+ ``rev``, bumped on every change), TTL
                TOKEN#<sha256 hex>    TOKEN         token-hash lookup -> invite_id, TTL
    templates   pk = site_id          sk = visitor_id   encrypted template, TTL (candidate cache = one
                                                    paginated Query per site)
    audit       pk = site_id          sk = <rfc3339>#<event_id>   record, TTL (range query on sk)
    ephemeral   pk = NONCE#<scope>#<nonce> | COUNT#<counter>#<window seconds> | BLOCK#<key>
                     (a counter item holds w<window> counts: this window's and the previous one)
                     | <powertools idempotency key>            everything with TTL

Invites, token items and templates expire at ``valid_until + retention_grace_seconds``; audit
records at their ``expires_at``. ``enroll`` and ``erase_visitor`` are single ``TransactWriteItems``
calls across the templates and directory tables, so an erasure racing an enrollment can never
leave a template behind (enroll is conditional on the consent that erase removes).

Every call goes through :func:`unavailable_on_transient`: once botocore's standard-mode retries
(jittered exponential backoff) are exhausted on throttling, 5xx or a timeout, the adapter raises
:class:`~facegate.errors.ServiceUnavailable` and the API answers 503 with ``Retry-After``.
"""

from facegate.adapters.dynamodb._client import (
    MAX_ATTEMPTS,
    RETRY_AFTER_SECONDS,
    TRANSACTION_ATTEMPTS,
    AwsClients,
    aws_client,
    error_code,
    unavailable_on_transient,
)
from facegate.adapters.dynamodb.audit import DynamoAuditLog
from facegate.adapters.dynamodb.codecs import template_item_of
from facegate.adapters.dynamodb.ephemeral import DynamoEphemeral
from facegate.adapters.dynamodb.idempotency import idempotency_store
from facegate.adapters.dynamodb.repository import DynamoRepository

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_AFTER_SECONDS",
    "TRANSACTION_ATTEMPTS",
    "AwsClients",
    "DynamoAuditLog",
    "DynamoEphemeral",
    "DynamoRepository",
    "aws_client",
    "error_code",
    "idempotency_store",
    "template_item_of",
    "unavailable_on_transient",
]
