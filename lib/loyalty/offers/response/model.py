"""The uplift model (pure: no tables, no MLflow): a two-model T-learner, or a one-model S-learner.

Why learners that give both probabilities: the planner needs calibrated P(convert | treated) and
P(convert | control) per pair (value = uplift x margin - cost, and the propensity baseline is
P(convert | treated) itself); a class-transformed outcome learner gives only their difference, and
its unweighted form assumes a 50/50 split, while the planted history holds out ~15% per offer.

``learner: s_logistic`` (the default, an S-learner) fits one L2 logistic regression on all issues
with the treatment flag and its interactions with every feature as inputs ([x, t, t x x]), and
scores each pair twice (t = 1, t = 0). The control arm is small: the baseline response is learned
from both arms together and only the treatment terms carry the difference, shrunk by the same
penalty toward "no heterogeneity", instead of two separate fits whose noises add up in the
difference (docs/offers.md has the measured comparison).

``learner: logistic`` (or ``gbt``) is the T-learner: each arm fitted on its own rows (treated issues,
control issues) over the same features, an L2 logistic regression (or GBT) on standardized features.
Both forms see the explicit interactions of the feature stages (offer type x member and pair
features, target category x department shares).

The fitted model is one Spark ``PipelineModel`` (feature stages, then the treated head writing
``_p_t``, then the control head writing ``_p_c``: two arm models, or the S-learner applied with t = 1
and t = 0), so MLflow logs, registers and loads it as one
model; ``serve.score`` turns its output into p_treated, p_control and uplift.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import (Interaction, OneHotEncoder, SQLTransformer, StandardScaler, StringIndexer,
                                VectorAssembler)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.offers.response.features import DEPT_SHARES, MODEL_CATEGORICAL, MODEL_NUMERIC
from loyalty.offers.response.settings import CONVERTED, TREATED, Params, ResponseError

VECTOR = "_resp_vec"
ARMS = {"treated": ("_p_t", "_raw_t", "_pred_t"), "control": ("_p_c", "_raw_c", "_pred_c")}
S_TREATMENT = {"treated": ("_s_t1", 1.0), "control": ("_s_t0", 0.0), "fit": ("_s_t", None)}


def feature_pipeline() -> Pipeline:
    """Indexing, one-hot, the two interaction blocks and scaling into ``VECTOR``."""
    idx = [f"_idx_{c}" for c in MODEL_CATEGORICAL]
    oh = {c: f"_oh_{c}" for c in MODEL_CATEGORICAL}
    return Pipeline(stages=[
        StringIndexer(inputCols=MODEL_CATEGORICAL, outputCols=idx, handleInvalid="keep",
                      stringOrderType="alphabetAsc"),
        OneHotEncoder(inputCols=idx, outputCols=list(oh.values()), handleInvalid="keep"),
        VectorAssembler(inputCols=MODEL_NUMERIC, outputCol="_num"),
        VectorAssembler(inputCols=DEPT_SHARES, outputCol="_dept"),
        Interaction(inputCols=[oh["offer_type"], "_num"], outputCol="_type_x_num"),
        Interaction(inputCols=[oh["target_category"], "_dept"], outputCol="_cat_x_dept"),
        VectorAssembler(inputCols=["_num", "_dept", *oh.values(), "_type_x_num", "_cat_x_dept"], outputCol="_vec_raw"),
        StandardScaler(inputCol="_vec_raw", outputCol=VECTOR, withMean=False, withStd=True),
    ])


def arm(p: Params, which: str):
    prob, raw, pred = ARMS[which]
    common = dict(featuresCol=VECTOR, labelCol="_label", probabilityCol=prob, rawPredictionCol=raw,
                  predictionCol=pred)
    if p.learner == "gbt":
        return GBTClassifier(maxDepth=p.gbt_max_depth, maxIter=p.max_iter, stepSize=p.gbt_step_size, seed=p.seed,
                             **common)
    return LogisticRegression(regParam=p.reg_param, elasticNetParam=p.elastic_net, maxIter=p.max_iter,
                              standardization=False, **common)


@dataclass
class Fitted:
    model: PipelineModel
    rows: int
    treated: int
    control: int
    treated_rate: float
    control_rate: float
    seconds: float


def arm_counts(rows: DataFrame) -> dict:
    """Rows, conversions per arm (a handful of numbers)."""
    r = rows.agg(F.count(F.lit(1)).alias("n"), F.sum(TREATED).alias("nt"),
                 F.sum(F.col(TREATED) * F.col(CONVERTED)).alias("yt"),
                 F.sum((1 - F.col(TREATED)) * F.col(CONVERTED)).alias("yc")).first()
    n, nt = int(r["n"] or 0), int(r["nt"] or 0)
    return {"rows": n, "treated": nt, "control": n - nt, "treated_conversions": int(r["yt"] or 0),
            "control_conversions": int(r["yc"] or 0)}


def s_inputs(which: str) -> list:
    """Stages that append the S-learner's unscaled input ``_s_raw_<which>``: [x, t, t x x] with x the
    unscaled feature vector (``_vec_raw``: Interaction needs the assembler's vector attributes) and t the
    treatment indicator (the row's ``treated`` when fitting, 1 or 0 when scoring an arm)."""
    col, value = S_TREATMENT[which]
    source = f"CAST({TREATED} AS DOUBLE)" if value is None else f"CAST({value} AS DOUBLE)"
    return [SQLTransformer(statement=f"SELECT *, {source} AS {col} FROM __THIS__"),
            Interaction(inputCols=[col, "_vec_raw"], outputCol=f"_s_tx_{which}"),
            VectorAssembler(inputCols=["_vec_raw", col, f"_s_tx_{which}"], outputCol=f"_s_raw_{which}")]


def fit_s_learner(raw: DataFrame, p: Params) -> list:
    """One logistic regression on every row with the treatment and its interactions with the features
    as inputs (standardized like the T-learner's), scored twice (t = 1, t = 0) for p_treated and
    p_control. ``raw``: treated, _label, _vec_raw. Stages to append after the feature stages."""
    data = raw
    for stage in s_inputs("fit"):
        data = stage.transform(data)
    scaler = StandardScaler(inputCol="_s_raw_fit", outputCol="_s_vec_fit", withMean=False, withStd=True).fit(data)
    data = scaler.transform(data).persist()
    try:
        lr = LogisticRegression(regParam=p.reg_param, elasticNetParam=p.elastic_net, maxIter=p.max_iter,
                                standardization=False, featuresCol="_s_vec_fit", labelCol="_label").fit(data)
    finally:
        data.unpersist()
    stages = []
    for which in ("treated", "control"):
        prob, raw_col, pred = ARMS[which]
        stages += [*s_inputs(which),
                   scaler.copy({scaler.inputCol: f"_s_raw_{which}", scaler.outputCol: f"_s_vec_{which}"}),
                   lr.copy({lr.featuresCol: f"_s_vec_{which}", lr.probabilityCol: prob,
                            lr.rawPredictionCol: raw_col, lr.predictionCol: pred})]
    return stages


def fit(rows: DataFrame, p: Params) -> Fitted:
    """Fit the learner on training rows (``features.model_columns`` output with treated, converted)."""
    started = time.monotonic()
    c = arm_counts(rows)
    for name, n in (("treated", c["treated"]), ("control", c["control"])):
        if n < p.min_rows_per_arm:
            raise ResponseError(f"only {n} {name} training rows (conf offers.response.min_rows_per_arm is "
                                f"{p.min_rows_per_arm}): more offer history or a later --as-of is needed")
    rows = rows.withColumn("_label", F.col(CONVERTED).cast("double"))
    feats = feature_pipeline().fit(rows)
    vec = feats.transform(rows).select(TREATED, "_label", VECTOR, "_vec_raw").persist()
    try:
        if p.learner == "s_logistic":
            heads = fit_s_learner(vec.select(TREATED, "_label", "_vec_raw"), p)
        else:
            heads = [arm(p, "treated").fit(vec.where(F.col(TREATED) == 1)),
                     arm(p, "control").fit(vec.where(F.col(TREATED) == 0))]
    finally:
        vec.unpersist()
    model = PipelineModel(stages=[*feats.stages, *heads])
    rate = lambda y, n: y / n if n else 0.0   # noqa: E731
    return Fitted(model, c["rows"], c["treated"], c["control"], rate(c["treated_conversions"], c["treated"]),
                  rate(c["control_conversions"], c["control"]), time.monotonic() - started)
