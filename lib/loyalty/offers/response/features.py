"""Model inputs of a (member, offer) pair (pure): the member's gold.member_features row, the offer's
terms, and what relates the two. Training and the planner build them with the same code:

    rows = pair_features(pairs, member_features, offers)   # pairs: member_id, offer_id (+ anything)
    scored = serve.score(model, rows)

Columns added (``MODEL_NUMERIC`` + ``MODEL_CATEGORICAL``):
- member: ``MEMBER_FEATURES`` (counts and money as log1p, shares as they are; a member missing from
  the snapshot gets ``FILL``: recency 365 = "never", 0 otherwise, and ``has_features`` 0), and the
  department shares ``dept_share_<d>`` (``DEPT_SHARES``: the departments of conf gold.departments);
- offer: offer_type, banner, target_category, log1p(reward_value), min_spend;
- pair: ``log_target_receipts`` and ``target_receipt_share`` (log1p of the member's receipts with the
  offer's target category in the 365 days before the snapshot, and their share of trips_365d:
  ``training.target_history``), ``at_home_banner`` (the offer's banner is the member's home banner), ``banner_spend_share``
  (the member's spend share at the offer's banner), ``min_spend_to_basket`` (min_spend over the
  member's average basket: how far the offer asks the member to stretch).
The model (``model.py``) adds the interactions: offer type x member features, and target category x
department shares (does the member already buy where the target category sits).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.offers.response.settings import MEMBER, OFFER
from loyalty.offers.response.training import TARGET_RECEIPTS, offer_terms, with_target_history

LOG_FEATURES = ["trips_30d", "trips_90d", "trips_365d", "spend_90d", "spend_365d", "avg_basket_365d",
                "cinema_visits_365d", "bank_txns_365d", "points_balance", "points_redeemed_365d",
                "digital_sessions_90d", "email_opens_90d", "push_opens_90d", "offers_issued_365d",
                "offers_redeemed_365d", "tenure_days"]
PLAIN_FEATURES = ["recency_days", "private_label_share", "offer_redemption_rate", "banners_shopped_365d"]
MEMBER_FEATURES = PLAIN_FEATURES + LOG_FEATURES
DEPARTMENTS = ["produce", "dairy_eggs", "meat_seafood", "bakery", "pantry", "snacks", "beverages", "frozen",
               "household", "personal_care", "baby", "prepared_meals", "other"]
DEPT_SHARES = [f"dept_share_{d}" for d in DEPARTMENTS]
BANNER_SHARE_PREFIX = "spend_share_"
FILL = {"recency_days": 365.0}
PAIR_FEATURES = ["log_target_receipts", "target_receipt_share", "at_home_banner", "banner_spend_share", "min_spend_to_basket", "log_reward_value", "min_spend",
                 "has_features"]
MODEL_NUMERIC = MEMBER_FEATURES + PAIR_FEATURES      # assembled into the member/offer vector
MODEL_CATEGORICAL = ["offer_type", "banner", "target_category"]
INPUT_COLUMNS = MODEL_NUMERIC + DEPT_SHARES + MODEL_CATEGORICAL


def model_columns(rows: DataFrame) -> DataFrame:
    """``rows`` holding member feature columns (possibly null: a member without a snapshot row, then
    ``has_features`` is 0) and offer terms -> the same rows with every column of ``INPUT_COLUMNS``
    (doubles and strings, never null). A department share absent from ``rows`` (a department conf
    gold.departments does not list) is 0; any other member column absent is an error: the model needs
    the same inputs in training and serving."""
    missing = [c for c in [*MEMBER_FEATURES, TARGET_RECEIPTS, "home_banner", "avg_basket_365d",
                           "offer_type", "banner", "target_category", "reward_value", "min_spend"]
               if c not in rows.columns]
    if missing:
        raise ValueError(f"pair features need columns {missing} (gold.member_features, silver.offers and "
                         f"training.with_target_history)")
    rows = rows.withColumns({c: F.lit(None).cast("double") for c in DEPT_SHARES if c not in rows.columns})
    has = F.col("_has_features") if "_has_features" in rows.columns else F.lit(1.0)
    out = rows.withColumn("has_features", has.cast("double"))
    basket = F.coalesce(F.col("avg_basket_365d").cast("double"), F.lit(0.0))
    shares = [c for c in rows.columns if c.startswith(BANNER_SHARE_PREFIX)]
    banner_share = F.lit(0.0)
    for c in shares:
        banner_share = F.when(F.lower(F.col("banner")) == c[len(BANNER_SHARE_PREFIX):],
                              F.coalesce(F.col(c).cast("double"), F.lit(0.0))).otherwise(banner_share)
    target = F.coalesce(F.col(TARGET_RECEIPTS).cast("double"), F.lit(0.0))
    trips = F.coalesce(F.col("trips_365d").cast("double"), F.lit(0.0))
    out = out.withColumns({
        "log_target_receipts": F.log1p(F.greatest(target, F.lit(0.0))),
        "target_receipt_share": F.when(trips > 0, F.least(target / trips, F.lit(1.0))).otherwise(F.lit(0.0)),
        "at_home_banner": F.when(F.col("home_banner") == F.col("banner"), 1.0).otherwise(0.0),
        "banner_spend_share": banner_share,
        "min_spend_to_basket": F.coalesce(F.col("min_spend").cast("double"), F.lit(0.0)) / F.greatest(basket, F.lit(1.0)),
        "log_reward_value": F.log1p(F.greatest(F.coalesce(F.col("reward_value").cast("double"), F.lit(0.0)), F.lit(0.0))),
        "min_spend": F.coalesce(F.col("min_spend").cast("double"), F.lit(0.0)),
    })
    fill = {c: F.coalesce(F.col(c).cast("double"), F.lit(FILL.get(c, 0.0)))
            for c in PLAIN_FEATURES + DEPT_SHARES}
    fill.update({c: F.log1p(F.greatest(F.coalesce(F.col(c).cast("double"), F.lit(0.0)), F.lit(0.0)))
                 for c in LOG_FEATURES})
    fill.update({c: F.coalesce(F.col(c).cast("string"), F.lit("UNKNOWN")) for c in MODEL_CATEGORICAL})
    out = out.withColumns(fill)
    return out.drop("_has_features") if "_has_features" in out.columns else out


def pair_features(pairs: DataFrame, member_features: DataFrame, offers: DataFrame, lines: DataFrame,
                  products: DataFrame) -> DataFrame:
    """``pairs`` (member_id, offer_id, any other columns) + the model inputs (module doc).
    ``member_features``: gold.member_features rows of one as_of; ``offers``: silver.offers rows;
    ``lines``, ``products``: silver.transaction_lines and silver.products (the target-category history
    as of the snapshot's as_of).
    Every pair whose offer is in ``offers`` is kept; a member missing from ``member_features`` gets
    the fill values and has_features 0."""
    keep = set(MEMBER_FEATURES) | set(DEPT_SHARES) | {"home_banner"} | {
        c for c in member_features.columns if c.startswith(BANNER_SHARE_PREFIX)}
    feats = member_features.select(MEMBER, *[c for c in member_features.columns if c in keep],
                                   F.col("as_of").alias("_features_as_of"),
                                   F.lit(1.0).alias("_has_features")).dropDuplicates([MEMBER])
    feats = feats.withColumns({c: F.lit(None).cast("double") for c in [*MEMBER_FEATURES, *DEPT_SHARES]
                               if c not in feats.columns})
    if "home_banner" not in feats.columns:
        feats = feats.withColumn("home_banner", F.lit(None).cast("string"))
    terms = offer_terms(offers).select(OFFER, "offer_type", "banner", "target_category", "reward_value", "min_spend")
    base = pairs.drop(*[c for c in terms.columns if c != OFFER and c in pairs.columns])
    joined = (base.join(F.broadcast(terms), OFFER).join(feats, MEMBER, "left")
              .withColumn("_has_features", F.coalesce(F.col("_has_features"), F.lit(0.0))))
    joined = with_target_history(joined, "_features_as_of", lines, products).drop("_features_as_of")
    return model_columns(joined)
