"""Point-in-time member features (gold.member_features): DataFrame in, DataFrame out.

Every function takes ``as_of`` and uses only rows dated strictly before it, so a snapshot
can be rebuilt exactly and a row dated on or after ``as_of`` never changes a feature.
No function here reads the clock, reads or writes a table, or collects data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# Classic RFM labels on (recency score, frequency score), first match wins; together they
# cover all 25 combinations of scores 1..5. Members without a trip in the year are "Lost".
RFM_LABELS: list[tuple[str, tuple[int, int], tuple[int, int]]] = [
    ("Champions", (5, 5), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential Loyalist", (4, 5), (2, 3)),
    ("New Customers", (5, 5), (1, 1)),
    ("Promising", (4, 4), (1, 1)),
    ("Need Attention", (3, 3), (3, 3)),
    ("About To Sleep", (3, 3), (1, 2)),
    ("Cannot Lose Them", (1, 2), (5, 5)),
    ("At Risk", (1, 2), (3, 4)),
    ("Hibernating", (1, 2), (1, 2)),
]
NO_PURCHASE_LABEL = "Lost"


@dataclass(frozen=True)
class FeatureParams:
    windows: tuple[int, ...] = (30, 90, 365)
    banners: tuple[str, ...] = ("FRESHMART", "VALUMART")
    departments: dict[str, str] = field(default_factory=dict)    # department code -> column suffix
    expiry_days: int = 730
    expiring_window_days: int = 90

    @property
    def year(self) -> int:
        return max(self.windows)


def _d(as_of: date) -> Column:
    return F.lit(as_of.isoformat()).cast("date")


def _ts(as_of: date) -> Column:
    return F.lit(datetime(as_of.year, as_of.month, as_of.day).isoformat()).cast("timestamp")


def before(df: DataFrame, date_col: str, as_of: date, days: int | None = None) -> DataFrame:
    """Rows dated in [as_of - days, as_of) (or all before as_of when days is None)."""
    cond = F.col(date_col) < _d(as_of)
    if days is not None:
        cond = cond & (F.col(date_col) >= _d(as_of - timedelta(days=days)))
    return df.where(cond)


def _in(date_col: str, as_of: date, days: int) -> Column:
    return F.col(date_col) >= _d(as_of - timedelta(days=days))


def _share(part: Column, total: Column) -> Column:
    return F.when(total > 0, part / total).otherwise(F.lit(0.0))


def valid_at(history: DataFrame, as_of: date) -> DataFrame:
    """The SCD2 versions valid at as_of: valid_from < as_of <= valid_to (an open version has
    valid_to 9999-12-31 or null). Versions that start on or after as_of were not known then."""
    ts = _ts(as_of)
    return history.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))


def member_population(members: DataFrame, as_of: date) -> DataFrame:
    """Members enrolled before as_of whose member record valid at as_of is ACTIVE (SCD2, see
    ``valid_at``)."""
    valid = valid_at(members, as_of)
    return (valid.where((F.col("status") == "ACTIVE") & (F.col("enrollment_date") < _d(as_of)))
            .select("member_id", "home_banner", "province", "age_band", "enrollment_date",
                    F.datediff(_d(as_of), F.col("enrollment_date")).alias("tenure_days"))
            .dropDuplicates(["member_id"]))


def retail_features(transactions: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Recency, frequency and monetary per window, average basket, banner shares and count."""
    tx = before(transactions.where(F.col("member_id").isNotNull()), "business_date", as_of, p.year)
    amount = F.col("total_amount").cast("double")
    aggs = [F.max("business_date").alias("last_purchase_date")]
    for w in p.windows:
        aggs += [F.count(F.when(_in("business_date", as_of, w), True)).alias(f"trips_{w}d"),
                 F.sum(F.when(_in("business_date", as_of, w), amount)).alias(f"spend_{w}d")]
    aggs += [F.sum(F.when(F.col("banner") == b, amount)).alias(f"_spend_{b}") for b in p.banners]
    aggs.append(F.countDistinct("banner").alias("banners_shopped_365d"))
    out = tx.groupBy("member_id").agg(*aggs)
    year_spend = F.coalesce(F.col(f"spend_{p.year}d"), F.lit(0.0))
    for b in p.banners:
        out = out.withColumn(f"spend_share_{b.lower()}", _share(F.coalesce(F.col(f"_spend_{b}"), F.lit(0.0)), year_spend))
    return out.drop(*[f"_spend_{b}" for b in p.banners])


def products_as_of(products: DataFrame, as_of: date) -> DataFrame:
    """One row per upc of silver.products (SCD2 history) with the attributes valid at as_of, not
    the current ones, so a snapshot rebuilt after a catalog change gives the same rows. A upc
    held by two products at as_of takes the version that started last (then the larger
    product_id); a product whose first version starts on or after as_of is not known yet."""
    w = Window.partitionBy("upc").orderBy(F.desc("valid_from"), F.desc("product_id"))
    return (valid_at(products.where(F.col("upc").isNotNull()), as_of)
            .withColumn("_r", F.row_number().over(w)).where("_r = 1").drop("_r"))


def basket_mix(lines: DataFrame, products: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Share of the year's line spend per top-level department, the rest, and private label.
    ``products`` is silver.products with its history: each line takes the attributes of its upc
    valid at as_of (``products_as_of``); a upc unknown then counts in the rest, not private label."""
    prod = products_as_of(products, as_of).select(
        "upc", "department", F.coalesce(F.col("is_private_label"), F.lit(False)).alias("pl"))
    ln = (before(lines.where(F.col("member_id").isNotNull()), "business_date", as_of, p.year)
          .select("member_id", "upc", F.col("line_amount").cast("double").alias("amt"))
          .join(F.broadcast(prod), "upc", "left"))
    known = list(p.departments)
    aggs = [F.sum("amt").alias("_total"), F.sum(F.when(F.col("pl"), F.col("amt"))).alias("_pl")]
    aggs += [F.sum(F.when(F.col("department") == d, F.col("amt"))).alias(f"_d_{s}") for d, s in p.departments.items()]
    aggs.append(F.sum(F.when(~F.coalesce(F.col("department").isin(known), F.lit(False)), F.col("amt"))).alias("_d_other"))
    out = ln.groupBy("member_id").agg(*aggs)
    total = F.coalesce(F.col("_total"), F.lit(0.0))
    cols = [F.col("member_id")]
    cols += [_share(F.coalesce(F.col(f"_d_{s}"), F.lit(0.0)), total).alias(f"dept_share_{s}")
             for s in [*p.departments.values(), "other"]]
    cols.append(_share(F.coalesce(F.col("_pl"), F.lit(0.0)), total).alias("private_label_share"))
    return out.select(*cols)


def partner_features(partner_txns: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Cinema visits, bank transactions, their spend and points."""
    pt = before(partner_txns.where(F.col("member_id").isNotNull()), "business_date", as_of, p.year)
    amt, pts = F.col("amount").cast("double"), F.col("points_earned").cast("long")
    cin, bank, q = F.col("partner") == "CINEMA", F.col("partner") == "BANK", _in("business_date", as_of, 90)
    return pt.groupBy("member_id").agg(
        F.count(F.when(cin & q, True)).alias("cinema_visits_90d"),
        F.count(F.when(cin, True)).alias("cinema_visits_365d"),
        F.sum(F.when(cin, amt)).alias("cinema_spend_365d"),
        F.sum(F.when(cin, pts)).alias("cinema_points_365d"),
        F.count(F.when(bank & q, True)).alias("bank_txns_90d"),
        F.count(F.when(bank, True)).alias("bank_txns_365d"),
        F.sum(F.when(bank, amt)).alias("bank_spend_365d"),
        F.sum(F.when(bank, pts)).alias("bank_points_365d"),
        F.max("business_date").alias("_last_partner_date"),
        F.countDistinct("partner").alias("_partners"))


def points_features(ledger: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Earned and redeemed in the year, balance, days since last redemption, and the points
    that expire within the window under FIFO (oldest earned points are used first)."""
    lg = before(ledger.where(F.col("member_id").isNotNull()), "entry_date", as_of)
    pts = F.col("points").cast("long")
    year = _in("entry_date", as_of, p.year)
    cutoff = _d(as_of - timedelta(days=p.expiry_days - p.expiring_window_days))
    out = lg.groupBy("member_id").agg(
        F.sum(F.when(year & (F.col("entry_type") == "EARN"), pts)).alias("points_earned_365d"),
        (-F.sum(F.when(year & (F.col("entry_type") == "REDEEM"), pts))).alias("points_redeemed_365d"),
        F.sum(pts).alias("points_balance"),
        F.max(F.when(F.col("entry_type") == "REDEEM", F.col("entry_date"))).alias("_last_redeem"),
        F.sum(F.when((pts > 0) & (F.col("entry_date") < cutoff), pts)).alias("_old_earned"),
        (-F.sum(F.when(pts < 0, pts))).alias("_consumed"))
    old = F.coalesce(F.col("_old_earned"), F.lit(0)) - F.coalesce(F.col("_consumed"), F.lit(0))
    expiring = F.greatest(F.lit(0), F.least(old, F.coalesce(F.col("points_balance"), F.lit(0))))
    return (out.withColumn("points_expiring_90d", expiring.cast("long"))
            .withColumn("days_since_last_redemption", F.datediff(_d(as_of), F.col("_last_redeem")))
            .drop("_last_redeem", "_old_earned", "_consumed"))


def digital_features(digital: DataFrame, as_of: date) -> DataFrame:
    """Sessions (app, web) and message opens and clicks per channel over 90 days."""
    ev = before(digital.where(F.col("member_id").isNotNull()), "event_date", as_of, 90)
    ch, et = F.col("channel"), F.col("event_type")
    return ev.groupBy("member_id").agg(
        F.count(F.when(et == "SESSION", True)).alias("digital_sessions_90d"),
        F.count(F.when((ch == "EMAIL") & (et == "OPEN"), True)).alias("email_opens_90d"),
        F.count(F.when((ch == "EMAIL") & (et == "CLICK"), True)).alias("email_clicks_90d"),
        F.count(F.when((ch == "PUSH") & (et == "OPEN"), True)).alias("push_opens_90d"),
        F.count(F.when((ch == "PUSH") & (et == "CLICK"), True)).alias("push_clicks_90d"))


def preferred_times(transactions: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Most frequent local day of week (ISO: 1 = Monday .. 7 = Sunday) and hour of the year's
    retail trips; ties go to the earlier day or hour."""
    tx = (before(transactions.where(F.col("member_id").isNotNull()), "business_date", as_of, p.year)
          .withColumn("_dow", ((F.col("local_dow") + 5) % 7) + 1))    # Spark dayofweek: 1 = Sunday

    def mode(col: str, name: str) -> DataFrame:
        counted = tx.where(F.col(col).isNotNull()).groupBy("member_id", col).count()
        w = Window.partitionBy("member_id").orderBy(F.desc("count"), F.asc(col))
        return (counted.withColumn("_r", F.row_number().over(w)).where("_r = 1")
                .select("member_id", F.col(col).cast("int").alias(name)))

    return mode("_dow", "preferred_dow").join(mode("local_hour", "preferred_hour"), "member_id", "full")


def offer_features(offer_events: DataFrame, as_of: date, p: FeatureParams) -> DataFrame:
    """Offers issued and redeemed in the year (holdout excluded), and the redemption rate: the
    share of the issued offers that were redeemed (a redemption whose issue event is missing
    counts as redeemed, not towards the rate)."""
    ev = before(offer_events.where(F.col("member_id").isNotNull() & ~F.coalesce(F.col("is_holdout"), F.lit(False))),
                "event_date", as_of, p.year)
    per_offer = ev.groupBy("member_id", "offer_id").agg(
        F.max((F.col("event_type") == "ISSUED").cast("int")).alias("_issued"),
        F.max((F.col("event_type") == "REDEEMED").cast("int")).alias("_redeemed"))
    out = per_offer.groupBy("member_id").agg(
        F.sum("_issued").cast("long").alias("offers_issued_365d"),
        F.sum("_redeemed").cast("long").alias("offers_redeemed_365d"),
        F.sum(F.col("_issued") * F.col("_redeemed")).cast("double").alias("_issued_redeemed"))
    return (out.withColumn("offer_redemption_rate", _share(F.col("_issued_redeemed"),
                                                           F.col("offers_issued_365d").cast("double")))
            .drop("_issued_redeemed"))


def rfm_thresholds_input(features: DataFrame) -> DataFrame:
    """The members RFM quintiles are taken over: those with a trip in the year."""
    return features.where(F.col("trips_365d") > 0)


def _score(col: Column, cuts: list[float], higher_is_better: bool) -> Column:
    """1..5 from four quintile cut points: v <= q20 -> 1 (or 5 when lower is better), etc."""
    above = sum((F.when(col > F.lit(float(c)), 1).otherwise(0) for c in cuts), F.lit(0))
    return (above + 1) if higher_is_better else (F.lit(5) - above)


def with_rfm(features: DataFrame, recency_cuts: list[float], frequency_cuts: list[float],
             monetary_cuts: list[float]) -> DataFrame:
    """RFM scores (quintiles 1..5, 5 best; 0 without a trip in the year), rfm_score and rfm_label.
    Cut points are the 20/40/60/80 % quantiles of recency_days, trips_365d and spend_365d over
    members with a trip in the year (see ``rfm_thresholds_input``)."""
    has = F.col("trips_365d") > 0
    out = (features
           .withColumn("rfm_recency_score", F.when(has, _score(F.col("recency_days"), recency_cuts, False)).otherwise(0))
           .withColumn("rfm_frequency_score", F.when(has, _score(F.col("trips_365d"), frequency_cuts, True)).otherwise(0))
           .withColumn("rfm_monetary_score", F.when(has, _score(F.col("spend_365d"), monetary_cuts, True)).otherwise(0)))
    out = out.withColumn("rfm_score", F.concat(*[F.col(c).cast("string") for c in
                                                 ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score")]))
    r, f = F.col("rfm_recency_score"), F.col("rfm_frequency_score")
    label = F.when(~has, F.lit(NO_PURCHASE_LABEL))
    for name, (r0, r1), (f0, f1) in RFM_LABELS:
        label = label.when(r.between(r0, r1) & f.between(f0, f1), F.lit(name))
    return out.withColumn("rfm_label", label)


def assemble(population: DataFrame, as_of: date, p: FeatureParams, *, retail: DataFrame, mix: DataFrame,
             partners: DataFrame, points: DataFrame, digital: DataFrame, times: DataFrame,
             offers: DataFrame) -> DataFrame:
    """One row per member of ``population``; missing activity becomes 0 (counts, amounts, shares)."""
    out = population
    for part in (retail, mix, partners, points, digital, times, offers):
        out = out.join(part, "member_id", "left")
    zero_long = [f"trips_{w}d" for w in p.windows] + [
        "cinema_visits_90d", "cinema_visits_365d", "cinema_points_365d", "bank_txns_90d", "bank_txns_365d",
        "bank_points_365d", "points_earned_365d", "points_redeemed_365d", "points_balance", "points_expiring_90d",
        "digital_sessions_90d", "email_opens_90d", "email_clicks_90d", "push_opens_90d", "push_clicks_90d",
        "offers_issued_365d", "offers_redeemed_365d"]
    zero_double = [f"spend_{w}d" for w in p.windows] + [f"spend_share_{b.lower()}" for b in p.banners] + [
        f"dept_share_{s}" for s in [*p.departments.values(), "other"]] + [
        "private_label_share", "cinema_spend_365d", "bank_spend_365d", "offer_redemption_rate"]
    for c in zero_long:
        out = out.withColumn(c, F.coalesce(F.col(c).cast("long"), F.lit(0).cast("long")))
    for c in zero_double:
        out = out.withColumn(c, F.coalesce(F.col(c).cast("double"), F.lit(0.0)))
    retail_partners = F.coalesce(F.col("banners_shopped_365d"), F.lit(0))
    last_any = F.greatest(F.col("last_purchase_date"), F.col("_last_partner_date"))
    out = (out.withColumn("banners_shopped_365d", retail_partners.cast("int"))
           .withColumn("partners_active_365d", (retail_partners + F.coalesce(F.col("_partners"), F.lit(0))).cast("int"))
           .withColumn("recency_days", F.datediff(_d(as_of), F.col("last_purchase_date")))
           .withColumn("avg_basket_365d", _share(F.col(f"spend_{p.year}d"), F.col(f"trips_{p.year}d").cast("double")))
           .withColumn("is_active_90d", F.coalesce(last_any >= _d(as_of - timedelta(days=90)), F.lit(False)))
           .withColumn("as_of", _d(as_of))
           .drop("_last_partner_date", "_partners"))
    return out


def column_order(p: FeatureParams) -> list[str]:
    """The documented column order of gold.member_features (docs/gold.md)."""
    cols = ["member_id", "as_of", "home_banner", "province", "age_band", "enrollment_date", "tenure_days",
            "last_purchase_date", "recency_days"]
    cols += [f"trips_{w}d" for w in p.windows] + [f"spend_{w}d" for w in p.windows]
    cols += ["avg_basket_365d", "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score", "rfm_score",
             "rfm_label"]
    cols += [f"spend_share_{b.lower()}" for b in p.banners] + ["banners_shopped_365d", "partners_active_365d"]
    cols += [f"dept_share_{s}" for s in [*p.departments.values(), "other"]] + ["private_label_share"]
    cols += ["cinema_visits_90d", "cinema_visits_365d", "cinema_spend_365d", "cinema_points_365d",
             "bank_txns_90d", "bank_txns_365d", "bank_spend_365d", "bank_points_365d",
             "points_earned_365d", "points_redeemed_365d", "points_balance", "days_since_last_redemption",
             "points_expiring_90d", "digital_sessions_90d", "email_opens_90d", "email_clicks_90d",
             "push_opens_90d", "push_clicks_90d", "preferred_dow", "preferred_hour",
             "offers_issued_365d", "offers_redeemed_365d", "offer_redemption_rate", "is_active_90d"]
    return cols
