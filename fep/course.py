"""Settings shared by the notebooks: ``FEP_FAST=1`` shrinks every budget so the course runs in the tests.

Examples::

    >>> from fep.course import budget
    >>> iterations = budget(150, fast=10)   # 150 normally, 10 under FEP_FAST=1
"""

from __future__ import annotations

import os

__all__ = ["FAST", "budget"]

FAST = os.environ.get("FEP_FAST", "") not in ("", "0", "false", "False")


def budget(full, fast):
    """``fast`` when the environment variable ``FEP_FAST`` is set (to anything but 0/false), else ``full``."""
    return fast if FAST else full
