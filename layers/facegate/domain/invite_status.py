"""The status of an invite as hosts and admins see it in the console (pure)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from facegate.domain.models import Invite


class InviteStatus(StrEnum):
    """What the console shows for an invite (``GET /sites/{site_id}/invites``)."""

    INVITED = "invited"
    CONSENTED = "consented"
    ENROLLED = "enrolled"
    ARRIVED = "arrived"
    EXPIRED = "expired"
    ERASED = "erased"


def invite_status(invite: Invite, now: datetime) -> InviteStatus:
    """The console status of ``invite`` at ``now``, first rule that applies:

    1. ``erased``: a host or admin cancelled it (``revoked_at``): the link is dead, whatever happened before;
    2. ``arrived``: the visitor was granted at a door at least once (outlives the window; the visitor's own
       erasure clears it, like everything else about their visit outside the audit trail);
    3. ``expired``: the window ended (``now >= valid_until``);
    4. ``enrolled``: selfies taken (a template exists);
    5. ``consented``: consent given, no template yet;
    6. ``erased``: the visitor erased their own data (and has not consented again);
    7. ``invited``: nothing yet.
    """
    if invite.revoked_at is not None:
        return InviteStatus.ERASED
    if invite.arrived_at is not None:
        return InviteStatus.ARRIVED
    return InviteStatus(invite.state(now).value)  # rules 3-7: the visitor's own state
