"""conf ``timing`` -> ``Params`` (checked: a bad value names the key and the file), and the column
names and channel/consent mapping every module of the timing package uses."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.conf import Config, ConfigError

KEY = "timing"
MEMBER, CHANNEL, DOW, HOUR = "member_id", "channel", "local_dow", "local_hour"
SEGMENT = "segment_id"
SOURCES = ("member", "segment", "population")
DIMS = ("channel", "dow", "hour")              # what is smoothed: channel, ISO day of week 1..7, hour 0..23
DOW_KEYS = tuple(str(d) for d in range(1, 8))
HOUR_KEYS = tuple(str(h) for h in range(24))
# contact channel -> the silver.members consent column that allows it (SCD2: the version valid at as_of)
CONSENT_COLUMNS = {"EMAIL": "consent_email", "SMS": "consent_sms", "PUSH": "consent_push", "MAIL": "consent_mail"}
TIMING_COLUMNS = [MEMBER, "as_of", CHANNEL, "channel_rank", "channel_score", "best_dow", "best_hour",
                  "confidence", "source"]


class TimingError(Exception):
    """An expected failure (no gold.member_features snapshot, a bad --as-of): one line, exit 1."""


@dataclass(frozen=True)
class Params:
    """conf ``timing``."""
    channels: tuple[str, ...] = ("EMAIL", "SMS", "PUSH", "APP", "MAIL")
    consent_free_channels: tuple[str, ...] = ("APP",)
    lookback_days: int = 180
    prior_strength: float = 5.0
    segment_prior_strength: float = 50.0
    digital_event_types: tuple[str, ...] = ("OPEN", "CLICK", "SESSION")
    offer_event_types: tuple[str, ...] = ("VIEWED", "ACTIVATED")
    offer_event_weight: float = 1.0
    shopping_weight_dow: float = 1.0
    shopping_weight_hour: float = 0.0
    hour_window: int = 1
    default_timezone: str = "America/Toronto"
    eval_days: int = 28
    eval_min_events: int = 3

    def log_params(self) -> dict:
        return {k: (",".join(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def consent_column(self, channel: str) -> str | None:
        """The consent column a channel needs, None for a consent-free one (e.g. the in-app inbox)."""
        return None if channel in self.consent_free_channels else CONSENT_COLUMNS[channel]


def from_conf(cfg: Config) -> Params:
    """Read and check conf ``timing``; a bad value names the key and the file."""
    def where(key):
        return cfg.where(f"{KEY}.{key}")

    def number(key, kind, low=0.0, strict=True):
        value = cfg.typed(f"{KEY}.{key}", kind)
        if isinstance(value, bool) or (value <= low if strict else value < low):
            raise ConfigError(f"setting '{KEY}.{key}' in {where(key)} must be {'>' if strict else '>='} {low:g}, "
                              f"got {value!r}")
        return value

    def codes(key):
        value = cfg.typed(f"{KEY}.{key}", list)
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"setting '{KEY}.{key}' in {where(key)} must be a list of codes, got {value!r}")
        return tuple(v.strip().upper() for v in value)

    channels, free = codes("channels"), codes("consent_free_channels")
    if not channels or len(set(channels)) != len(channels):
        raise ConfigError(f"setting '{KEY}.channels' in {where('channels')} must list distinct channels, "
                          f"got {list(channels)}")
    unknown = [c for c in channels if c not in CONSENT_COLUMNS and c not in free]
    if unknown:
        raise ConfigError(f"setting '{KEY}.channels' in {where('channels')}: {unknown} have no consent column "
                          f"(known: {sorted(CONSENT_COLUMNS)}); list a channel that needs none in "
                          f"{KEY}.consent_free_channels")
    p = Params(
        channels=channels, consent_free_channels=tuple(c for c in free if c in channels),
        lookback_days=number("lookback_days", int), prior_strength=float(number("prior_strength", float)),
        segment_prior_strength=float(number("segment_prior_strength", float)),
        digital_event_types=codes("digital_event_types"), offer_event_types=codes("offer_event_types"),
        offer_event_weight=float(number("offer_event_weight", float, strict=False)),
        shopping_weight_dow=float(number("shopping_weight_dow", float, strict=False)),
        shopping_weight_hour=float(number("shopping_weight_hour", float, strict=False)),
        hour_window=number("hour_window", int, strict=False),
        default_timezone=cfg.typed(f"{KEY}.default_timezone", str),
        eval_days=number("eval_days", int), eval_min_events=number("eval_min_events", int))
    if p.hour_window > 11:
        raise ConfigError(f"setting '{KEY}.hour_window' in {where('hour_window')} must be at most 11, "
                          f"got {p.hour_window}")
    if p.eval_days >= p.lookback_days:
        raise ConfigError(f"setting '{KEY}.eval_days' in {where('eval_days')} must be smaller than "
                          f"{KEY}.lookback_days ({p.lookback_days})")
    return p
