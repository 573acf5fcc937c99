"""The two POS feeds, from the staged receipt lines.

FreshMart: CSV, one line per receipt line, integer cents, store-local wall clock; from the
middle month on its files carry an extra last column, fulfillment_type. ValuMart: JSON
lines, one receipt per line with nested items, dollars, ISO-8601 with the store's UTC
offset; the last days of one earlier month arrive in a separate late file."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.generate import defects as D
from loyalty.generate import ids
from loyalty.generate.context import ISO_LOCAL_FORMAT, LOCAL_FORMAT, Ctx, Window, fmt_seconds
from loyalty.generate.pools import literal_array
from loyalty.generate.rand import at, choose
from loyalty.generate.reference import Reference
from loyalty.generate.retail import receipt_cols
from loyalty.generate.writer import Feed, cents_text, csv_line, monthly_name

FRESHMART_COLUMNS = ["receipt_no", "store_no", "card_no", "txn_local_ts", "line_no", "upc", "qty",
                     "unit_price_cents", "line_amount_cents", "discount_cents", "tender_type"]
NEW_COLUMN = "fulfillment_type"
VALUMART_COLUMNS = ["receiptId", "storeCode", "loyaltyId", "timestamp", "currency", "total", "items", "payment"]
LATE_FROM_DAY = 28           # receipts from this day of the late month on arrive in the late file


def new_column_from(win: Window) -> str:
    """First month whose FreshMart files carry the new column (the middle month)."""
    tags = win.month_tags
    return tags[len(tags) // 2]


def late_month(win: Window) -> str:
    tags = win.month_tags
    return tags[max(0, len(tags) // 2 - 1)]


def _receipt_kinds(ctx: Ctx, salt: str, kinds) -> Column:
    return F.when(F.col("is_test"), F.lit(D.TEST_STORE)).otherwise(
        D.pick_kind(ctx.rng, salt, ctx.params.defect_rate, kinds, F.col("trip_key")))


def freshmart_feed(ctx: Ctx, lines: DataFrame, ref: Reference) -> Feed:
    rng, win = ctx.rng, ctx.window
    key, ln = F.col("trip_key"), F.col("line_no")
    first_new = new_column_from(win)
    upc = F.element_at(literal_array(ref.product_table["upc"]), F.col("pid").cast("int") + 1)
    df = (lines.filter("b = 0").withColumns(receipt_cols(ctx, ref)).withColumn("upc", upc)
          .withColumn("_kind", _receipt_kinds(ctx, "freshmart", [D.DUPLICATE, D.UNKNOWN, D.FUTURE])))
    df = df.withColumn("_kind", F.coalesce(F.col("_kind"), D.pick_kind(rng, "freshmart_line", ctx.params.defect_rate,
                                                                         [D.MALFORMED, D.BAD_AMOUNT], key, ln)))
    df = df.withColumn("_tag", win.month_col(F.col("day"))).withColumn("_key", key)
    df = D.move_copies(D.with_duplicates(df), rng, "freshmart", win.month_tags)
    kind = F.col("_kind")
    day = F.when(kind == D.FUTURE, D.future_day(rng, win.days, "freshmart", key)).otherwise(F.col("day"))
    amount = F.col("line_cents").cast("string")
    fulfil = at(["IN_STORE", "PICKUP", "DELIVERY"], choose(rng.u("fulfilment", key), [90, 7, 3]))
    df = (df.withColumn("receipt_no", F.col("receipt_id"))
          .withColumn("store_no", F.col("store_id"))
          .withColumn("card_no", F.when(kind == D.UNKNOWN, ids.unknown_card(rng, "fm_unknown", key)).otherwise(F.col("card_no")))
          .withColumn("txn_local_ts", fmt_seconds(win.wall_seconds(day, F.col("sec")), LOCAL_FORMAT, win))
          .withColumn("unit_price_cents", F.col("unit_cents"))
          .withColumn("line_amount_cents", F.when(kind == D.BAD_AMOUNT, D.bad_number(amount, rng.u("fm_bad", key, ln)))
                      .otherwise(amount))
          .withColumn("tender_type", F.col("tender"))
          .withColumn(NEW_COLUMN, fulfil))
    base = [F.col(c) for c in FRESHMART_COLUMNS]
    line = F.when(F.col("_tag") >= first_new, csv_line(base + [F.col(NEW_COLUMN)], ",")).otherwise(csv_line(base, ","))
    line = F.when(kind == D.MALFORMED, D.malform_csv(line, ",", rng.u("fm_malformed", key, ln))).otherwise(line)
    out = df.select("_tag", "_key", "_kind", "_copy", F.col("local_sec").alias("_s1"), F.col("trip_key").alias("_s2"),
                    F.col("line_no").alias("_s3"), line.alias("_line"))

    def header(tag: str) -> str:
        return ",".join(FRESHMART_COLUMNS + ([NEW_COLUMN] if tag >= first_new else []))

    return Feed("retail_freshmart", out, monthly_name("freshmart_pos", "csv"), ["_copy", "_s1", "_s2", "_s3"],
                header=header, file_kinds={D.NEW_COLUMN: lambda tag: tag >= first_new})


def valumart_feed(ctx: Ctx, receipts: DataFrame, items: DataFrame) -> Feed:
    """``receipts``: the staged receipts; ``items``: the staged valumart_items."""
    rng, win = ctx.rng, ctx.window
    key = F.col("trip_key")
    df = receipts.filter("banner = 'VALUMART'").join(items, "trip_key")
    late = late_month(win)
    tag = win.month_col(F.col("day"))
    is_late = (tag == late) & (F.dayofmonth(win.date_col(F.col("day"))) >= LATE_FROM_DAY)
    df = (df.withColumn("_kind", _receipt_kinds(ctx, "valumart", [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.BAD_AMOUNT,
                                                                   D.MALFORMED]))
          .withColumn("_tag", F.when(is_late, F.lit(f"{late}_late")).otherwise(tag)).withColumn("_key", key))
    df = D.move_copies(D.with_duplicates(df), rng, "valumart", win.month_tags)
    kind = F.col("_kind")
    day = F.when(kind == D.FUTURE, D.future_day(rng, win.days, "valumart", key)).otherwise(F.col("day"))
    wall = win.wall_seconds(day, F.col("sec"))
    offset = (wall - win.utc_seconds(day, F.col("sec"), F.col("timezone"))).cast("int")
    off_txt = F.concat(F.when(offset < 0, "-").otherwise("+"), F.lpad((F.abs(offset) / 3600).cast("int").cast("string"), 2, "0"),
                       F.lit(":"), F.lpad(F.pmod(F.abs(offset) / 60, F.lit(60)).cast("int").cast("string"), 2, "0"))
    method = F.when(F.col("tender") == "CREDIT", at(["VISA", "MASTERCARD"], rng.below(2, "vm_card", key)))\
        .when(F.col("tender") == "MOBILE", "APPLE_PAY").otherwise(F.col("tender"))
    total = cents_text(F.col("total_cents"))
    card = F.when(kind == D.UNKNOWN, ids.unknown_card(rng, "vm_unknown", key)).otherwise(F.col("card_no"))
    stamp = F.concat(fmt_seconds(wall, ISO_LOCAL_FORMAT, win), off_txt)
    # hand-built JSON in the order of conf/sources.yaml: every value is an id, code, time or number
    line = F.concat(F.lit('{"receiptId":"'), F.col("receipt_id"), F.lit('","storeCode":"'), F.col("store_id"),
                    F.lit('","loyaltyId":"'), card, F.lit('","timestamp":"'), stamp,
                    F.lit('","currency":"CAD","total":'), total, F.lit(',"items":['), F.col("items_json"),
                    F.lit('],"payment":{"method":"'), method, F.lit('","amount":'), total, F.lit("}}"))
    line = (F.when(kind == D.BAD_AMOUNT, D.bad_json_number(line, "total", rng.u("vm_bad", key)))
            .when(kind == D.MALFORMED, D.malform_json(line, rng.u("vm_malformed", key))).otherwise(line))
    out = df.select("_tag", "_key", "_kind", "_copy", F.col("local_sec").alias("_s1"),
                    F.col("trip_key").alias("_s2"), line.alias("_line"))
    return Feed("retail_valumart", out, monthly_name("valumart_receipts", "jsonl"), ["_copy", "_s1", "_s2"],
                file_kinds={D.LATE_FILE: lambda t: t.endswith("_late")})
