"""Member segmentation: KMeans on gold.member_features, named by readable rules, tracked in MLflow.

    s = segments.settings(cfg)                                   # conf ml.segments, validated
    summary = segments.train(spark, cfg, as_of)                  # fit k_min..k_max, pick k by silhouette,
                                                                 # log, register, promotion gate
    rows = segments.score(spark, cfg, as_of)                     # champion by alias -> gold.member_segments,
                                                                 # gold.segment_profiles, gold.segment_migration

The fitted model is one Spark ``PipelineModel``: a SQL stage (nulls filled, ``log1p`` of the
skewed money and count columns) -> VectorAssembler -> StandardScaler -> KMeans -> a SQL stage
that maps ``segment_id`` to its business name. Names come from conf rules evaluated on each
cluster's mean features in original units (before log and scaling), so the model version carries
its own names and scoring needs nothing but the model.

Only bounded data reaches the driver: the distinct as_of dates, per-k metrics, the k centroids,
per-segment means (k rows) and the clusters x personas contingency table. Docs: docs/models.md,
"Segments".
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Sequence

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty.conf import Config, ConfigError

log = logging.getLogger("loyalty")

FEATURES_TABLE = "gold.member_features"
SEGMENTS_TABLE = "gold.member_segments"
PROFILES_TABLE = "gold.segment_profiles"
MIGRATION_TABLE = "gold.segment_migration"
KEY = "ml.segments"

# Columns the fitted pipeline adds (prefixed so they never collide with gold columns).
PREFIX = "_seg_x_"
RAW_VECTOR = "_seg_raw"
FEATURES_VECTOR = "_seg_features"
SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"



class SegmentsError(Exception):
    """A missing input or snapshot, or too few members: the jobs report it as one line."""


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """``name`` applies to a cluster whose mean-feature row satisfies the Spark SQL ``when``."""
    name: str
    when: str


@dataclass(frozen=True)
class SegmentSettings:
    model_name: str = "loyalty_segments"
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


def settings(cfg: Config) -> SegmentSettings:
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
    return SegmentSettings(
        model_name=cfg.typed(key("model_name"), str, "loyalty_segments"),
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


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------

def _q(name: str) -> str:
    return f"`{name}`"


def prepare_statement(*, features: Sequence[str], log_features: Sequence[str], fill: dict[str, float],
                      prefix: str = PREFIX) -> str:
    """SQLTransformer statement: each feature as a double, nulls filled (conf ``fill``, default 0),
    ``log1p`` (of the value floored at 0) for the skewed money and count columns."""
    parts = []
    for c in features:
        value = f"coalesce(CAST({_q(c)} AS DOUBLE), {float(fill.get(c, 0.0))!r})"
        if c in log_features:
            value = f"log1p(greatest({value}, 0.0))"
        parts.append(f"{value} AS {_q(prefix + c)}")
    return f"SELECT *, {', '.join(parts)} FROM __THIS__"


def build_pipeline(*, features: Sequence[str], log_features: Sequence[str] = (), fill: dict[str, float] | None = None,
                   k: int, seed: int = 42, max_iter: int = 40, tol: float = 1e-4, init_steps: int = 5,
                   raw_col: str = RAW_VECTOR, features_col: str = FEATURES_VECTOR,
                   prediction_col: str = SEGMENT_ID) -> Pipeline:
    """SQL (fill, log1p) -> VectorAssembler -> StandardScaler (mean 0, sd 1) -> KMeans."""
    return Pipeline(stages=[*prep_stages(features=features, log_features=log_features, fill=fill or {},
                                         raw_col=raw_col, features_col=features_col),
                            _kmeans(k, seed, max_iter, tol, features_col, prediction_col, init_steps)])


def prep_stages(*, features: Sequence[str], log_features: Sequence[str], fill: dict[str, float],
                raw_col: str = RAW_VECTOR, features_col: str = FEATURES_VECTOR) -> list:
    return [SQLTransformer(statement=prepare_statement(features=features, log_features=log_features, fill=fill)),
            VectorAssembler(inputCols=[PREFIX + c for c in features], outputCol=raw_col, handleInvalid="error"),
            StandardScaler(inputCol=raw_col, outputCol=features_col, withMean=True, withStd=True)]


def _kmeans(k: int, seed: int, max_iter: int, tol: float, features_col: str, prediction_col: str,
            init_steps: int = 5) -> KMeans:
    return KMeans(k=k, seed=seed, maxIter=max_iter, tol=tol, featuresCol=features_col,
                  predictionCol=prediction_col, initMode="k-means||", initSteps=init_steps)


def naming_stage(names: dict[int, str], *, segment_col: str = SEGMENT_ID,
                 name_col: str = SEGMENT_NAME) -> SQLTransformer:
    """The last stage of the model: ``segment_id`` -> its business name."""
    def lit(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    cases = " ".join(f"WHEN {int(i)} THEN {lit(n)}" for i, n in sorted(names.items()))
    return SQLTransformer(statement=f"SELECT *, CASE {_q(segment_col)} {cases} END AS {_q(name_col)} FROM __THIS__")


def kmeans_stage(model: PipelineModel) -> KMeansModel:
    found = [s for s in model.stages if isinstance(s, KMeansModel)]
    if len(found) != 1:
        raise ValueError(f"expected one KMeansModel stage in the segment model, found {len(found)}")
    return found[0]


def with_distance(scored: DataFrame, centers: Sequence[Sequence[float]], *, features_col: str = FEATURES_VECTOR,
                  segment_col: str = SEGMENT_ID, out_col: str = "distance") -> DataFrame:
    """Euclidean distance from each row's (scaled) feature vector to its segment's centroid,
    computed in the JVM with the k centroids as a literal."""
    table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in centers])
    center = F.element_at(table, (F.col(segment_col) + 1).cast("int"))
    sq = F.zip_with(vector_to_array(F.col(features_col)), center, lambda x, c: (x - c) * (x - c))
    return scored.withColumn(out_col, F.sqrt(F.aggregate(sq, F.lit(0.0), lambda acc, v: acc + v)))


# --------------------------------------------------------------------------------------------
# fitting: k by silhouette
# --------------------------------------------------------------------------------------------

@dataclass
class KResult:
    k: int
    silhouette: float
    training_cost: float
    seconds: float
    sizes: list[int]


@dataclass
class FitResult:
    model: PipelineModel             # prep stages + KMeans + naming stage
    k: int
    silhouette: float
    curve: list[KResult]
    names: dict[int, str]
    centroids: list[dict]            # per segment: id, name, members, share, mean features (original units)
    members: int
    sample_rows: int
    seconds: float


def choose_k(curve: Sequence[KResult]) -> KResult:
    """Highest silhouette; a tie goes to the smaller k."""
    return max(curve, key=lambda r: (r.silhouette, -r.k))


def fit(df: DataFrame, s: SegmentSettings) -> FitResult:
    """Fit the prep stages once, KMeans for each k in [k_min, k_max] on the cached scaled vectors,
    score each by silhouette (on a sample when the population is large), keep the best, name its
    clusters from their mean features. ``df``: one row per member (gold.member_features of one as_of)."""
    started = time.time()
    prep = Pipeline(stages=prep_stages(features=s.features, log_features=s.log_features, fill=s.fill)).fit(df)
    scaled = prep.transform(df).select(FEATURES_VECTOR).persist(StorageLevel.MEMORY_AND_DISK)
    sample = None
    try:
        n = scaled.count()
        if n < s.k_max:
            raise SegmentsError(f"{n} members cannot make {s.k_max} segments ({KEY}.k_max)")
        fraction = min(s.silhouette_sample_fraction, s.silhouette_max_rows / n if n else 1.0)
        if fraction < 1.0:
            sample = scaled.sample(fraction=fraction, seed=s.seed).persist(StorageLevel.MEMORY_AND_DISK)
            sample_rows = sample.count()
        else:
            sample_rows = n
        evaluator = ClusteringEvaluator(featuresCol=FEATURES_VECTOR, predictionCol=SEGMENT_ID,
                                        metricName="silhouette", distanceMeasure="squaredEuclidean")
        curve, models = [], {}
        for k in range(s.k_min, s.k_max + 1):
            t0 = time.time()
            # KMeans finds a local optimum: keep the lowest-cost of n_init starts (seeds seed, seed+1, ...)
            fits = [_kmeans(k, s.seed + i, s.max_iter, s.tol, FEATURES_VECTOR, SEGMENT_ID, s.init_steps).fit(scaled)
                    for i in range(s.n_init)]
            km = min(fits, key=lambda m: m.summary.trainingCost)
            sil = float(evaluator.evaluate(km.transform(scaled if sample is None else sample)))
            r = KResult(k, sil, float(km.summary.trainingCost), round(time.time() - t0, 2),
                        [int(x) for x in km.summary.clusterSizes])
            log.info("segments k=%d: silhouette %.4f, cost %.1f, sizes %s (%.1fs)", k, sil, r.training_cost,
                     r.sizes, r.seconds)
            curve.append(r)
            models[k] = km
        best = choose_k(curve)
    finally:
        scaled.unpersist()
        if sample is not None:
            sample.unpersist()
    unnamed = PipelineModel([*prep.stages, models[best.k]])
    scored = unnamed.transform(df)
    means = segment_means(scored, s.profile_columns, fill=s.fill)
    names = name_segments(means, s.rules)
    centroids = [{**row, SEGMENT_NAME: names[row[SEGMENT_ID]]} for row in _rows(means)]
    model = PipelineModel([*unnamed.stages, naming_stage(names)])
    log.info("segments: k=%d (silhouette %.4f), names %s", best.k, best.silhouette, names)
    return FitResult(model, best.k, best.silhouette, curve, names, centroids, n, sample_rows,
                     round(time.time() - started, 1))


# --------------------------------------------------------------------------------------------
# naming: rules over per-segment means in original units
# --------------------------------------------------------------------------------------------

def _filled(c: str, fill: dict[str, float]) -> Column:
    return F.coalesce(F.col(c).cast("double"), F.lit(float(fill.get(c, 0.0))))


def segment_means(scored: DataFrame, columns: Sequence[str], *, fill: dict[str, float] | None = None,
                  segment_col: str = SEGMENT_ID) -> DataFrame:
    """One row per segment (k rows): ``segment_id``, ``members``, ``share`` of all members, the mean
    of each column in original units (nulls filled as the model fills them), and ``pop_<column>``,
    the population mean, so rules can say ``spend_365d > 1.5 * pop_spend_365d``."""
    fill = fill or {}
    per = scored.groupBy(segment_col).agg(F.count(F.lit(1)).alias("members"),
                                          *[F.avg(_filled(c, fill)).alias(c) for c in columns])
    pop = scored.agg(F.count(F.lit(1)).alias("_n"), *[F.avg(_filled(c, fill)).alias(f"pop_{c}") for c in columns])
    return (per.crossJoin(F.broadcast(pop))
            .withColumn("share", F.col("members") / F.col("_n")).drop("_n")
            .orderBy(segment_col))


def name_segments(means: DataFrame, rules: Sequence[Rule], *, segment_col: str = SEGMENT_ID) -> dict[int, str]:
    """``{segment_id: name}``: the first rule whose ``when`` holds on the segment's mean row (Spark
    SQL over ``segment_means`` columns); "Segment <id>" when none does. Two segments that get the
    same name are told apart by size: the larger keeps the name, the next gets " #2", and so on."""
    expr = None
    for i, rule in enumerate(rules):
        try:
            cond = F.coalesce(F.expr(rule.when).cast("boolean"), F.lit(False))
        except Exception as exc:  # a parse error in a conf rule
            raise ConfigError(f"setting '{KEY}.naming[{i}]' ({rule.name!r}): cannot parse when: {rule.when!r}: "
                              f"{exc}") from None
        expr = F.when(cond, F.lit(rule.name)) if expr is None else expr.when(cond, F.lit(rule.name))
    fallback = F.concat(F.lit("Segment "), F.col(segment_col).cast("string"))
    label = fallback if expr is None else expr.otherwise(fallback)
    try:
        rows = means.select(F.col(segment_col).cast("int").alias("id"), F.col("members").cast("long").alias("n"),
                            label.alias("name")).collect()      # k rows
    except Exception as exc:  # an unknown column in a rule
        raise ConfigError(f"setting '{KEY}.naming': a rule does not evaluate on the segment means "
                          f"(columns: {', '.join(means.columns)}): {str(exc).splitlines()[0]}") from None
    return disambiguate({r["id"]: (r["name"], r["n"]) for r in rows})


def disambiguate(named: dict[int, tuple[str, int]]) -> dict[int, str]:
    """``{id: (name, size)}`` -> ``{id: unique name}``: repeats get " #2", " #3" by decreasing size."""
    out: dict[int, str] = {}
    by_name: dict[str, list[tuple[int, int]]] = {}
    for i, (name, n) in named.items():
        by_name.setdefault(name, []).append((i, n))
    for name, members in by_name.items():
        for rank, (i, _) in enumerate(sorted(members, key=lambda m: (-m[1], m[0]))):
            out[i] = name if rank == 0 else f"{name} #{rank + 1}"
    return dict(sorted(out.items()))


def _rows(df: DataFrame) -> list[dict]:
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.asDict().items() if not k.startswith("pop_")}
            for r in df.collect()]


# --------------------------------------------------------------------------------------------
# scoring and profiles
# --------------------------------------------------------------------------------------------

def assign(model: PipelineModel, features: DataFrame, version: int, *, member_col: str = "member_id",
           as_of_col: str = "as_of", keep: Sequence[str] = ()) -> DataFrame:
    """gold.member_segments rows: member_id, as_of, segment_id, segment_name, distance (to the
    centroid, in the model's standardized feature space), model_version; plus ``keep`` columns."""
    scored = with_distance(model.transform(features), kmeans_stage(model).clusterCenters())
    return scored.select(member_col, as_of_col, F.col(SEGMENT_ID).cast("int").alias(SEGMENT_ID), SEGMENT_NAME,
                         F.col("distance").cast("double").alias("distance"),
                         F.lit(int(version)).alias("model_version"), *keep)


def profile(scored: DataFrame, s: SegmentSettings, *, spend_col: str = "spend_365d") -> DataFrame:
    """gold.segment_profiles rows for one scoring (k rows): segment_id, segment_name, members,
    member_share, mean_features (map column -> mean in original units), banner_spend_shares (map
    banner -> share of the segment's banner spend), top_banner, top_banner_share."""
    cols = s.profile_columns
    banners = list(s.banners)
    banner_spend = [F.sum(F.coalesce(F.col(f"spend_share_{b.lower()}"), F.lit(0.0)) *
                          F.coalesce(F.col(spend_col), F.lit(0.0))).alias(f"_b_{b}") for b in banners]
    per = scored.groupBy(SEGMENT_ID, SEGMENT_NAME).agg(
        F.count(F.lit(1)).alias("members"), *[F.avg(_filled(c, s.fill)).alias(f"_m_{c}") for c in cols], *banner_spend)
    total = F.greatest(sum((F.col(f"_b_{b}") for b in banners), F.lit(0.0)), F.lit(1e-12))
    shares = F.create_map(*[x for b in banners for x in (F.lit(b), F.col(f"_b_{b}") / total)])
    ranked = F.sort_array(F.array(*[F.struct((F.col(f"_b_{b}") / total).alias("share"), F.lit(b).alias("banner"))
                                    for b in banners]), asc=False)
    n_all = scored.agg(F.count(F.lit(1)).alias("_n"))
    return (per.crossJoin(F.broadcast(n_all)).select(
        F.col(SEGMENT_ID).cast("int").alias(SEGMENT_ID), SEGMENT_NAME,
        F.col("members").cast("long").alias("members"),
        (F.col("members") / F.col("_n")).alias("member_share"),
        F.create_map(*[x for c in cols for x in (F.lit(c), F.col(f"_m_{c}"))]).alias("mean_features"),
        shares.alias("banner_spend_shares"),
        ranked[0]["banner"].alias("top_banner"),
        ranked[0]["share"].alias("top_banner_share")))


# --------------------------------------------------------------------------------------------
# agreement with known groups (benchmarks, tests)
# --------------------------------------------------------------------------------------------

def contingency(df: DataFrame, a_col: str, b_col: str) -> tuple[list, list, list[list[int]]]:
    """Counts of (a, b) pairs as a table: (a labels, b labels, rows of counts). Bounded by the
    number of distinct labels (segments x personas), computed in Spark."""
    cells = df.groupBy(a_col, b_col).agg(F.count(F.lit(1)).alias("n")).collect()
    a_labels = sorted({r[a_col] for r in cells}, key=str)
    b_labels = sorted({r[b_col] for r in cells}, key=str)
    ai, bi = {v: i for i, v in enumerate(a_labels)}, {v: i for i, v in enumerate(b_labels)}
    table = [[0] * len(b_labels) for _ in a_labels]
    for r in cells:
        table[ai[r[a_col]]][bi[r[b_col]]] += int(r["n"])
    return a_labels, b_labels, table


def adjusted_rand_index(table: Sequence[Sequence[int]]) -> float:
    """Adjusted Rand index (Hubert & Arabie) from a contingency table n[i][j] = items in cluster i
    and class j:  (sum_ij C(n_ij,2) - E) / ((sum_i C(a_i,2) + sum_j C(b_j,2)) / 2 - E),  with
    E = sum_i C(a_i,2) * sum_j C(b_j,2) / C(n,2). 1 = identical partitions, ~0 = chance.
    Degenerate cases (one cluster and one class, or every item alone) give 1.0."""
    def c2(x: int) -> int:
        return x * (x - 1) // 2
    rows = [list(map(int, r)) for r in table]
    if any(v < 0 for r in rows for v in r):
        raise ValueError("contingency counts must be >= 0")
    n = sum(map(sum, rows))
    if n < 2:
        return 1.0
    a = [sum(r) for r in rows]
    b = [sum(col) for col in zip(*rows)] if rows else []
    index = sum(c2(v) for r in rows for v in r)
    sa, sb = sum(map(c2, a)), sum(map(c2, b))
    expected = sa * sb / c2(n)
    maximum = (sa + sb) / 2
    if math.isclose(maximum, expected):
        return 1.0
    return (index - expected) / (maximum - expected)


# --------------------------------------------------------------------------------------------
# jobs: train_segments and score_segments
# --------------------------------------------------------------------------------------------

def available_as_of(spark: SparkSession, cfg: Config, table: str = FEATURES_TABLE, column: str = "as_of") -> list[date]:
    """The snapshot dates present in a table (one row per snapshot reaches the driver)."""
    from loyalty import lake
    if not lake.exists(cfg, table):
        return []
    return sorted(r[0] for r in lake.read(spark, cfg, table).select(column).distinct().collect() if r[0] is not None)


def resolve_as_of(spark: SparkSession, cfg: Config, value: str | None, table: str = FEATURES_TABLE) -> date:
    """``value`` (YYYY-MM-DD, which must be a snapshot present in ``table``), else the latest one."""
    from loyalty import lake
    if not lake.exists(cfg, table):
        raise SegmentsError(f"{table} does not exist (run build_gold first)")
    present = available_as_of(spark, cfg, table)
    if not value:
        if not present:
            raise SegmentsError(f"{table} has no snapshot (run build_gold first)")
        return present[-1]
    try:
        as_of = date.fromisoformat(str(value).strip())
    except ValueError:
        raise SegmentsError(f"--as-of must be YYYY-MM-DD, got {value!r}") from None
    if as_of not in present:
        raise SegmentsError(f"{table} has no as_of {as_of} (present: {', '.join(map(str, present)) or 'none'}; "
                            f"run build_gold --as-of {as_of})")
    return as_of


def read_features(spark: SparkSession, cfg: Config, as_of: date) -> DataFrame:
    from loyalty import lake
    return lake.read(spark, cfg, FEATURES_TABLE).where(F.col("as_of") == F.lit(as_of.isoformat()).cast("date"))


def check_columns(df: DataFrame, s: SegmentSettings, cfg: Config) -> None:
    missing = [c for c in s.profile_columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{FEATURES_TABLE} has no column(s) {missing} named in '{KEY}' "
                          f"({cfg.where(KEY + '.features')}); see docs/gold.md for its columns")


def train(spark: SparkSession, cfg: Config, as_of: date, s: SegmentSettings | None = None) -> dict:
    """Fit on gold.member_features at ``as_of``; log params, data versions, the silhouette curve,
    profile and plots, and the model to MLflow; register a version of ``ml.segments.model_name``
    and run the promotion gate on the silhouette of the chosen k."""
    import mlflow

    from loyalty.ml import tracking

    s = s or settings(cfg)
    df = read_features(spark, cfg, as_of)
    check_columns(df, s, cfg)
    with tracking.training_run(cfg, s.model_name, as_of, [FEATURES_TABLE]) as run:
        mlflow.log_params({"features": ",".join(s.features), "log_features": ",".join(s.log_features),
                           "fill": json.dumps(s.fill, sort_keys=True), "k_min": s.k_min, "k_max": s.k_max,
                           "seed": s.seed, "n_init": s.n_init, "init_steps": s.init_steps, "max_iter": s.max_iter,
                           "tol": s.tol,
                           "silhouette_sample_fraction": s.silhouette_sample_fraction,
                           "silhouette_max_rows": s.silhouette_max_rows, "gate_metric": s.gate_metric})
        mlflow.log_dict({"rules": [asdict(r) for r in s.rules]}, "naming_rules.json")
        result = fit(df, s)
        for r in result.curve:
            mlflow.log_metric("silhouette_by_k", r.silhouette, step=r.k)
            mlflow.log_metric("training_cost_by_k", r.training_cost, step=r.k)
        mlflow.log_metrics({"silhouette": result.silhouette, "k": result.k, "members": result.members,
                            "silhouette_sample_rows": result.sample_rows, "train_seconds": result.seconds})
        mlflow.log_params({"chosen_k": result.k})
        mlflow.log_dict({"curve": [asdict(r) for r in result.curve], "chosen_k": result.k}, "silhouette_curve.json")
        mlflow.log_dict({"as_of": as_of.isoformat(), "segments": result.centroids}, "segment_profile.json")
        _log_plots(result, s)
        info = tracking.log_spark_model(result.model, cfg=cfg)
        promotion = tracking.register_and_promote(cfg, s.model_name, info.model_uri, s.gate_metric,
                                                  result.silhouette, greater_is_better=True)
        _tag_version(s.model_name, promotion.version, result)
        run_id = run.info.run_id
    log.info("train_segments as_of %s: k=%d silhouette %.4f in %.1fs, version %d (%s)", as_of, result.k,
             result.silhouette, result.seconds, promotion.version, promotion.reason)
    return {"model": s.model_name, "as_of": as_of.isoformat(), "members": result.members, "k": result.k,
            "silhouette": round(result.silhouette, 4), "version": promotion.version,
            "promoted": promotion.promoted, "run_id": run_id, "seconds": result.seconds,
            "names": result.names, "reason": promotion.reason}


def _tag_version(model_name: str, version: int, result: FitResult) -> None:
    from mlflow.tracking import MlflowClient
    client = MlflowClient()
    client.set_model_version_tag(model_name, str(version), "segments.k", str(result.k))
    client.set_model_version_tag(model_name, str(version), "segments.names",
                                 json.dumps({str(k): v for k, v in result.names.items()}))


def _log_plots(result: FitResult, s: SegmentSettings) -> None:
    """silhouette_curve.png (silhouette and cost by k) and segment_profile.png (each segment's mean
    feature relative to the population mean)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    ks = [r.k for r in result.curve]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [r.silhouette for r in result.curve], "o-", color="tab:blue", label="silhouette")
    ax.axvline(result.k, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(ks, [r.training_cost for r in result.curve], "s:", color="tab:red", label="cost (WSSSE)")
    ax2.set_ylabel("training cost (WSSSE)", color="tab:red")
    ax.set_title(f"KMeans: silhouette by k (chosen k={result.k})")
    fig.tight_layout()
    mlflow.log_figure(fig, "silhouette_curve.png")
    plt.close(fig)

    cols = list(s.features)
    rows = result.centroids
    pop = {c: sum(r[c] * r["members"] for r in rows) / max(sum(r["members"] for r in rows), 1) for c in cols}
    ratio = [[(r[c] / pop[c]) if pop[c] else 0.0 for c in cols] for r in rows]
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(cols), 1.2 + 0.45 * len(rows)))
    im = ax.imshow([[math.log2(max(v, 1e-3)) for v in row] for row in ratio], cmap="RdBu_r", vmin=-2, vmax=2,
                   aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), [f"{r[SEGMENT_ID]}: {r[SEGMENT_NAME]} ({r['members']})" for r in rows], fontsize=7)
    fig.colorbar(im, ax=ax, label="log2(segment mean / population mean)")
    fig.tight_layout()
    mlflow.log_figure(fig, "segment_profile.png")
    plt.close(fig)


def score(spark: SparkSession, cfg: Config, as_of: date, s: SegmentSettings | None = None) -> list[dict]:
    """Load the champion by alias; overwrite the ``as_of`` partitions of gold.member_segments and
    gold.segment_profiles; rebuild gold.segment_migration from the previous snapshot to this one
    and from this one to the next (when those exist). Returns one summary row per table written."""
    from loyalty import lake
    from loyalty.ml import tracking
    from loyalty.transforms.gold import segments as T

    s = s or settings(cfg)
    started = time.time()
    model, version = tracking.load_champion(cfg, s.model_name)
    features = read_features(spark, cfg, as_of)
    check_columns(features, s, cfg)
    part = [{"as_of": as_of.isoformat()}]
    out = []
    scored = assign(model, features, version, keep=s.profile_columns).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        info = lake.overwrite(scored.select(*T.SEGMENT_COLUMNS), cfg, SEGMENTS_TABLE, partition_by=["as_of"],
                              partitions=part)
        if info.rows == 0:
            log.warning("%s as_of %s: no members scored", SEGMENTS_TABLE, as_of)
        out.append({"table": SEGMENTS_TABLE, "as_of": as_of.isoformat(), "rows": info.rows, "version": info.version,
                    "model_version": version})
        prof = profile(scored, s).select(F.lit(as_of.isoformat()).cast("date").alias("as_of"),
                                         F.lit(int(version)).alias("model_version"), "*")
        info = lake.overwrite(prof, cfg, PROFILES_TABLE, partition_by=["as_of"], partitions=part)
        out.append({"table": PROFILES_TABLE, "as_of": as_of.isoformat(), "rows": info.rows, "version": info.version,
                    "model_version": version})
    finally:
        scored.unpersist()
    snapshots = available_as_of(spark, cfg, SEGMENTS_TABLE)
    earlier = [d for d in snapshots if d < as_of]
    later = [d for d in snapshots if d > as_of]
    pairs = ([(earlier[-1], as_of)] if earlier else []) + ([(as_of, later[0])] if later else [])
    if not earlier:
        log.info("%s: no snapshot before %s in %s: no migration into %s written", MIGRATION_TABLE, as_of,
                 SEGMENTS_TABLE, as_of)
    seg = lake.read(spark, cfg, SEGMENTS_TABLE)
    for a, b in pairs:
        mig = T.migration_counts(seg.where(F.col("as_of") == F.lit(a.isoformat()).cast("date")),
                                 seg.where(F.col("as_of") == F.lit(b.isoformat()).cast("date")), a, b,
                                 version_col="model_version")
        info = lake.overwrite(mig, cfg, MIGRATION_TABLE, partition_by=["to_as_of"],
                              partitions=[{"to_as_of": b.isoformat()}])
        out.append({"table": MIGRATION_TABLE, "as_of": f"{a.isoformat()}->{b.isoformat()}", "rows": info.rows,
                    "version": info.version, "model_version": version})
    log.info("score_segments as_of %s with %s version %d in %.1fs", as_of, s.model_name, version,
             time.time() - started)
    return out
