"""The one switch over every patch: ``CHATLENS_COMPAT=off`` in the environment applies and touches none of them.

Read where a patch is applied or used (not cached), so a test process can flip it; production reads it at start-up.
"""

from __future__ import annotations

import os

SWITCH = "CHATLENS_COMPAT"


def switched_off() -> bool:
    """True when ``CHATLENS_COMPAT=off`` (any case); unset, empty or ``on`` leaves the patches on."""
    return os.environ.get(SWITCH, "").strip().lower() == "off"
