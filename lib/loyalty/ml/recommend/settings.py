"""conf ``ml.recommender`` -> ``Params`` (checked: a bad value names the key and the file), the
default as_of, and the column names every module of the recommender uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from loyalty.conf import Config, ConfigError

MEMBER, PRODUCT, CATEGORY = "member_id", "product_id", "category"
MEMBER_IDX = "member_idx"
SOURCES = ("als", "segment_popularity", "popularity")


class RecommenderError(Exception):
    """An expected failure (nothing to train on, no member index): one line, not a traceback."""


def resolve_as_of(cfg: Config, text: str | None) -> date:
    """--as-of, else conf gold.as_of, else the day after silver.run_date (null: today, UTC)."""
    from datetime import datetime, timezone

    for value, where in ((text, "--as-of"), (cfg.get("gold.as_of", None), f"gold.as_of in {cfg.where('gold.as_of')}")):
        if value:
            try:
                return value if isinstance(value, date) else date.fromisoformat(str(value))
            except ValueError:
                raise ConfigError(f"{where} must be YYYY-MM-DD, got {value!r}") from None
    run_date = cfg.get("silver.run_date", None)
    if run_date:
        try:
            run_date = run_date if isinstance(run_date, date) else date.fromisoformat(str(run_date))
        except ValueError:
            raise ConfigError(f"setting 'silver.run_date' in {cfg.where('silver.run_date')} must be YYYY-MM-DD, "
                              f"got {run_date!r}") from None
    else:
        run_date = datetime.now(timezone.utc).date()
    return run_date + timedelta(days=1)


@dataclass(frozen=True)
class Params:
    """conf ``ml.recommender``."""
    model_name: str
    confidence: str
    half_life_days: float | None
    lookback_days: int
    rank: int
    max_iter: int
    reg_param: float
    alpha: float
    category_rank: int
    seed: int
    cutoff_days: int
    refit: bool
    top_n: int
    category_top_n: int
    eval_k: int
    popularity_days: int
    segment_popularity_days: int
    exclude_routine: bool
    routine_min_weeks: int
    routine_lookback_weeks: int
    gate_metric: str

    def log_params(self) -> dict:
        return {k: ("none" if v is None else v) for k, v in self.__dict__.items()}


def from_conf(cfg: Config) -> Params:
    """Read and check conf ``ml.recommender``; a bad value names the key and the file."""
    base = "ml.recommender"

    def get(key, kind, positive=True):
        value = cfg.typed(f"{base}.{key}", kind)
        if positive and isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"setting '{base}.{key}' in {cfg.where(f'{base}.{key}')} must be > 0, got {value!r}")
        return value

    p = Params(
        model_name=get("model_name", str), confidence=get("confidence", str),
        half_life_days=get("half_life_days", (float, type(None))), lookback_days=get("lookback_days", int),
        rank=get("rank", int), max_iter=get("max_iter", int), reg_param=get("reg_param", float),
        alpha=get("alpha", float), category_rank=get("category_rank", int), seed=get("seed", int, positive=False),
        cutoff_days=get("cutoff_days", int), refit=get("refit", bool), top_n=get("top_n", int),
        category_top_n=get("category_top_n", int), eval_k=get("eval_k", int),
        popularity_days=get("popularity_days", int), segment_popularity_days=get("segment_popularity_days", int),
        exclude_routine=get("exclude_routine", bool),
        routine_min_weeks=get("routine_min_weeks", int), routine_lookback_weeks=get("routine_lookback_weeks", int),
        gate_metric=get("gate_metric", str))
    if p.confidence not in ("purchases", "spend"):
        raise ConfigError(f"setting '{base}.confidence' in {cfg.where(base + '.confidence')} must be "
                          f"'purchases' or 'spend', got {p.confidence!r}")
    if p.cutoff_days >= p.lookback_days:
        raise ConfigError(f"setting '{base}.cutoff_days' in {cfg.where(base + '.cutoff_days')} must be smaller "
                          f"than {base}.lookback_days ({p.lookback_days})")
    return p
