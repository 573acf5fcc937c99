"""The persistent global holdout: about ``share`` of members who never receive an offer, so the
whole program's effect can be measured against them.

Membership is a keyed hash of member_id: the first 8 hex digits of SHA-256(salt + ":" +
member_id) as an integer, below ``share * 16**8``. It needs no table to decide, is the same in
Spark, in Python and in the generator that plants the offer history, is stable when members
join (a member's status never changes while the salt and share stay), and a new salt draws a
new, independent holdout. The salt is not a secret (it only has to be fixed); it lives in conf
as ``offers.holdout.salt``.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

_SPACE = 16 ** 8


def _threshold(share: float) -> int:
    if not 0.0 <= float(share) < 1.0:
        raise ValueError(f"global holdout share must be in [0, 1), got {share!r}")
    return int(round(float(share) * _SPACE))


def in_global_holdout(member_id: Column, salt: str, share: float) -> Column:
    """True for members in the global holdout (a boolean Column; null member_id -> null)."""
    bucket = F.conv(F.substring(F.sha2(F.concat(F.lit(f"{salt}:"), member_id.cast("string")), 256), 1, 8), 16, 10)
    return bucket.cast("long") < F.lit(_threshold(share))


def python_in_global_holdout(member_id: str, salt: str, share: float) -> bool:
    """The same decision in plain Python: the independent reference for tests and benchmarks."""
    digest = hashlib.sha256(f"{salt}:{member_id}".encode()).hexdigest()
    return int(digest[:8], 16) < _threshold(share)
