"""Deterministic, partition-independent randomness for Spark columns.

Every random value is a pure function of (seed, salt, key columns): a hash, never
``F.rand()`` (which depends on partitioning). The same seed and keys give the same value
on any cluster, in any partition layout, on every run.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO31 = 2 ** 31
# An affine map x -> (x * P + C) mod M is a bijection on [0, M) when gcd(P, M) = 1: it turns
# sequential keys into unique, scrambled-looking ids. M is 10^k or 5 x 10^k, so P must be odd
# and not a multiple of 5; it is large (decimal arithmetic, exact up to 38 digits) so that
# neighbouring keys land far apart.
_PERM_P = 357_913_941_239
_PERM_C = 7_368_787_411


def _cols(keys) -> list:
    return [k if isinstance(k, Column) else F.col(k) for k in keys]


class Rng:
    """Hash-based random columns for one seed. ``salt`` names the draw so that two draws
    on the same keys are independent; keys are columns (or column names)."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def hash(self, salt: str, *keys) -> Column:
        return F.xxhash64(F.lit(self.seed), F.lit(salt), *_cols(keys))

    def u(self, salt: str, *keys) -> Column:
        """Uniform double in [0, 1)."""
        return F.pmod(self.hash(salt, *keys), F.lit(_TWO31)).cast("double") / F.lit(float(_TWO31))

    def below(self, n, salt: str, *keys) -> Column:
        """Uniform integer in [0, n); ``n`` a number or a (positive) column."""
        n_col = n if isinstance(n, Column) else F.lit(int(n))
        return F.pmod(self.hash(salt, *keys), n_col.cast("long")).cast("int")

    def between(self, lo: int, hi: int, salt: str, *keys) -> Column:
        """Uniform integer in [lo, hi] (inclusive)."""
        return (F.lit(int(lo)) + self.below(int(hi) - int(lo) + 1, salt, *keys)).cast("int")

    def normal(self, salt: str, *keys) -> Column:
        """Standard normal draw (Box-Muller on two hash uniforms)."""
        u1 = self.u(salt + ":n1", *keys) + F.lit(1.0 / _TWO31)
        u2 = self.u(salt + ":n2", *keys)
        return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(6.283185307179586) * u2)

    def count(self, mean: Column, salt: str, *keys) -> Column:
        """A non-negative integer with expectation ``mean`` (randomized rounding)."""
        return F.floor(mean + self.u(salt, *keys)).cast("int")


def choose(u: Column, weights: Sequence[float]) -> Column:
    """Index picked with the given (relative) weights, from a uniform ``u``."""
    total = float(sum(weights))
    acc = 0.0
    expr = None
    for i, w in enumerate(weights[:-1]):
        acc += w / total
        expr = F.when(u < acc, F.lit(i)) if expr is None else expr.when(u < acc, F.lit(i))
    last = F.lit(len(weights) - 1)
    return last if expr is None else expr.otherwise(last)


def choose_cum(u: Column, cum: Column) -> Column:
    """Index picked from a cumulative-weights array column (last element >= 1)."""
    return (F.array_position(F.transform(cum, lambda x: x > u), True) - 1).cast("int")


def cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative shares for ``choose_cum``; the last one is 2.0 so rounding never misses."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(round(acc, 12))
    out[-1] = 2.0
    return out


def perm(x: Column, modulus: int) -> Column:
    """A bijection of [0, modulus) (modulus 10^k or 5 x 10^k): unique ids from sequential keys."""
    scrambled = x.cast("decimal(20,0)") * F.lit(_PERM_P).cast("decimal(12,0)") + F.lit(_PERM_C).cast("decimal(12,0)")
    return F.pmod(scrambled, F.lit(int(modulus)).cast("decimal(20,0)")).cast("long")


def digits(x: Column, width: int) -> Column:
    """Zero-padded decimal string of a non-negative long."""
    return F.lpad(x.cast("string"), width, "0")


def at(values: Sequence, index: Column) -> Column:
    """``values[index]`` for a small Python list (0-based index column)."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index + 1)
