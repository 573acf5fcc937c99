"""conf ``ml.segments`` -> ``SegmentSettings`` (checked: a bad value names the key and the file), and
the column names the segment model adds."""

from __future__ import annotations

from dataclasses import dataclass, field

from loyalty.conf import Config, ConfigError

KEY = "ml.segments"

# Columns the fitted pipeline adds (prefixed so they never collide with gold columns).
PREFIX = "_seg_x_"
RAW_VECTOR = "_seg_raw"
FEATURES_VECTOR = "_seg_features"
PROBABILITY_VECTOR = "_seg_probability"   # GaussianMixture: membership probability per component
ALGORITHMS = ("kmeans", "gmm", "best")    # best: fit both, keep the higher silhouette on the same rows
SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"


class SegmentsError(Exception):
    """A missing input or snapshot, or too few members: the jobs report it as one line."""


@dataclass(frozen=True)
class Rule:
    """``name`` applies to a cluster whose mean-feature row satisfies the Spark SQL ``when``."""
    name: str
    when: str


@dataclass(frozen=True)
class SegmentSettings:
    model_name: str = "loyalty_segments"
    algorithm: str = "kmeans"
    features: tuple[str, ...] = ()
    log_features: tuple[str, ...] = ()
    fill: dict[str, float] = field(default_factory=dict)        # value for a null feature (default 0)
    profile_extra: tuple[str, ...] = ()                          # averaged per segment, not model inputs
    banners: tuple[str, ...] = ("FRESHMART", "VALUMART")
    k_min: int = 4
    k_max: int = 10
    seed: int = 42
    n_init: int = 2                                              # KMeans starts per k (lowest cost kept)
    init_steps: int = 5                                          # k-means|| seeding rounds
    max_iter: int = 40
    tol: float = 1e-4
    silhouette_sample_fraction: float = 1.0
    silhouette_max_rows: int = 1_000_000
    gate_metric: str = "silhouette"
    rules: tuple[Rule, ...] = ()

    @property
    def profile_columns(self) -> list[str]:
        """Columns averaged per segment (naming rules and profiles see these)."""
        out = list(self.features)
        out += [c for c in self.profile_extra if c not in out]
        out += [c for c in self.banner_share_columns + ["spend_365d"] if c not in out]
        return out

    @property
    def banner_share_columns(self) -> list[str]:
        return [f"spend_share_{b.lower()}" for b in self.banners]


def from_conf(cfg: Config) -> SegmentSettings:
    """conf ``ml.segments``, checked: a bad value stops the job naming the key and the file."""
    def key(k: str) -> str:
        return f"{KEY}.{k}"

    def str_list(k: str, default=None) -> tuple[str, ...]:
        value = cfg.get(key(k), default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"setting '{key(k)}' in {cfg.where(key(k))} must be a list of column names, "
                              f"got {value!r}")
        return tuple(value)

    features = str_list("features")
    if not features:
        raise ConfigError(f"setting '{key('features')}' in {cfg.where(key('features'))} must not be empty")
    log_features = str_list("log_features", [])
    stray = [c for c in log_features if c not in features]
    if stray:
        raise ConfigError(f"setting '{key('log_features')}' in {cfg.where(key('log_features'))} names columns "
                          f"that are not in {key('features')}: {stray}")
    fill = cfg.get(key("fill"), {}) or {}
    if not isinstance(fill, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                             for v in fill.values()):
        raise ConfigError(f"setting '{key('fill')}' in {cfg.where(key('fill'))} must map column names to "
                          f"numbers, got {fill!r}")
    k_min = cfg.typed(key("k_min"), int)
    k_max = cfg.typed(key("k_max"), int)
    if not 2 <= k_min <= k_max:
        raise ConfigError(f"settings '{key('k_min')}'/'{key('k_max')}' in {cfg.where(key('k_min'))} must satisfy "
                          f"2 <= k_min <= k_max, got {k_min}..{k_max}")
    fraction = cfg.typed(key("silhouette_sample_fraction"), float, 1.0)
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"setting '{key('silhouette_sample_fraction')}' in "
                          f"{cfg.where(key('silhouette_sample_fraction'))} must be in (0, 1], got {fraction}")
    gate = cfg.typed(key("gate_metric"), str, "silhouette")
    if gate != "silhouette":
        raise ConfigError(f"setting '{key('gate_metric')}' in {cfg.where(key('gate_metric'))}: only 'silhouette' "
                          f"is supported, got {gate!r}")
    algorithm = cfg.typed(key("algorithm"), str, "kmeans")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"setting '{key('algorithm')}' in {cfg.where(key('algorithm'))} must be one of "
                          f"{', '.join(ALGORITHMS)}, got {algorithm!r}")
    return SegmentSettings(
        model_name=cfg.typed(key("model_name"), str, "loyalty_segments"), algorithm=algorithm,
        features=features, log_features=log_features,
        fill={str(k): float(v) for k, v in fill.items()},
        profile_extra=str_list("profile_extra", []),
        banners=tuple(str(b).upper() for b in cfg.get("generator.banners", ["FRESHMART", "VALUMART"])),
        k_min=k_min, k_max=k_max,
        seed=cfg.typed(key("seed"), int, 42),
        n_init=_positive(cfg, key("n_init"), 2),
        init_steps=_positive(cfg, key("init_steps"), 5),
        max_iter=cfg.typed(key("max_iter"), int, 40),
        tol=cfg.typed(key("tol"), float, 1e-4),
        silhouette_sample_fraction=fraction,
        silhouette_max_rows=cfg.typed(key("silhouette_max_rows"), int, 1_000_000),
        gate_metric=gate,
        rules=parse_rules(cfg.get(key("naming")), cfg.where(key("naming"))))


def _positive(cfg: Config, k: str, default: int) -> int:
    value = cfg.typed(k, int, default)
    if value < 1:
        raise ConfigError(f"setting '{k}' in {cfg.where(k)} must be >= 1, got {value}")
    return value


def parse_rules(value, where: str = "conf") -> tuple[Rule, ...]:
    """``[{name: ..., when: ...}, ...]`` in order; the first rule a cluster satisfies names it."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"setting '{KEY}.naming' in {where} must be a non-empty list of {{name, when}}")
    rules = []
    for i, item in enumerate(value):
        if (not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip()
                or not isinstance(item.get("when"), (str, bool))):
            raise ConfigError(f"setting '{KEY}.naming[{i}]' in {where} must be {{name: <text>, when: <Spark SQL "
                              f"condition>}}, got {item!r}")
        when = item["when"] if isinstance(item["when"], str) else str(item["when"]).lower()
        rules.append(Rule(item["name"].strip(), when))
    return tuple(rules)
