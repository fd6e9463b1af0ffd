"""Amazon EventBridge adapter of :class:`~facegate.ports.EventPublisher` (``PutEvents``; moto locally)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from facegate.errors import DeliveryFailed

SOURCE = "facegate"


class EventBridgePublisher:
    """Puts one event per call on the bus ``bus_name`` with ``Source`` ``facegate``."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, detail_type: str, detail: Mapping[str, object], at: datetime) -> None:
        """Publish one event.

        Raises:
            DeliveryFailed: the call failed or EventBridge reported the entry as failed.
        """
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), separators=(",", ":")),
            "EventBusName": self._bus,
            "Time": at,
        }
        try:
            response = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryFailed() from exc
        if int(response.get("FailedEntryCount", 0)):
            raise DeliveryFailed()
