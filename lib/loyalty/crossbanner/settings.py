"""conf ``cross_banner`` -> ``Params`` (checked: a bad value names the key and the file), and the column
names the package uses."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.conf import Config, ConfigError

KEY = "cross_banner"
MEMBER, TARGET, CATEGORY, SEGMENT = "member_id", "target_banner", "category", "segment_name"
KIND_BANNER, KIND_PARTNER = "BANNER", "PARTNER"
ALL_SEGMENTS = "ALL"                      # the population row of gold.cross_banner_adoption
OPPORTUNITY_COLUMNS = [MEMBER, "as_of", TARGET, CATEGORY, "score", "expected_value"]
ADOPTION_COLUMNS = ["as_of", TARGET, "kind", SEGMENT, "segments_as_of", "base_start", "cutoff", "outcome_end",
                    "members", "adopters", "adoption_rate", "adoption_rate_se", "shrunk_rate"]


class CrossBannerError(Exception):
    """An expected failure (a missing input table, no snapshot to take as_of from): one line, exit 1."""


@dataclass(frozen=True)
class Params:
    """conf ``cross_banner``."""
    banners: tuple[str, ...] = ("FRESHMART", "VALUMART")
    partners: tuple[str, ...] = ("CINEMA", "BANK")
    lookback_days: int = 90
    min_trips: int = 2
    adoption_horizon_days: int = 56
    top_n: int = 3
    mix_weight: float = 0.5
    prior_strength: float = 20.0
    assumed_uplift_ratio: float = 1.0
    default_margin_rate: float = 0.30
    partner_margin_rate: float = 0.02

    def log_params(self) -> dict:
        return {k: (",".join(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def from_conf(cfg: Config) -> Params:
    """Read and check conf ``cross_banner``; a bad value names the key and the file."""
    def where(key):
        return cfg.where(f"{KEY}.{key}")

    def number(key, kind, low=0.0, high=None, strict=True):
        value = cfg.typed(f"{KEY}.{key}", kind)
        if isinstance(value, bool) or (value <= low if strict else value < low) or (high is not None and value > high):
            bound = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
            raise ConfigError(f"setting '{KEY}.{key}' in {where(key)} must be {bound}, got {value!r}")
        return value

    def codes(key, allow_empty=False):
        value = cfg.typed(f"{KEY}.{key}", list)
        if not all(isinstance(v, str) and v.strip() for v in value) or (not value and not allow_empty) \
                or len({v.strip().upper() for v in value}) != len(value):
            raise ConfigError(f"setting '{KEY}.{key}' in {where(key)} must be a list of distinct codes, got {value!r}")
        return tuple(v.strip().upper() for v in value)

    banners, partners = codes("banners"), codes("partners", allow_empty=True)
    if len(banners) < 2:
        raise ConfigError(f"setting '{KEY}.banners' in {where('banners')} must list at least two banners "
                          f"(a member shopping one of them is offered the others), got {list(banners)}")
    if set(banners) & set(partners):
        raise ConfigError(f"setting '{KEY}.partners' in {where('partners')} must not repeat a banner of "
                          f"{KEY}.banners, got {sorted(set(banners) & set(partners))}")
    return Params(
        banners=banners, partners=partners,
        lookback_days=number("lookback_days", int), min_trips=number("min_trips", int),
        adoption_horizon_days=number("adoption_horizon_days", int), top_n=number("top_n", int),
        mix_weight=float(number("mix_weight", float, high=1.0, strict=False)),
        prior_strength=float(number("prior_strength", float, strict=False)),
        assumed_uplift_ratio=float(number("assumed_uplift_ratio", float, strict=False)),
        default_margin_rate=float(number("default_margin_rate", float, high=1.0, strict=False)),
        partner_margin_rate=float(number("partner_margin_rate", float, high=1.0, strict=False)))
