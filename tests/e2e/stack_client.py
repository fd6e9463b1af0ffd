"""How the end-to-end tests' SDK clients talk to the local stack."""

from __future__ import annotations

from typing import Final

from facegate_client import ClientOptions

STACK_CLIENT: Final[ClientOptions] = {"timeout": 60.0}
"""Client options for calls to the local stack: the SDK's default of 10 s per socket operation suits a door
terminal talking to AWS, but the local stack on a loaded two-core machine (the e2e suite is also run under
stress-ng, `make soak-e2e`) can take longer to answer a call that enrolls or verifies real images."""
