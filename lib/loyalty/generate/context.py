"""Run parameters, the generated time window and the shared context of one generator run."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from loyalty.conf import Config, ConfigError
from loyalty.generate.pools import Pools, literal_array
from loyalty.generate.rand import Rng

BANNERS = ("FRESHMART", "VALUMART")          # the feeds are per banner: both are required
GENERATOR_VERSION = 3         # 2: heterogeneous offer response, offer economics, future offers, global holdout; 3: promotions, competitor prices, inventory, rewards


@dataclass(frozen=True)
class Params:
    seed: int
    members: int
    days: int
    end_date: str             # YYYY-MM-DD, last business day generated
    defect_rate: float
    stores_per_banner: int
    products: int
    offers: int
    rows_per_file: int
    future_offers: int = 0       # catalog offers starting in the 3 weeks after end_date (never issued)
    point_value: float = 0.001   # program cost of one point in dollars (offers' reward_cost)
    holdout_share: float = 0.05  # persistent global holdout (conf offers.holdout): never issued an offer
    holdout_salt: str = "loyalty-global-holdout-v1"
    version: int = GENERATOR_VERSION

    def as_dict(self) -> dict:
        return asdict(self)


def _date(value, key: str, cfg: Config) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"setting '{key}' in {cfg.where(key)} must be a date YYYY-MM-DD, got {value!r}") from None


def params_from(cfg: Config, *, members=None, days=None, seed=None, end_date=None, defect_rate=None) -> Params:
    banners = tuple(str(b).upper() for b in cfg.get("generator.banners", list(BANNERS)))
    if sorted(banners) != sorted(BANNERS):
        raise ConfigError(f"setting 'generator.banners' in {cfg.where('generator.banners')} must list "
                          f"{', '.join(BANNERS)} (one landing feed each), got {list(banners)}")
    p = Params(
        seed=int(seed if seed is not None else cfg.typed("generator.seed", int)),
        members=int(members if members is not None else cfg.typed("generator.members", int)),
        days=int(days if days is not None else cfg.typed("generator.days", int)),
        end_date=_date(end_date if end_date is not None else cfg.get("generator.end_date"), "generator.end_date", cfg),
        defect_rate=float(defect_rate if defect_rate is not None else cfg.typed("generator.defect_rate", float)),
        stores_per_banner=cfg.typed("generator.stores_per_banner", int),
        products=cfg.typed("generator.products", int),
        offers=cfg.typed("generator.offers", int),
        rows_per_file=cfg.typed("generator.rows_per_file", int),
        future_offers=cfg.typed("generator.future_offers", int),
        point_value=float(cfg.typed("generator.point_value", float)),
        holdout_share=float(cfg.typed("offers.holdout.share", float)),
        holdout_salt=str(cfg.get("offers.holdout.salt")),
    )
    checks = [
        ("generator.members", 1 <= p.members <= 50_000_000, "between 1 and 50,000,000"),
        ("generator.days", 14 <= p.days <= 1500, "between 14 and 1500"),
        ("generator.defect_rate", 0.0 <= p.defect_rate <= 0.1, "between 0 and 0.1"),
        ("generator.stores_per_banner", 1 <= p.stores_per_banner <= 900, "between 1 and 900"),
        ("generator.offers", 1 <= p.offers <= 999, "between 1 and 999"),
        ("generator.future_offers", 0 <= p.future_offers <= 999 - p.offers, "between 0 and 999 - generator.offers"),
        ("generator.point_value", 0.0 < p.point_value <= 1.0, "above 0 and at most 1 (dollars per point)"),
        ("offers.holdout.share", 0.0 <= p.holdout_share < 1.0, "at least 0 and below 1"),
        ("generator.rows_per_file", p.rows_per_file >= 100, "at least 100"),
    ]
    for key, ok, what in checks:
        if not ok:
            raise ConfigError(f"setting '{key}' in {cfg.where(key)} must be {what}")
    return p


@dataclass(frozen=True)
class Month:
    tag: str        # YYYY-MM
    first: int      # first day index of the month inside the window
    last: int       # last day index inside the window


@dataclass(frozen=True)
class Window:
    """Day indexes 0..days-1 cover start..end; times are seconds since 1970 of a wall clock."""
    start: dt.date
    end: dt.date
    days: int

    @property
    def start_epoch_day(self) -> int:
        return (self.start - dt.date(1970, 1, 1)).days

    def date_of(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def day_of(self, date: dt.date) -> int:
        return (date - self.start).days

    @property
    def months(self) -> list[Month]:
        out, d = [], 0
        while d < self.days:
            date = self.date_of(d)
            nxt = (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            last = min(self.day_of(nxt) - 1, self.days - 1)
            out.append(Month(date.strftime("%Y-%m"), d, last))
            d = last + 1
        return out

    # -- column helpers ---------------------------------------------------------------
    def date_col(self, day: Column) -> Column:
        return F.date_add(F.lit(self.start), day.cast("int"))

    def month_col(self, day: Column) -> Column:
        """Month tag of a day index inside the window (a lookup: date formatting is costly)."""
        tags = [self.date_of(d).strftime("%Y-%m") for d in range(self.days)]
        return F.element_at(literal_array(tags), F.least(F.greatest(day, F.lit(0)), F.lit(self.days - 1)) + 1)

    def dow_col(self, day: Column) -> Column:
        """ISO weekday (1 = Monday) of a day index."""
        return (F.pmod(day + F.lit(self.start.isoweekday() - 1), F.lit(7)) + F.lit(1)).cast("int")

    def wall_seconds(self, day: Column, second_of_day: Column) -> Column:
        return (day.cast("long") + F.lit(self.start_epoch_day)) * F.lit(86400) + second_of_day.cast("long")

    def utc_seconds(self, day: Column, second_of_day: Column, tz: Column) -> Column:
        """Epoch seconds of a wall-clock time in time zone ``tz`` (session time zone UTC)."""
        wall = F.timestamp_seconds(self.wall_seconds(day, second_of_day))
        return F.unix_seconds(F.to_utc_timestamp(wall, tz))

    @property
    def end_utc(self) -> int:
        """Epoch seconds of the first instant after the window (UTC)."""
        return (self.start_epoch_day + self.days) * 86400

    @property
    def month_tags(self) -> list[str]:
        return [m.tag for m in self.months]

    def utc_month_col(self, seconds: Column) -> Column:
        """Month tag (file group) of a UTC instant; the hours past the window's end (evening
        of the last day out west) stay in the last month's files."""
        return self.month_col((F.floor(seconds / 86400) - F.lit(self.start_epoch_day)).cast("int"))


UTC_FORMAT = "yyyy-MM-dd'T'HH:mm:ss'Z'"
LOCAL_FORMAT = "yyyy-MM-dd HH:mm:ss"
ISO_LOCAL_FORMAT = "yyyy-MM-dd'T'HH:mm:ss"
_FAST = {LOCAL_FORMAT: (" ", ""), UTC_FORMAT: ("T", "Z"), ISO_LOCAL_FORMAT: ("T", "")}


def fmt_seconds(seconds: Column, pattern: str, window: "Window | None" = None) -> Column:
    """Format epoch seconds (UTC, or a wall clock stored as if UTC). With a window, the three
    feed formats are assembled from a table of the window's dates (plus the days before and
    the future days planted as defects): several times cheaper than date_format per row."""
    slow = F.date_format(F.timestamp_seconds(seconds), pattern)
    if window is None or pattern not in _FAST:
        return slow
    sep, suffix = _FAST[pattern]
    first = -400
    dates = [window.date_of(d).isoformat() for d in range(first, window.days + 130)]
    day = (F.floor(seconds / 86400) - F.lit(window.start_epoch_day - first)).cast("int")
    sec = F.pmod(seconds, F.lit(86400))
    two = lambda c: F.lpad(c.cast("int").cast("string"), 2, "0")   # noqa: E731
    fast = F.concat(F.element_at(literal_array(dates), day + 1), F.lit(sep), two(F.floor(sec / 3600)), F.lit(":"),
                    two(F.pmod(F.floor(sec / 60), F.lit(60))), F.lit(":"), two(F.pmod(sec, F.lit(60))), F.lit(suffix))
    return F.when((day >= 0) & (day < len(dates)), fast).otherwise(slow)


def window_of(p: Params) -> Window:
    end = dt.date.fromisoformat(p.end_date)
    return Window(end - dt.timedelta(days=p.days - 1), end, p.days)


@dataclass
class Ctx:
    spark: SparkSession
    params: Params
    window: Window
    pools: Pools
    work: str                                  # scratch folder for staged intermediate tables
    rng: Rng = field(init=False)

    def __post_init__(self):
        self.rng = Rng(self.params.seed)

    @property
    def partitions(self) -> int:
        """Partitions for member-driven ranges: all cores busy, tasks bounded in size."""
        cores = self.spark.sparkContext.defaultParallelism
        return max(2 * cores, math.ceil(self.params.members / 10_000))

    def stage(self, df, name: str):
        """Write an intermediate table to the scratch folder and read it back (computed once)."""
        path = f"{self.work}/{name}"
        df.write.mode("overwrite").parquet(path)
        return self.spark.read.parquet(path)
