"""Identifier formats of the program and its partners. Real ids are bijections of a
sequential key (unique by construction); the "unknown" ids planted as defects come from a
disjoint range of the same format (real card numbers continue 0-4 after the 6012 prefix,
unknown ones 5-9), so they never hit a real member."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from loyalty.generate.rand import Rng, digits, perm, perm_wide, scrambled

CARD_SPACE = 500_000_000_000        # real cards use [0, 5e11); unknown cards [5e11, 1e12)
CINEMA_SPACE = 500_000_000
BANK_SPACE = 5_000_000_000
UNKNOWN_MEMBER_BASE = 90_000_000     # member numbers above every real one


def member_id(mid: Column) -> Column:
    return F.concat(F.lit("M"), digits(mid + 1, 8))


def card_no(mid: Column) -> Column:
    """16-digit loyalty card number."""
    return F.concat(F.lit("6012"), digits(perm_wide(mid, CARD_SPACE), 12))


def cinema_account(mid: Column) -> Column:
    return F.concat(F.lit("MQ"), digits(perm_wide(mid, CINEMA_SPACE), 9))


def bank_customer(mid: Column) -> Column:
    return F.concat(F.lit("CB-"), digits(perm_wide(mid, BANK_SPACE), 10))


def unknown_member_id(rng: Rng, salt: str, *keys) -> Column:
    return F.concat(F.lit("M"), digits(F.lit(UNKNOWN_MEMBER_BASE) + rng.below(9_999_999, salt, *keys), 8))


def unknown_card(rng: Rng, salt: str, *keys) -> Column:
    return F.concat(F.lit("6012"), digits(F.lit(CARD_SPACE) + F.pmod(rng.hash(salt, *keys), F.lit(CARD_SPACE)), 12))


def unknown_cinema(rng: Rng, salt: str, *keys) -> Column:
    return F.concat(F.lit("MQ"), digits(F.lit(CINEMA_SPACE) + F.pmod(rng.hash(salt, *keys), F.lit(CINEMA_SPACE)), 9))


def unknown_bank(rng: Rng, salt: str, *keys) -> Column:
    return F.concat(F.lit("CB-"), digits(F.lit(BANK_SPACE) + F.pmod(rng.hash(salt, *keys), F.lit(BANK_SPACE)), 10))


# Keys: receipts are member * 2^20 + slot (slots >= 2^19 are offer conversions); test-store
# receipts start at 2^45. Other transaction keys are member * 2^16 + n.
CONVERSION_SLOT = 1 << 19
TEST_RECEIPT_BASE = 1 << 45


def freshmart_receipt(key: Column) -> Column:
    return scrambled(digits(perm(key, 10 ** 14), 14))


def valumart_receipt(key: Column) -> Column:
    return F.concat(F.lit("vm-"), scrambled(F.lpad(F.lower(F.hex(perm(key, 10 ** 14))), 12, "0")))


def receipt_id(banner: Column, key: Column) -> Column:
    return F.when(banner == "FRESHMART", freshmart_receipt(key)).otherwise(valumart_receipt(key))


def cinema_trans(key: Column) -> Column:
    return F.concat(F.lit("T"), scrambled(digits(perm(key, 10 ** 13), 13)))


def bank_txn(key: Column) -> Column:
    return F.concat(F.lit("BX"), scrambled(F.lpad(F.upper(F.hex(perm(key, 10 ** 15))), 13, "0")))


def ledger_entry(kind: int, key: Column) -> Column:
    return F.concat(F.lit(f"L{kind}"), scrambled(digits(perm(key, 10 ** 15), 15)))


def offer_event(key: Column) -> Column:
    return F.concat(F.lit("OE"), scrambled(digits(perm(key, 10 ** 13), 13)))


def digital_event(key: Column) -> Column:
    return F.concat(F.lit("evt_"), scrambled(F.lpad(F.lower(F.hex(perm(key, 10 ** 15))), 13, "0")))


def redemption_ref(key: Column) -> Column:
    return F.concat(F.lit("RDM"), scrambled(digits(perm(key, 10 ** 12), 12)))
