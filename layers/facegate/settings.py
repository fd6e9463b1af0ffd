"""Settings: one frozen object, read once from the environment and passed down.

Nothing in the core reads ``os.environ`` except :meth:`Settings.from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_MODEL_DIR = Path("build/models")


def _default_model_dir() -> Path:
    lambda_models = Path("/opt/models")
    if (lambda_models / "manifest.json").exists():
        return lambda_models
    return DEFAULT_MODEL_DIR


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration of facegate.

    Every field has a safe default; :meth:`from_env` reads the ``FACEGATE_*`` variables
    (and the ``*_TABLE`` / ``KMS_KEY_ID`` names that ``template.yaml`` sets).
    """

    stage: str = "local"
    backend: str = "aws"
    """``aws``: DynamoDB + KMS through boto3 (on AWS or against emulators); ``memory``: in-memory adapters."""
    model_dir: Path = field(default_factory=_default_model_dir)

    match_margin: float = 0.005
    """Minimum cosine gap between the best and the runner-up candidate for a face-only grant (the door
    policy's margin rule). Thresholds are not settings: the door policy resolves them from the site's
    security level, the door's N, K and F (``facegate.domain.policy``)."""

    directory_table: str = "facegate-directory"
    templates_table: str = "facegate-templates"
    audit_table: str = "facegate-audit"
    ephemeral_table: str = "facegate-ephemeral"
    kms_key_id: str = "alias/facegate"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    """Endpoint of an AWS emulator (moto server, DynamoDB Local); None on AWS."""
    dynamodb_endpoint_url: str | None = None
    """Overrides ``aws_endpoint_url`` for DynamoDB only (DynamoDB Local)."""

    public_base_url: str | None = None
    """Base URL of registration links (no trailing slash); None = the request's own host."""
    console_auth_url: str | None = None
    """Base URL of the console's OAuth 2.0 authorization server (no trailing slash): the Cognito user pool
    domain on AWS (``/oauth2/authorize``, ``/oauth2/token``, ``/logout`` below it), the local stack's
    ``<origin>/_local`` locally; None = the console has no login."""
    console_client_id: str | None = None
    """The app client id the console logs in with (a public client: no secret, PKCE S256)."""
    console_redirect_uri: str | None = None
    """Where the authorization server sends the console back with a code; None = ``<origin>/console``."""
    console_logout_uri: str | None = None
    """Where the logout endpoint sends the browser after sign-out; None = the redirect URI."""
    mail_from: str | None = None
    """The SES sender of invite and arrival mail (a verified identity); None = no mail is sent."""
    event_bus_name: str | None = None
    """The EventBridge bus door decisions are published on; None = no events are published."""
    invite_mail_per_hour: int = 5
    """Resends of one invite's mail per hour: more answer 429, so no one can flood a visitor's mailbox."""
    retention_grace_seconds: int = 3600
    """Templates and invites are deleted by TTL this long after the invite window ends."""
    audit_retention_days: int = 90
    max_body_bytes: int = 5_000_000
    """Largest request body, bytes (the contract's "5 MB in all"). On AWS the stack sets 4,500,000: API Gateway
    base64-encodes binary bodies and Lambda refuses events over 6 MB, so larger bodies could not arrive."""
    max_image_pixels: int = 40_000_000
    max_image_side: int = 12_000
    clock_skew_seconds: int = 60
    nonce_ttl_seconds: int = 300
    unlock_token_ttl_seconds: int = 10
    challenge_ttl_seconds: int = 10
    """How long a head-turn challenge may be answered, seconds (the kiosk needs about 5 for three steps)."""
    liveness_replay_seconds: int = 300
    """A door remembers the fingerprints of accepted challenge frames for this long to twice this long,
    seconds (frames replayed from an earlier challenge are refused)."""
    deny_cooldown_threshold: int = 5
    """Denies of a face from one terminal within ``deny_cooldown_window_seconds`` that start its cool-down:
    for ``deny_cooldown_seconds`` face-only matching is suspended there (the claim code still works, and a
    grant at the terminal ends the cool-down)."""
    deny_cooldown_window_seconds: int = 60
    deny_cooldown_seconds: int = 30
    claim_code_deny_threshold: int = 3
    """Denies with one claim code (the face did not match its visitor), at any terminal of the site within
    ``claim_code_deny_window_seconds``, that block the code for ``claim_code_block_seconds``."""
    claim_code_deny_window_seconds: int = 900
    claim_code_block_seconds: int = 900
    claim_attempts_per_minute: int = 10
    invalid_token_limit_per_minute: int = 20
    """Invalid invite tokens per minute from one address block before further invalid ones get 429 for
    60 s (a valid token is never throttled by this)."""
    invite_max_lead_days: int = 90
    """How far ahead an invite's window may start (an invite for 2036 would keep a template for years)."""
    enrollment_opens_days_before: int = 7
    """Consent and selfies are accepted from this many days before the window opens (409
    ``enrollment_not_open`` earlier), so a template exists at most this long before the visit."""
    refusal_audits_per_minute: int = 20
    user_pool_id: str | None = None
    """The Cognito user pool of admins and hosts (``POST /hosts`` creates users in it, the audit view reads
    names from it); None = no user directory: host management answers 503 and names are not shown."""
    pairing_code_ttl_seconds: int = 600
    """How long a kiosk pairing code is accepted (capped at 600 s)."""
    pair_attempts_per_minute: int = 10
    """Invalid pairing codes per minute from one address block before ``POST /pair`` answers 429 for 60 s."""
    """Audit records of refused terminal requests per terminal and minute (more are logged and counted
    as metrics only, so a flood of refusals cannot flood the audit table)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); unknown variables are ignored."""
        env = os.environ if environ is None else environ
        names = {
            "directory_table": "DIRECTORY_TABLE",
            "templates_table": "TEMPLATES_TABLE",
            "audit_table": "AUDIT_TABLE",
            "ephemeral_table": "EPHEMERAL_TABLE",
            "kms_key_id": "KMS_KEY_ID",
            "aws_region": "AWS_REGION",
        }
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = names.get(f.name, f"FACEGATE_{f.name.upper()}")
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.type, raw, key)
        if "aws_region" not in values and env.get("AWS_DEFAULT_REGION"):
            values["aws_region"] = env["AWS_DEFAULT_REGION"]
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (settings themselves are immutable)."""
        return replace(self, **changes)


def _coerce(type_name: object, raw: str, key: str) -> Any:
    kind = str(type_name)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("int"):
            return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {key} is not a valid {kind}: {raw!r}") from exc
    return raw
