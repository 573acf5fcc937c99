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
# An affine map x -> (x * P + C) mod M is a bijection on [0, M) when gcd(P, M) = 1 (M is 10^k
# or 5 x 10^k, P a prime other than 2 and 5): unique ids from sequential keys, in long
# arithmetic (x * P fits a long for every key below 9e13). ``scrambled`` then reverses the
# fixed-width digits (also a bijection) so that neighbouring keys do not look sequential.
_PERM_P = 99_991


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
    """A bijection of [0, modulus) (modulus 10^k or 5 x 10^k): unique ids from sequential keys
    (long arithmetic; the offset keeps small keys away from zero-padded values)."""
    offset = int(modulus * 0.3819660113) + 7
    return F.pmod(x.cast("long") * F.lit(_PERM_P) + F.lit(offset), F.lit(int(modulus)))


def perm_wide(x: Column, modulus: int) -> Column:
    """The same kind of bijection with a multiplier near modulus / golden ratio, so that
    neighbouring keys land far apart in every digit (exact decimal arithmetic: for ids made
    once per member, not per row)."""
    multiplier = int(modulus * 0.6180339887)
    while multiplier % 2 == 0 or multiplier % 5 == 0:
        multiplier += 1
    value = x.cast("decimal(20,0)") * F.lit(multiplier).cast("decimal(20,0)") + F.lit(modulus // 7).cast("decimal(20,0)")
    return F.pmod(value, F.lit(int(modulus)).cast("decimal(20,0)")).cast("long")


def scrambled(text: Column) -> Column:
    """Fixed-width digits (or hex) reversed: a bijection that hides sequential keys."""
    return F.reverse(text)


def digits(x: Column, width: int) -> Column:
    """Zero-padded decimal string of a non-negative long."""
    return F.lpad(x.cast("string"), width, "0")


def at(values: Sequence, index: Column) -> Column:
    """``values[index]`` for a small Python list (0-based index column)."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index + 1)
