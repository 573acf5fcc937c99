"""Product and category recommendations: implicit-feedback ALS on member x product purchases.

The pieces (DataFrame in, DataFrame out, no reads or writes) come first; ``train`` and ``score``
at the bottom are what jobs/train_recommender.py and jobs/recommend.py call. How it works and
why: docs/models.md, "Recommendations".

- Interactions: retail lines dated in [as_of - lookback_days, as_of), joined to the current
  product rows on upc; confidence per (member, product) = sum over lines of a value (1 per line
  for ``purchases``, the line's dollars for ``spend``) times 0.5 ** (age_days / half_life_days).
  Category interactions are the same lines rolled up to the product's category.
- Ids: products (bounded by the catalog) go through a StringIndexer that is a stage of the logged
  PipelineModel; members get a dense index from ``zipWithIndex`` over the sorted member ids, kept
  as a DataFrame and written to ``gold.recommender_member_index`` under the model version.
- The logged model is one PipelineModel: [product StringIndexerModel, product ALSModel,
  category StringIndexerModel, category ALSModel]; its transform scores (member_idx, product_id,
  category) pairs into ``prediction`` and ``category_prediction``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.ml import PipelineModel
from pyspark.ml.feature import StringIndexer, StringIndexerModel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import lake
from loyalty.conf import Config, ConfigError
from loyalty.ml import metrics as M

log = logging.getLogger(__name__)

MEMBER, PRODUCT, CATEGORY = "member_id", "product_id", "category"
MEMBER_IDX = "member_idx"
SOURCES = ("als", "segment_popularity", "popularity")

LINES_TABLE, PRODUCTS_TABLE, MEMBERS_TABLE = "silver.transaction_lines", "silver.products", "silver.members"
SEGMENTS_TABLE = "gold.member_segments"
RECS_TABLE, CATEGORY_RECS_TABLE = "gold.recommendations", "gold.category_recommendations"
INDEX_TABLE = "gold.recommender_member_index"
INPUTS = [LINES_TABLE, PRODUCTS_TABLE]

REC_COLUMNS = [MEMBER, "as_of", PRODUCT, "rank", "score", "source", "model_version"]
CATEGORY_REC_COLUMNS = [MEMBER, "as_of", CATEGORY, "rank", "score", "source", "model_version"]


class RecommenderError(Exception):
    """An expected failure (nothing to train on, no member index): one line, not a traceback."""


# -- settings ---------------------------------------------------------------------------------

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


def params(cfg: Config) -> Params:
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


# -- transforms -------------------------------------------------------------------------------

def product_lines(lines: DataFrame, products: DataFrame) -> DataFrame:
    """Member purchase lines with product and category: lines of known members joined on upc to the
    current product rows (member_id, business_date, product_id, category, amount)."""
    current = (products.where(F.col("is_current")).select("upc", PRODUCT, CATEGORY)
               .where(F.col("upc").isNotNull()).dropDuplicates(["upc"]))
    return (lines.where(F.col(MEMBER).isNotNull() & F.col("upc").isNotNull()
                        & (F.coalesce(F.col("quantity"), F.lit(1)) > 0))
            .join(F.broadcast(current), "upc")
            .select(MEMBER, "business_date", PRODUCT, CATEGORY,
                    F.greatest(F.col("line_amount").cast("double"), F.lit(0.0)).alias("amount")))


def in_window(df: DataFrame, start: date, end: date, date_col: str = "business_date") -> DataFrame:
    """Rows dated in [start, end)."""
    return df.where((F.col(date_col) >= F.lit(start)) & (F.col(date_col) < F.lit(end)))


def interactions(plines: DataFrame, as_of: date, *, lookback_days: int, confidence: str = "purchases",
                 half_life_days: float | None = None, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item, confidence, purchases, last_date) from lines dated in [as_of - lookback, as_of).
    Each line counts 1 (``purchases``) or its dollars (``spend``), times 0.5 ** (age_days / half_life)
    with age_days = as_of - business_date (no decay when half_life_days is None)."""
    value = F.lit(1.0) if confidence == "purchases" else F.col("amount")
    if half_life_days:
        age = F.datediff(F.lit(as_of), F.col("business_date")).cast("double")
        value = value * F.pow(F.lit(0.5), age / F.lit(float(half_life_days)))
    return (in_window(plines, as_of - timedelta(days=lookback_days), as_of)
            .groupBy(MEMBER, item_col)
            .agg(F.sum(value).alias("confidence"), F.count(F.lit(1)).alias("purchases"),
                 F.max("business_date").alias("last_date"))
            .where(F.col("confidence") > 0))


def routine_items(plines: DataFrame, as_of: date, *, min_weeks: int, lookback_weeks: int,
                  item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item) the member buys routinely: in >= ``min_weeks`` distinct weeks of the
    ``lookback_weeks`` weeks before as_of (week 0 = the 7 days before as_of)."""
    week = F.floor((F.datediff(F.lit(as_of), F.col("business_date")) - 1) / 7)
    return (in_window(plines, as_of - timedelta(days=7 * lookback_weeks), as_of)
            .groupBy(MEMBER, item_col).agg(F.countDistinct(week).alias("weeks"))
            .where(F.col("weeks") >= min_weeks).select(MEMBER, item_col))


def popularity(plines: DataFrame, as_of: date, days: int, item_col: str = PRODUCT) -> DataFrame:
    """(item, buyers, score): distinct buyers per item in [as_of - days, as_of); score = the share of
    the window's buyers (members with any purchase) who bought it."""
    window = in_window(plines, as_of - timedelta(days=days), as_of)
    total = window.agg(F.countDistinct(MEMBER).alias("_total"))
    return (window.groupBy(item_col).agg(F.countDistinct(MEMBER).alias("buyers"))
            .crossJoin(total).select(item_col, "buyers", (F.col("buyers") / F.col("_total")).alias("score")))


def segment_popularity(plines: DataFrame, segments: DataFrame, as_of: date, days: int, n: int,
                       item_col: str = PRODUCT) -> DataFrame:
    """(segment_id, item, rank, score): the ``n`` items bought by most members of each segment in
    [as_of - days, as_of); score = share of the segment's buyers in the window."""
    window = in_window(plines, as_of - timedelta(days=days), as_of).join(segments.select(MEMBER, "segment_id"), MEMBER)
    totals = window.groupBy("segment_id").agg(F.countDistinct(MEMBER).alias("_total"))
    order = Window.partitionBy("segment_id").orderBy(F.desc("score"), F.asc(item_col))
    return (window.groupBy("segment_id", item_col).agg(F.countDistinct(MEMBER).alias("buyers"))
            .join(totals, "segment_id")
            .withColumn("score", F.col("buyers") / F.col("_total"))
            .withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select("segment_id", item_col, "rank", "score"))


def top_items(spark: SparkSession, pop: DataFrame, n: int, item_col: str = PRODUCT) -> DataFrame:
    """The ``n`` best items of a popularity table as (item, rank, score); bounded by n, so it goes
    through the driver and comes back as a small DataFrame (broadcast on joins)."""
    rows = pop.orderBy(F.desc("score"), F.asc(item_col)).limit(n).select(item_col, "score").collect()
    schema = T.StructType([T.StructField(item_col, T.StringType()), T.StructField("rank", T.IntegerType()),
                           T.StructField("score", T.DoubleType())])
    return spark.createDataFrame([(r[0], i + 1, float(r[1])) for i, r in enumerate(rows)], schema)


def buy_again(inter: DataFrame, k: int, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item, rank, score): each member's own ``k`` items of highest confidence. A reference
    for evaluation (how much of the test window is repeat buying), not a recommender."""
    order = Window.partitionBy(MEMBER).orderBy(F.desc("confidence"), F.asc(item_col))
    return (inter.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
            .select(MEMBER, item_col, "rank", F.col("confidence").alias("score")))


def member_index(members: DataFrame) -> DataFrame:
    """A dense integer index (member_id, member_idx 0..n-1) over the distinct member ids, computed
    distributedly: zipWithIndex over the ids sorted by value, so a recomputation gives the same
    mapping. (StringIndexer would collect every member id on the driver.)"""
    spark = members.sparkSession
    ids = members.select(MEMBER).where(F.col(MEMBER).isNotNull()).distinct().orderBy(MEMBER)
    zipped = ids.rdd.map(lambda row: row[0]).zipWithIndex()
    schema = T.StructType([T.StructField(MEMBER, T.StringType(), False), T.StructField(MEMBER_IDX, T.LongType(), False)])
    return spark.createDataFrame(zipped, schema).withColumn(MEMBER_IDX, F.col(MEMBER_IDX).cast("int"))


def members_at(members: DataFrame, as_of: date) -> DataFrame:
    """(member_id) of members whose record valid at as_of is ACTIVE and who enrolled before as_of."""
    ts = F.to_timestamp(F.lit(as_of.isoformat()))
    return (members.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))
            .where((F.col("status") == "ACTIVE") & (F.col("enrollment_date") < F.lit(as_of)))
            .select(MEMBER).distinct())


def assemble(members: DataFrame, n: int, *, als: DataFrame | None, popular: DataFrame,
             segment_top: DataFrame | None = None, exclude: DataFrame | None = None,
             item_col: str = PRODUCT) -> DataFrame:
    """Top-``n`` per member of ``members`` as (member_id, item, rank, score, source).

    ALS candidates (member_id, item, score) come first; members left with fewer than n (no factors:
    cold start, or too few after exclusion) are filled from their segment's list (``segment_top``:
    segment_id, item, score, joined on ``members.segment_id``) and then the overall list (``popular``:
    item, score). Items in ``exclude`` (member_id, item) and items already listed are skipped."""
    def shaped(df: DataFrame, priority: int, source: str) -> DataFrame:
        return df.select(MEMBER, item_col, F.col("score").cast("double").alias("score"),
                         F.lit(priority).alias("_prio"), F.lit(source).alias("source"))

    ids = members.select(MEMBER)
    parts = []
    if als is not None:
        parts.append(shaped(als.join(ids, MEMBER, "left_semi"), 0, "als"))
    have = (parts[0].join(exclude, [MEMBER, item_col], "left_anti") if parts and exclude is not None
            else parts[0] if parts else None)
    needy = members
    if have is not None:
        counts = have.groupBy(MEMBER).agg(F.count(F.lit(1)).alias("_n"))
        needy = members.join(counts, MEMBER, "left").where(F.coalesce(F.col("_n"), F.lit(0)) < n).drop("_n")
    if segment_top is not None and "segment_id" in members.columns:
        seg = needy.where(F.col("segment_id").isNotNull()).select(MEMBER, "segment_id")
        parts.append(shaped(seg.join(segment_top.select("segment_id", item_col, "score"), "segment_id"),
                            1, "segment_popularity"))
    parts.append(shaped(needy.select(MEMBER).crossJoin(F.broadcast(popular.select(item_col, "score"))),
                        2, "popularity"))
    cands = parts[0]
    for part in parts[1:]:
        cands = cands.unionByName(part)
    if exclude is not None:
        cands = cands.join(exclude.select(MEMBER, item_col), [MEMBER, item_col], "left_anti")
    first = Window.partitionBy(MEMBER, item_col).orderBy("_prio", F.desc("score"))
    order = Window.partitionBy(MEMBER).orderBy("_prio", F.desc("score"), F.asc(item_col))
    return (cands.withColumn("_k", F.row_number().over(first)).where(F.col("_k") == 1)
            .withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select(MEMBER, item_col, "rank", "score", "source"))


# -- ALS --------------------------------------------------------------------------------------

def fit_indexer(inter: DataFrame, item_col: str) -> StringIndexerModel:
    """Item ids -> item_idx (most purchased first). The labels live in the model (bounded by catalog)."""
    return StringIndexer(inputCol=item_col, outputCol=f"{item_col}_idx", handleInvalid="skip",
                         stringOrderType="frequencyDesc").fit(inter.select(item_col))


def fit_als(indexed: DataFrame, *, item_col: str, rank: int, max_iter: int, reg_param: float, alpha: float,
            seed: int, prediction_col: str = "prediction") -> ALSModel:
    """Implicit-feedback ALS on (member_idx, <item>_idx, confidence)."""
    als = ALS(rank=rank, maxIter=max_iter, regParam=reg_param, alpha=alpha, implicitPrefs=True,
              userCol=MEMBER_IDX, itemCol=f"{item_col}_idx", ratingCol="confidence",
              coldStartStrategy="drop", seed=seed).setPredictionCol(prediction_col)
    return als.fit(indexed.select(MEMBER_IDX, f"{item_col}_idx", "confidence"))


def index(inter: DataFrame, members_idx: DataFrame, indexer: StringIndexerModel) -> DataFrame:
    return indexer.transform(inter).join(members_idx, MEMBER)


def als_top(spark: SparkSession, model: ALSModel, indexer: StringIndexerModel, users: DataFrame, k: int) -> DataFrame:
    """(member_id, item, rank, score) for the members of ``users`` (member_id, member_idx) that have
    factors: the model's top ``k`` items mapped back to their ids."""
    item_col = indexer.getInputCol()
    idx_col = model.getItemCol()
    labels = spark.createDataFrame([(i, v) for i, v in enumerate(indexer.labelsArray[0])],
                                   T.StructType([T.StructField(idx_col, T.IntegerType()),
                                                 T.StructField(item_col, T.StringType())]))
    recs = model.recommendForUserSubset(users.select(MEMBER_IDX), k)
    flat = recs.select(MEMBER_IDX, F.posexplode("recommendations").alias("_pos", "_rec")).select(
        MEMBER_IDX, (F.col("_pos") + 1).alias("rank"), F.col(f"_rec.{idx_col}").alias(idx_col),
        F.col("_rec.rating").cast("double").alias("score"))
    return (flat.join(F.broadcast(labels), idx_col).join(users.select(MEMBER, MEMBER_IDX), MEMBER_IDX)
            .select(MEMBER, item_col, "rank", "score"))


@dataclass
class Stages:
    product_indexer: StringIndexerModel
    product_als: ALSModel
    category_indexer: StringIndexerModel
    category_als: ALSModel

    def pipeline(self) -> PipelineModel:
        return PipelineModel([self.product_indexer, self.product_als, self.category_indexer, self.category_als])


def stages(model: PipelineModel) -> Stages:
    """The four stages of a logged recommender, found by type and column (not by position)."""
    indexers = {s.getInputCol(): s for s in model.stages if isinstance(s, StringIndexerModel)}
    als = {s.getItemCol(): s for s in model.stages if isinstance(s, ALSModel)}
    try:
        return Stages(indexers[PRODUCT], als[f"{PRODUCT}_idx"], indexers[CATEGORY], als[f"{CATEGORY}_idx"])
    except KeyError as exc:
        raise ValueError(f"not a loyalty recommender pipeline (no stage for {exc}); stages: {model.stages}") from None


@dataclass
class Fitted:
    stages: Stages
    members: DataFrame          # member_id, member_idx (persisted)
    interactions: int
    category_interactions: int
    members_n: int
    products_n: int
    fit_seconds: float
    category_fit_seconds: float

    def unpersist(self) -> None:
        self.members.unpersist()


def fit(plines: DataFrame, as_of: date, p: Params) -> Fitted:
    """Fit the product and category models on interactions before ``as_of``."""
    inter = interactions(plines, as_of, lookback_days=p.lookback_days, confidence=p.confidence,
                         half_life_days=p.half_life_days).persist()
    cat_inter = interactions(plines, as_of, lookback_days=p.lookback_days, confidence=p.confidence,
                             half_life_days=p.half_life_days, item_col=CATEGORY).persist()
    try:
        n_inter = inter.count()
        if n_inter == 0:
            raise RecommenderError(f"no interactions before {as_of} (lookback {p.lookback_days} days)")
        members = member_index(inter).persist()
        n_members = members.count()
        prod_ix = fit_indexer(inter, PRODUCT)
        cat_ix = fit_indexer(cat_inter, CATEGORY)
        indexed = index(inter, members, prod_ix).persist()
        indexed.count()
        started = time.monotonic()
        prod_als = fit_als(indexed, item_col=PRODUCT, rank=p.rank, max_iter=p.max_iter, reg_param=p.reg_param,
                           alpha=p.alpha, seed=p.seed)
        fit_seconds = time.monotonic() - started
        indexed.unpersist()
        started = time.monotonic()
        cat_als = fit_als(index(cat_inter, members, cat_ix), item_col=CATEGORY, rank=p.category_rank,
                          max_iter=p.max_iter, reg_param=p.reg_param, alpha=p.alpha, seed=p.seed,
                          prediction_col="category_prediction")
        cat_seconds = time.monotonic() - started
        n_cat = cat_inter.count()
    finally:
        inter.unpersist()
        cat_inter.unpersist()
    log.info("fitted ALS as of %s: %d interactions, %d members, %d products, rank %d, %d iterations: %.1fs "
             "(categories: %.1fs)", as_of, n_inter, n_members, len(prod_ix.labelsArray[0]), p.rank, p.max_iter,
             fit_seconds, cat_seconds)
    return Fitted(Stages(prod_ix, prod_als, cat_ix, cat_als), members, n_inter, n_cat, n_members,
                  len(prod_ix.labelsArray[0]), fit_seconds, cat_seconds)


# -- evaluation -------------------------------------------------------------------------------

def evaluate(spark: SparkSession, plines: DataFrame, catalog: DataFrame, fitted: Fitted, cutoff: date, as_of: date,
             p: Params) -> dict[str, float]:
    """ALS (fitted on data before ``cutoff``) vs the popularity baseline on what members bought in
    [cutoff, as_of). Evaluated members: those with a purchase in the test window and a purchase in the
    training window (ALS has factors for them). Metric names: ``als_<m>``, ``popularity_<m>``,
    ``buy_again_<m>`` (each member's own most bought items: a reference for repeat buying) and
    ``category_als_<m>``, ``category_popularity_<m>``."""
    test = in_window(plines, cutoff, as_of)
    truth = test.select(MEMBER, PRODUCT).distinct().join(fitted.members, MEMBER, "left_semi").persist()
    cat_truth = test.select(MEMBER, CATEGORY).distinct().join(fitted.members, MEMBER, "left_semi")
    users = truth.select(MEMBER).distinct().join(fitted.members, MEMBER).persist()
    out: dict[str, float] = {}
    try:
        n_users = users.count()
        out["test_members"] = float(n_users)
        out["test_pairs"] = float(truth.count())
        catalog_size = catalog.count()
        cats = catalog.select(PRODUCT, CATEGORY)
        k, ck = p.eval_k, p.category_top_n
        als = als_top(spark, fitted.stages.product_als, fitted.stages.product_indexer, users, k)
        pop = users.select(MEMBER).crossJoin(F.broadcast(
            top_items(spark, popularity(plines, cutoff, p.popularity_days), k)))
        again = buy_again(interactions(plines, cutoff, lookback_days=p.lookback_days, confidence=p.confidence,
                                       half_life_days=p.half_life_days).join(users, MEMBER, "left_semi"), k)
        for name, recs in (("als", als), ("popularity", pop), ("buy_again", again)):
            recs = recs.persist()   # members x k rows, read by three metrics
            res = M.evaluate(recs, truth, k, catalog_size=catalog_size, item_categories=cats)
            recs.unpersist()
            out.update({f"{name}_{m}": v for m, v in res.items() if m != "members"})
        cat_als = als_top(spark, fitted.stages.category_als, fitted.stages.category_indexer, users, ck)
        cat_pop = users.select(MEMBER).crossJoin(F.broadcast(
            top_items(spark, popularity(plines, cutoff, p.popularity_days, CATEGORY), ck, CATEGORY)))
        n_categories = catalog.select(CATEGORY).distinct().count()
        for name, recs in (("category_als", cat_als), ("category_popularity", cat_pop)):
            recs = recs.persist()
            res = M.evaluate(recs, cat_truth, ck, catalog_size=n_categories, item_categories=None,
                             item_col=CATEGORY)
            recs.unpersist()
            out.update({f"{name}_{m}": v for m, v in res.items() if m != "members"})
    finally:
        truth.unpersist()
        users.unpersist()
    gate = f"als_{p.gate_metric}"
    if gate not in out:
        raise ConfigError(f"setting 'ml.recommender.gate_metric' is {p.gate_metric!r}, which evaluation does not "
                          f"compute; choose one of {sorted(m[4:] for m in out if m.startswith('als_'))}")
    base = out.get(f"popularity_{p.gate_metric}", 0.0)
    if base > 0:   # ALS / popularity; left out when the baseline scores 0 (MLflow refuses infinities)
        out[f"lift_{p.gate_metric}"] = out[gate] / base
    return out


# -- jobs -------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    as_of: date
    cutoff: date
    run_id: str
    version: int
    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)


def train(spark: SparkSession, cfg: Config, as_of: date) -> TrainResult:
    """Evaluate on a time split, fit the model to serve (on everything before as_of), log it all to
    MLflow, register a version of ``ml.recommender.model_name``, write its member index and run the
    promotion gate."""
    import mlflow

    from loyalty.ml import tracking

    p = params(cfg)
    cutoff = as_of - timedelta(days=p.cutoff_days)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with tracking.training_run(cfg, p.model_name, as_of, INPUTS) as run:
        mlflow.log_params(p.log_params())
        mlflow.log_param("cutoff", cutoff.isoformat())
        plines = product_lines(lake.read(spark, cfg, LINES_TABLE), lake.read(spark, cfg, PRODUCTS_TABLE)).persist()
        try:
            catalog = lake.read(spark, cfg, PRODUCTS_TABLE).where(F.col("is_current")).select(PRODUCT, CATEGORY).distinct()
            t = time.monotonic()
            split = fit(plines, cutoff, p)
            timings["eval_fit_seconds"] = split.fit_seconds
            metrics = evaluate(spark, plines, catalog, split, cutoff, as_of, p)
            timings["eval_seconds"] = time.monotonic() - t
            if p.refit:
                split.unpersist()
                final = fit(plines, as_of, p)
            else:
                final = split
            timings["fit_seconds"] = final.fit_seconds
            timings["category_fit_seconds"] = final.category_fit_seconds
            counts = {"interactions": final.interactions, "category_interactions": final.category_interactions,
                      "members": final.members_n, "products": final.products_n,
                      "train_interactions": split.interactions}
            mlflow.log_metrics({**metrics, **timings, **{k: float(v) for k, v in counts.items()}})
            _log_plots(metrics, p)
            t = time.monotonic()
            info = tracking.log_spark_model(final.stages.pipeline(), "model", cfg=cfg)
            timings["log_model_seconds"] = time.monotonic() - t
            value = metrics[f"als_{p.gate_metric}"]
            version = tracking.register(cfg, p.model_name, info.model_uri, p.gate_metric, value)
            index_rows = final.members.select(F.lit(version).cast("int").alias("model_version"), MEMBER, MEMBER_IDX)
            lake.overwrite(index_rows, cfg, INDEX_TABLE, partition_by=["model_version"],
                           partitions=[{"model_version": version}])
            promotion = tracking.promote(cfg, p.model_name, version, p.gate_metric, value)
            final.unpersist()
        finally:
            plines.unpersist()
        timings["total_seconds"] = time.monotonic() - started
        mlflow.log_metrics({"log_model_seconds": timings["log_model_seconds"], "total_seconds": timings["total_seconds"]})
        run_id = run.info.run_id
    return TrainResult(as_of, cutoff, run_id, version, promotion.promoted, promotion.reason, metrics, timings, counts)


def _log_plots(metrics: dict, p: Params) -> None:
    """Bar charts of the evaluation (products: ALS, popularity, buy-again; categories: ALS, popularity)
    as run artifacts under plots/."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    charts = ((["als", "popularity", "buy_again"], p.eval_k, "plots/als_vs_popularity.png", "products"),
              (["category_als", "category_popularity"], p.category_top_n, "plots/category_als_vs_popularity.png",
               "categories"))
    for models, k, path, what in charts:
        names = [f"{m}_at_{k}" for m in ("precision", "recall", "ndcg", "map", "coverage", "diversity")]
        names = [n for n in names if f"{models[0]}_{n}" in metrics]
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            xs = [x + (i - (len(models) - 1) / 2) * width for x in range(len(names))]
            ax.bar(xs, [metrics.get(f"{model}_{n}", 0.0) for n in names], width=width, label=model)
        ax.set_xticks(list(range(len(names))), names, rotation=20)
        ax.set_title(f"{what}: test window of {p.cutoff_days} days before as_of")
        ax.legend()
        fig.tight_layout()
        mlflow.log_figure(fig, path)
        plt.close(fig)


@dataclass
class ScoreResult:
    as_of: date
    version: int
    rows: int
    category_rows: int
    by_source: dict
    category_by_source: dict
    segments_as_of: date | None
    seconds: float


def load_segments(spark: SparkSession, cfg: Config, as_of: date) -> tuple[DataFrame | None, date | None]:
    """(member_id, segment_id) from the latest ``gold.member_segments`` snapshot at or before as_of,
    or (None, None) when that table does not exist (yet) or has no such snapshot."""
    if not lake.exists(cfg, SEGMENTS_TABLE):
        return None, None
    seg = lake.read(spark, cfg, SEGMENTS_TABLE).where(F.col("as_of") <= F.lit(as_of))
    latest = seg.agg(F.max("as_of")).first()[0]
    if latest is None:
        return None, None
    return seg.where(F.col("as_of") == F.lit(latest)).select(MEMBER, "segment_id").dropDuplicates([MEMBER]), latest


def score(spark: SparkSession, cfg: Config, as_of: date) -> ScoreResult:
    """Write gold.recommendations and gold.category_recommendations for ``as_of`` with the champion."""
    from loyalty.ml import tracking

    started = time.monotonic()
    p = params(cfg)
    model, version = tracking.load_champion(cfg, p.model_name)
    st = stages(model)
    if not lake.exists(cfg, INDEX_TABLE):
        raise RecommenderError(f"{INDEX_TABLE} does not exist: train_recommender writes it with each model version")
    idx = (lake.read(spark, cfg, INDEX_TABLE).where(F.col("model_version") == version).select(MEMBER, MEMBER_IDX))
    plines = product_lines(lake.read(spark, cfg, LINES_TABLE), lake.read(spark, cfg, PRODUCTS_TABLE)).persist()
    catalog = lake.read(spark, cfg, PRODUCTS_TABLE).where(F.col("is_current")).select(PRODUCT).distinct()
    segments, seg_as_of = load_segments(spark, cfg, as_of)
    members = members_at(lake.read(spark, cfg, MEMBERS_TABLE), as_of)
    if segments is not None:
        members = members.join(segments, MEMBER, "left")
    members = members.persist()
    try:
        routine = None
        extra = 0
        if p.exclude_routine:
            routine = routine_items(plines, as_of, min_weeks=p.routine_min_weeks,
                                    lookback_weeks=p.routine_lookback_weeks).persist()
            extra = int(routine.groupBy(MEMBER).count().agg(F.max("count")).first()[0] or 0)
        users = members.select(MEMBER).join(idx, MEMBER)
        k = p.top_n + extra
        als = als_top(spark, st.product_als, st.product_indexer, users, k).join(catalog, PRODUCT, "left_semi")
        pop = top_items(spark, popularity(plines, as_of, p.popularity_days), 2 * p.top_n + extra)
        seg_top = (segment_popularity(plines, segments, as_of, p.segment_popularity_days, 2 * p.top_n + extra)
                   if segments is not None else None)
        recs = assemble(members, p.top_n, als=als, popular=pop, segment_top=seg_top, exclude=routine)
        out = recs.select(MEMBER, F.lit(as_of).alias("as_of"), PRODUCT, F.col("rank").cast("int").alias("rank"),
                          "score", "source", F.lit(version).cast("int").alias("model_version"))
        info = lake.overwrite(out, cfg, RECS_TABLE, partition_by=["as_of"], partitions=[{"as_of": as_of.isoformat()}])

        cat_als = als_top(spark, st.category_als, st.category_indexer, users, p.category_top_n)
        cat_pop = top_items(spark, popularity(plines, as_of, p.popularity_days, CATEGORY), 2 * p.category_top_n, CATEGORY)
        cat_seg = (segment_popularity(plines, segments, as_of, p.segment_popularity_days, 2 * p.category_top_n, CATEGORY)
                   if segments is not None else None)
        cat_recs = assemble(members, p.category_top_n, als=cat_als, popular=cat_pop, segment_top=cat_seg,
                            item_col=CATEGORY)
        cat_out = cat_recs.select(MEMBER, F.lit(as_of).alias("as_of"), CATEGORY, F.col("rank").cast("int").alias("rank"),
                                  "score", "source", F.lit(version).cast("int").alias("model_version"))
        cat_info = lake.overwrite(cat_out, cfg, CATEGORY_RECS_TABLE, partition_by=["as_of"],
                                  partitions=[{"as_of": as_of.isoformat()}])
        if routine is not None:
            routine.unpersist()
    finally:
        plines.unpersist()
        members.unpersist()
    by_source = _by_source(spark, cfg, RECS_TABLE, as_of)
    cat_by_source = _by_source(spark, cfg, CATEGORY_RECS_TABLE, as_of)
    return ScoreResult(as_of, version, info.rows, cat_info.rows, by_source, cat_by_source, seg_as_of,
                       time.monotonic() - started)


def _by_source(spark: SparkSession, cfg: Config, table: str, as_of: date) -> dict:
    """Rows per source in the written partition (a handful of rows)."""
    rows = (lake.read(spark, cfg, table).where(F.col("as_of") == F.lit(as_of))
            .groupBy("source").count().collect())
    return {r["source"]: int(r["count"]) for r in rows}
