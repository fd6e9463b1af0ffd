"""Amazon SES adapter of :class:`~facegate.ports.Mailer` (SES v1 ``SendEmail``: moto emulates it locally).

The sender is ``Settings.mail_from``, an identity SES has verified (in the SES sandbox the recipients must be
verified too). Only the recipient's domain and the mail kind are ever logged, never an address or a body.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from facegate.adapters.dynamodb import MAX_ATTEMPTS
from facegate.errors import DeliveryFailed, ServiceUnavailable
from facegate.settings import Settings

CHARSET = "UTF-8"


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client of ``service`` for ``settings`` (the emulator endpoint when configured)."""
    config = Config(
        region_name=settings.aws_region,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


class SesMailer:
    """Sends one message per call through SES ``SendEmail`` with a text and an HTML part (UTF-8)."""

    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, to: str, subject: str, text: str, html: str, kind: str) -> str:
        """Send; returns the SES message id.

        Raises:
            DeliveryFailed: SES refused the message (e.g. an unverified address in the sandbox) or failed.
        """
        try:
            response = self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [to]},
                Message={
                    "Subject": {"Data": subject, "Charset": CHARSET},
                    "Body": {"Text": {"Data": text, "Charset": CHARSET}, "Html": {"Data": html, "Charset": CHARSET}},
                },
                Tags=[{"Name": "kind", "Value": kind}],
            )
        except (ClientError, BotoCoreError, ServiceUnavailable) as exc:
            raise DeliveryFailed() from exc
        return str(response["MessageId"])
