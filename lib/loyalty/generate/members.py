"""Members: the planted persona and every member-level trait (home banner and store,
rhythm, channel, partner use, enrollment, churn), the CRM exports (a full export before
the window and a later delta with changed and new members), the partner links and the
truth table. One row per member, generated from ``spark.range(members)``."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.generate import ids
from loyalty.generate import personas as PS
from loyalty.generate import response as RS
from loyalty.generate.staples import category_names, staple_categories
from loyalty.offers.holdout import in_global_holdout
from loyalty.generate import pools as P
from loyalty.generate.context import BANNERS, Ctx
from loyalty.generate.pools import literal_array
from loyalty.generate.reference import Reference, local_pick, store_city, store_cols, theatre_id, timezone_of
from loyalty.generate.rand import at, choose, choose_cum, digits
from loyalty.generate.writer import Feed, single_name

NEW_MEMBER_SHARE = 0.06      # enrolled inside the window (first two thirds)
CHANGE_SHARE = 0.02          # members whose profile changes before the delta export
TENDERS = ("DEBIT", "CREDIT", "CASH", "MOBILE")
CRM_COLUMNS = ["member_id", "loyalty_card_no", "first_name", "last_name", "email", "phone", "street_address",
               "city", "province", "postal_code", "birth_date", "gender", "enrollment_date", "home_banner",
               "consent_email", "consent_sms", "consent_push", "consent_mail", "status", "updated_at"]
PERSONA_PARAMS = ["trips", "basket", "pl", "staples", "st_sh", "promo", "dow_f", "hour_f", "loyal", "cin_pm",
                  "bank_pw", "dig_pw", "redeem", "burn", "view", "dept_cum"]


def _yn(cond: Column) -> Column:
    return F.when(cond, "Y").otherwise("N")


def build(ctx: Ctx, ref: Reference) -> DataFrame:
    rng, win, pools = ctx.rng, ctx.window, ctx.pools
    days, n_st = win.days, ref.stores_per_banner
    mid = F.col("mid")
    par = lambda name: PS.param(name, F.col("p_idx"))   # noqa: E731
    df = (ctx.spark.range(ctx.params.members, numPartitions=ctx.partitions).withColumnRenamed("id", "mid")
          .withColumn("p_idx", choose(rng.u("persona", mid), [p.share for p in PS.PERSONAS])))
    df = df.withColumns({"persona": par("persona"), **{k: par(k) for k in (
        "home_fm", "age_lo", "age_hi", "churn", "cin_use", "bank_use", "dow_cum", "hour_cum", "hour_vals",
        "channel_cum", "eng_cum", "eng_vals")}})
    # home banner and store; the member lives in the store's province
    stores = [(BANNERS[s // n_st], prov, s) for s, prov in enumerate(ref.store_province[:2 * n_st])]
    theatres = [("", prov, t) for t, prov in enumerate(ref.theatre_province)]
    df = (df.withColumn("b_idx", F.when(rng.u("banner", mid) < F.col("home_fm"), 0).otherwise(1))
          .withColumn("home_banner", at(list(BANNERS), F.col("b_idx")))
          .withColumn("home_store", (F.col("b_idx") * n_st + rng.below(n_st, "home_store", mid)).cast("int")))
    df = (df.withColumn("province", F.element_at(literal_array(ref.store_province), F.col("home_store") + 1))
          .withColumn("timezone", timezone_of(F.col("province")))
          .withColumn("store_city", store_city(ctx, F.col("province"), F.col("home_store")))
          .withColumn("alt_store", local_pick(ctx, stores, at(list(BANNERS), 1 - F.col("b_idx")), F.col("province"),
                                              "alt_store", mid, (1 - F.col("b_idx")) * n_st + rng.below(n_st, "alt_any", mid)))
          .withColumn("home_theatre", local_pick(ctx, theatres, F.lit(""), F.col("province"), "theatre", mid,
                                                 rng.below(len(theatres), "theatre_any", mid))))
    # identity
    gender = F.when(rng.u("gender", mid) < 0.49, "F").when(rng.u("gender", mid) < 0.98, "M").otherwise("X")
    n_first = min(pools.size("first_F"), pools.size("first_M"))
    g = F.when(F.col("gender") == "X", F.when(rng.u("gx", mid) < 0.5, "F").otherwise("M")).otherwise(F.col("gender"))
    first = rng.below(n_first, "first", mid)
    df = (df.withColumn("gender", gender)
          .withColumn("first_name", F.when(g == "F", pools.col("first_F", first)).otherwise(pools.col("first_M", first)))
          .withColumn("last_name", pools.col("last", rng.below(pools.size("last"), "last", mid))))
    df = _address(ctx, df, "")
    df = _address(ctx, df, "new_")
    domain = lambda salt: pools.col("domain", rng.below(pools.size("domain"), salt, mid))   # noqa: E731
    local = F.concat(F.regexp_replace(F.lower("first_name"), "[^a-z]", ""),
                     at([".", "_", "", "."], rng.below(4, "email_sep", mid)),
                     F.regexp_replace(F.lower("last_name"), "[^a-z]", ""))
    num = F.when(rng.u("email_num", mid) < 0.6, rng.between(1, 9999, "email_n", mid).cast("string")).otherwise(F.lit(""))
    num2 = rng.between(10, 99, "email_n2", mid).cast("string")
    df = (df.withColumn("email", F.concat(local, num, F.lit("@"), domain("domain")))
          .withColumn("new_email", F.concat(local, num2, F.lit("@"), domain("domain2")))
          .withColumn("phone", F.concat_ws("-", pools.in_province("area", F.col("province"), rng.below(P.PER_PROVINCE, "area", mid)),
                                           rng.between(200, 989, "ph1", mid).cast("string"),
                                           digits(rng.below(10000, "ph2", mid), 4))))
    # dates: age, enrollment, activity window, churn
    age = rng.between(0, 10_000, "age", mid) / 10_000.0 * (F.col("age_hi") - F.col("age_lo")) + F.col("age_lo")
    birth_day = (F.lit(days - 1) - F.floor(age * 365.25)).cast("int")
    first_ok = F.greatest(F.lit(win.day_of(dt.date(2012, 1, 1))), birth_day + 18 * 366)
    old = F.least(F.lit(-1), first_ok + F.floor(rng.u("enroll", mid) * (F.lit(-1) - first_ok))).cast("int")
    new = F.floor(rng.u("enroll_new", mid) * (days * 2 // 3)).cast("int")
    df = (df.withColumn("birth_day", birth_day)
          .withColumn("enroll_day", F.when(rng.u("is_new", mid) < NEW_MEMBER_SHARE, new).otherwise(old))
          .withColumn("a_start", F.greatest(F.lit(0), F.col("enroll_day")).cast("int")))
    room = F.lit(days - 14) - (F.col("a_start") + 14)
    churned = (rng.u("churn", mid) < F.col("churn")) & (room > 0)
    df = (df.withColumn("churned", churned)
          .withColumn("churn_day", F.when(churned, F.col("a_start") + 14 + rng.below(F.greatest(room, F.lit(1)), "churn_day", mid)).cast("int"))
          .withColumn("a_end", F.coalesce(F.col("churn_day") - 1, F.lit(days - 1)).cast("int")))
    # rhythm, channels, consents, partners
    channel = at(list(PS.CHANNELS), choose_cum(rng.u("channel", mid), F.col("channel_cum")))
    df = (df.withColumn("pref_dow", choose_cum(rng.u("dow", mid), F.col("dow_cum")) + 1)
          .withColumn("pref_hour", F.element_at("hour_vals", choose_cum(rng.u("hour", mid), F.col("hour_cum")) + 1))
          .withColumn("pref_channel", channel)
          .withColumn("engagement_hour", F.element_at("eng_vals", choose_cum(rng.u("eng", mid), F.col("eng_cum")) + 1))
          .withColumn("consent_email", _yn((F.col("pref_channel") == "EMAIL") | (rng.u("c_email", mid) < 0.55)))
          .withColumn("consent_sms", _yn((F.col("pref_channel") == "SMS") | (rng.u("c_sms", mid) < 0.20)))
          .withColumn("consent_push", _yn((F.col("pref_channel") == "PUSH") | (rng.u("c_push", mid) < 0.40)))
          .withColumn("consent_mail", _yn(rng.u("c_mail", mid) < 0.30))
          .withColumn("device", F.when(rng.u("device", mid) < 0.55, "iOS").otherwise("Android"))
          .withColumn("uses_cinema", rng.u("cinema", mid) < F.col("cin_use"))
          .withColumn("uses_bank", rng.u("bank", mid) < F.col("bank_use"))
          .withColumn("tender", F.when(F.col("uses_bank") & (rng.u("tender_b", mid) < 0.8), "CREDIT")
                      .otherwise(at(list(TENDERS), choose(rng.u("tender", mid), [45, 25, 15, 15]))))
          .withColumn("trip_mult", F.lit(0.6) + rng.u("trip_mult", mid) * 0.8))
    linked = F.when(F.col("enroll_day") < 0, F.col("enroll_day") + F.floor(rng.u("linked", mid) * -F.col("enroll_day")))\
        .otherwise(F.col("enroll_day")).cast("int")
    change = F.when((F.col("enroll_day") < 0) & (rng.u("change", mid) < CHANGE_SHARE),
                    at(["ADDRESS", "EMAIL", "CONSENT"], rng.below(3, "change_kind", mid)))
    df = (df.withColumn("member_id", ids.member_id(mid))
          .withColumn("card_no", ids.card_no(mid))
          .withColumn("cinema_account", F.when(F.col("uses_cinema"), ids.cinema_account(mid)))
          .withColumn("bank_ref", F.when(F.col("uses_bank"), ids.bank_customer(mid)))
          .withColumn("linked_day", linked)
          .withColumn("change_kind", change)
          .withColumn("change_day", (F.lit(days // 2) + rng.below(days - days // 2, "change_day", mid)).cast("int")))
    df = with_offer_traits(ctx, df)
    keep = ["mid", "member_id", "card_no", "p_idx", "persona", "gender", "first_name", "last_name", "email", "new_email",
            "phone", "street_address", "city", "postal_code", "new_street_address", "new_city", "new_postal_code",
            "province", "timezone", "birth_day", "enroll_day", "a_start", "a_end", "churned", "churn_day", "home_banner",
            "b_idx", "home_store", "alt_store", "home_theatre", "consent_email", "consent_sms", "consent_push",
            "consent_mail", "pref_dow", "pref_hour", "pref_channel", "engagement_hour", "device", "uses_cinema",
            "uses_bank", "cinema_account", "bank_ref", "linked_day", "tender", "trip_mult", "change_kind", "change_day",
            *OFFER_TRAITS]
    return ctx.stage(df.select(*keep), "members")


OFFER_TRAITS = ["regular_categories", "offer_base_effect", "offer_responsiveness", "sleeping_dog", "global_holdout"]


def with_offer_traits(ctx: Ctx, df: DataFrame) -> DataFrame:
    """What the planted offer response needs of a member (response.py): the categories it
    already buys (its staples'), two lognormal factors with mean 1 (base rate, responsiveness),
    the sleeping-dog flag; and its place in the persistent global holdout (never issued an offer)."""
    rng, mid, p = ctx.rng, F.col("mid"), RS.default_params()
    lognormal = lambda salt, sigma: F.exp(F.lit(sigma) * rng.normal(salt, mid) - F.lit(sigma * sigma / 2))   # noqa: E731
    staples = PS.param("staples", F.col("p_idx"))
    share = F.create_map(*[x for k, v in p.sleeping_dog_share.items() for x in (F.lit(k), F.lit(float(v)))])
    return df.withColumns({
        "regular_categories": category_names(staple_categories(rng, mid, F.col("p_idx"), staples)),
        "offer_base_effect": lognormal("offer_base", p.base_sigma),
        "offer_responsiveness": lognormal("offer_resp", p.responsiveness_sigma),
        "sleeping_dog": rng.u("sleeping_dog", mid) < share[F.col("persona")],
        "global_holdout": in_global_holdout(F.col("member_id"), ctx.params.holdout_salt, ctx.params.holdout_share),
    })


def _address(ctx: Ctx, df: DataFrame, prefix: str) -> DataFrame:
    rng, pools, mid, prov = ctx.rng, ctx.pools, F.col("mid"), F.col("province")
    salt = prefix or "addr"
    street = pools.col("street", rng.below(pools.size("street"), f"{salt}street", mid))
    unit = F.when(rng.u(f"{salt}unit", mid) < 0.2, F.concat(F.lit(" Apt "), rng.between(1, 2400, f"{salt}apt", mid).cast("string")))
    city = pools.in_province("city", prov, rng.below(P.PER_PROVINCE, f"{salt}city", mid))
    return df.withColumns({
        f"{prefix}street_address": F.concat(rng.between(1, 9999, f"{salt}no", mid).cast("string"), F.lit(" "), street,
                                            F.coalesce(unit, F.lit(""))),
        f"{prefix}city": F.when(rng.u(f"{salt}same_city", mid) < 0.7, F.col("store_city")).otherwise(city),
        f"{prefix}postal_code": pools.in_province("postal", prov, rng.below(P.PER_PROVINCE, f"{salt}postal", mid)),
    })


def with_persona(members: DataFrame, names=PERSONA_PARAMS) -> DataFrame:
    """Members plus the persona parameters the activity generators need."""
    return members.withColumns({k: PS.param(k, F.col("p_idx")) for k in names})


def _ts(ctx: Ctx, day: Column, second: Column) -> Column:
    return F.date_format(F.timestamp_seconds(ctx.window.wall_seconds(day, second)), "yyyy-MM-dd HH:mm:ss")


def crm_feed(ctx: Ctx, members: DataFrame) -> Feed:
    rng, win = ctx.rng, ctx.window
    mid = F.col("mid")
    full_tag = "full_" + win.date_of(-1).isoformat()
    delta_tag = "delta_" + win.end.isoformat()
    date = lambda c: F.date_format(win.date_col(c), "yyyy-MM-dd")   # noqa: E731
    base = {c: F.col(c) for c in CRM_COLUMNS}
    base.update({"loyalty_card_no": F.col("card_no"), "birth_date": date(F.col("birth_day")),
                 "enrollment_date": date(F.col("enroll_day")), "status": F.lit("ACTIVE")})
    full_upd = F.col("enroll_day") + F.floor(rng.u("crm_upd", mid) * (F.lit(-1) - F.col("enroll_day")))
    full = (members.filter("enroll_day < 0")
            .select("*", F.lit(full_tag).alias("_tag"),
                    _ts(ctx, full_upd, rng.below(86400, "crm_upd_s", mid)).alias("updated_at")))
    kind = F.col("change_kind")
    delta = (members.filter("enroll_day >= 0 OR change_kind IS NOT NULL")
             .withColumn("street_address", F.when(kind == "ADDRESS", F.col("new_street_address")).otherwise(F.col("street_address")))
             .withColumn("city", F.when(kind == "ADDRESS", F.col("new_city")).otherwise(F.col("city")))
             .withColumn("postal_code", F.when(kind == "ADDRESS", F.col("new_postal_code")).otherwise(F.col("postal_code")))
             .withColumn("email", F.when(kind == "EMAIL", F.col("new_email")).otherwise(F.col("email")))
             # consent changes opt in to SMS, or else flip postal mail: channels in use stay consented
             .withColumn("consent_mail", F.when((kind == "CONSENT") & (F.col("consent_sms") == "Y"),
                                                F.when(F.col("consent_mail") == "Y", "N").otherwise("Y"))
                         .otherwise(F.col("consent_mail")))
             .withColumn("consent_sms", F.when(kind == "CONSENT", F.lit("Y")).otherwise(F.col("consent_sms")))
             .select("*", F.lit(delta_tag).alias("_tag"),
                     _ts(ctx, F.when(kind.isNotNull(), F.col("change_day")).otherwise(F.col("enroll_day")),
                         rng.below(86400, "crm_delta_s", mid)).alias("updated_at")))
    line = F.to_csv(F.struct(*[base[c].cast("string").alias(c) for c in CRM_COLUMNS]), {"sep": ","})
    rows = full.unionByName(delta).select("_tag", "mid", mid.alias("_key"), F.lit(None).cast("string").alias("_kind"),
                                          line.alias("_line"))
    return Feed("crm_members", rows, single_name("crm_members", "csv"), ["mid"], header=lambda t: ",".join(CRM_COLUMNS))


def links_feed(ctx: Ctx, members: DataFrame) -> Feed:
    cols = ["member_id", "partner", "partner_account_id", "linked_at"]
    when_linked = F.date_format(ctx.window.date_col(F.col("linked_day")), "yyyy-MM-dd")
    cinema = members.filter("uses_cinema").select("mid", "member_id", F.lit("CINEMA").alias("partner"),
                                                  F.col("cinema_account").alias("partner_account_id"), when_linked.alias("linked_at"))
    bank = members.filter("uses_bank").select("mid", "member_id", F.lit("BANK").alias("partner"),
                                              F.col("bank_ref").alias("partner_account_id"), when_linked.alias("linked_at"))
    rows = cinema.unionByName(bank).select(
        F.lit(ctx.window.end.isoformat()).alias("_tag"), "mid", F.when(F.col("partner") == "BANK", 1).otherwise(0).alias("_p"),
        F.col("mid").alias("_key"),
        F.lit(None).cast("string").alias("_kind"), F.to_csv(F.struct(*cols), {"sep": ","}).alias("_line"))
    return Feed("partner_links", rows, single_name("partner_links", "csv"), ["mid", "_p"],
                header=lambda t: ",".join(cols))


def truth(ctx: Ctx, members: DataFrame, ref: Reference) -> DataFrame:
    win = ctx.window
    traits = members.select("mid", "persona", "home_banner", *OFFER_TRAITS)
    offers = ref.offers.where(~F.col("future")).select(*[c for c in RS.OFFER_COLUMNS if c != "offer_id"])
    # member averages over the offers of the window, each as if it were issued to the member
    averages = (RS.with_response(traits.crossJoin(F.broadcast(offers)), RS.default_params())
                .groupBy("mid").agg(F.avg("true_p_control").alias("offer_baseline"),
                                    F.avg("true_uplift").alias("offer_uplift")))
    return (members.join(averages, "mid", "left")
            .withColumns({"home_store_id": store_cols(ref.store_province, ref.stores_per_banner,
                                                      F.col("home_store"))["store_id"],
                          "home_theatre_id": theatre_id(F.col("home_theatre"))})
            .select("member_id", F.col("card_no").alias("loyalty_card_no"), "persona", F.col("pref_dow").alias("preferred_dow"),
                    at(list(PS.DAYS), F.col("pref_dow") - 1).alias("preferred_dow_name"),
                    F.col("pref_hour").alias("preferred_hour"), F.col("pref_channel").alias("preferred_channel"),
                    "engagement_hour", "churned", win.date_col(F.col("churn_day")).alias("churn_date"),
                    "offer_baseline", "offer_uplift", F.col("cinema_account").alias("cinema_account_id"),
                    F.col("bank_ref").alias("bank_customer_ref"), "home_banner", "home_store_id",
                    F.when(F.col("uses_cinema"), F.col("home_theatre_id")).alias("home_theatre_id"),
                    "province", "timezone", win.date_col(F.col("enroll_day")).alias("enrollment_date"),
                    F.col("change_kind").alias("crm_change"), *OFFER_TRAITS))
