"""The silver entities, in build order: dimensions first (facts resolve members and stores
against them), then facts. Each names its bronze source, its silver table and business key,
and the conform transform that types it."""

from __future__ import annotations

from loyalty.silver.spec import Ctx, Entity, Output
from loyalty.transforms.silver import engagement as E
from loyalty.transforms.silver import members as M
from loyalty.transforms.silver import partners as PT
from loyalty.transforms.silver import promotions as PR
from loyalty.transforms.silver import reference as R
from loyalty.transforms.silver import retail as RT

STORES, PRODUCTS, MEMBERS, LINKS = "silver.stores", "silver.products", "silver.members", "silver.member_links"
TXNS, LINES = "silver.transactions", "silver.transaction_lines"


def _tz(ctx: Ctx) -> dict:
    return ctx.cfg.section("reference.province_timezones")


def entities() -> list[Entity]:
    links_out = Output(LINKS, ("partner", "account_token"))
    return [
        Entity("stores", Output(STORES, ("store_id",)), lambda ctx, b: R.conform_stores(b)),
        Entity("products", Output(PRODUCTS, ("product_id",), mode="scd2", tracked=R.PRODUCT_TRACKED,
                                  effective="updated_at"),
               lambda ctx, b: R.conform_products(b)),
        Entity("crm_members", Output(MEMBERS, ("member_id",), mode="scd2", tracked=M.MEMBER_TRACKED,
                                     effective="updated_at"),
               lambda ctx, b: M.with_age_band(M.conform_members(b, ctx.pii_key), ctx.run_date),
               derived=((links_out, lambda ctx, kept: M.card_links(kept)),)),
        Entity("partner_links", links_out, lambda ctx, b: M.conform_partner_links(b, ctx.pii_key), refs=(MEMBERS,)),
        Entity("retail_freshmart", Output(LINES, ("receipt_id", "line_no"), columns=tuple(RT.LINE_COLUMNS)),
               lambda ctx, b: RT.conform_freshmart_lines(b, ctx.ref(STORES), ctx.ref(LINKS), ctx.pii_key),
               # a correction may re-send some lines only: receipts sum all their current lines
               derived=((Output(TXNS, ("receipt_id",)),
                         lambda ctx, kept: RT.receipts_from_lines(kept, ctx.ref(LINES))),),
               refs=(STORES, PRODUCTS)),
        Entity("retail_valumart", Output(TXNS, ("receipt_id",), columns=tuple(RT.RECEIPT_COLUMNS)),
               lambda ctx, b: RT.conform_valumart_receipts(b, ctx.ref(STORES), ctx.ref(LINKS), ctx.pii_key),
               derived=((Output(LINES, ("receipt_id", "line_no")), lambda ctx, kept: RT.lines_from_receipts(kept)),),
               refs=(STORES,)),
        Entity("cinema_transactions", Output("silver.partner_transactions", ("partner_txn_id",),
                                             columns=tuple(PT.COLUMNS)),
               lambda ctx, b: PT.conform_cinema(b, ctx.ref(LINKS), ctx.pii_key, _tz(ctx))),
        Entity("bank_card_spend", Output("silver.partner_transactions", ("partner_txn_id",), columns=tuple(PT.COLUMNS)),
               lambda ctx, b: PT.conform_bank(b, ctx.ref(LINKS), ctx.pii_key, ctx.cfg.get("reference.bank_timezone"),
                                              ctx.cfg.section("reference.mcc_groups"))),
        Entity("points_ledger", Output("silver.points_ledger", ("entry_id",)),
               lambda ctx, b: E.conform_points_ledger(b), refs=(MEMBERS,)),
        Entity("offers", Output("silver.offers", ("offer_id",)), lambda ctx, b: E.conform_offers(b)),
        Entity("offer_events", Output("silver.offer_events", ("event_id",)),
               lambda ctx, b: E.conform_offer_events(b), refs=(MEMBERS, "silver.offers")),
        Entity("digital_events", Output("silver.digital_events", ("event_id",)),
               lambda ctx, b: E.conform_digital_events(b, ctx.ref(MEMBERS), _tz(ctx)), refs=(MEMBERS,)),
        # retail planning: promotions, competitor prices, inventory (products by UPC), rewards
        Entity("promo_calendar", Output("silver.promotions", ("banner", "week_start", "product_id")),
               lambda ctx, b: PR.conform_promotions(b, ctx.ref(PRODUCTS)), refs=(PRODUCTS,)),
        Entity("competitor_prices", Output("silver.competitor_prices", ("competitor", "week_start", "product_id")),
               lambda ctx, b: PR.conform_competitor_prices(b, ctx.ref(PRODUCTS)), refs=(PRODUCTS,)),
        Entity("store_inventory", Output("silver.store_inventory", ("store_id", "week_start", "product_id")),
               lambda ctx, b: PR.conform_store_inventory(b, ctx.ref(PRODUCTS)), refs=(STORES, PRODUCTS)),
        Entity("rewards_catalog", Output("silver.rewards_catalog", ("reward_id",)), lambda ctx, b: PR.conform_rewards(b)),
    ]
