"""Amazon SES adapter of :class:`~facegate.ports.Mailer` (SES v1 ``SendEmail``: moto emulates it locally).

The sender is ``Settings.mail_from``, an identity SES has verified (in the SES sandbox the recipients must be
verified too). Only the recipient's domain and the mail kind are ever logged, never an address or a body.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from facegate.errors import DeliveryFailed, ServiceUnavailable

CHARSET = "UTF-8"


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
