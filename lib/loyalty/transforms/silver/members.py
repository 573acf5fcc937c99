"""Members (PII tokenized, coarse attributes kept) and the partner-account links that resolve
every partner id to one member_id."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.privacy import tokenize
from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import card_token, lineage, malformed_flag, postal_prefix
from loyalty.transforms.silver.history import DUP_RANK, with_duplicate_rank

MEMBER_TRACKED = ("card_token", "first_name_token", "last_name_token", "email_token", "phone_token",
                  "address_token", "city", "province", "postal_prefix", "birth_year", "gender", "enrollment_date",
                  "home_banner", "consent_email", "consent_sms", "consent_push", "consent_mail", "status")
RETAIL_CARD = "RETAIL_CARD"


def age_band(birth_year, on: date):
    age = F.lit(on.year) - birth_year
    return (F.when(age < 25, "18-24").when(age < 35, "25-34").when(age < 45, "35-44").when(age < 55, "45-54")
            .when(age < 65, "55-64").when(age.isNotNull(), "65+"))


def conform_members(bronze: DataFrame, key: bytes) -> DataFrame:
    """Direct identifiers become keyed tokens; the raw values never leave this select."""
    birth = P.to_date("birth_date")
    return bronze.select(
        F.upper(F.trim("member_id")).alias("member_id"),
        card_token(F.col("loyalty_card_no"), key).alias("card_token"),
        tokenize(F.col("first_name"), key, domain="first_name").alias("first_name_token"),
        tokenize(F.col("last_name"), key, domain="last_name").alias("last_name_token"),
        tokenize(F.col("email"), key, domain="email").alias("email_token"),
        tokenize(F.col("phone"), key, "digits", "phone").alias("phone_token"),
        tokenize(F.concat_ws("|", "street_address", "postal_code"), key, domain="address").alias("address_token"),
        F.initcap(F.trim("city")).alias("city"),
        P.code("province").alias("province"),
        postal_prefix(F.col("postal_code")).alias("postal_prefix"),
        F.year(birth).alias("birth_year"),
        P.code("gender").alias("gender"),
        P.to_date("enrollment_date").alias("enrollment_date"),
        P.code("home_banner").alias("home_banner"),
        P.yes_no("consent_email").alias("consent_email"),
        P.yes_no("consent_sms").alias("consent_sms"),
        P.yes_no("consent_push").alias("consent_push"),
        P.yes_no("consent_mail").alias("consent_mail"),
        P.code("status").alias("status"),
        P.utc_from_iso("updated_at").alias("updated_at"),
        *lineage(), malformed_flag())


def with_age_band(members: DataFrame, on: date) -> DataFrame:
    return members.withColumn("age_band", age_band(F.col("birth_year"), on))


def card_links(members: DataFrame) -> DataFrame:
    """The retail loyalty card of each member as a link: one row per card, from the member's
    latest version in the batch (a card moved to another member follows the latest record)."""
    links = (members.where(F.col("card_token").isNotNull())
             .select(F.lit(RETAIL_CARD).alias("partner"), F.col("card_token").alias("account_token"), "member_id",
                     F.to_date("updated_at").alias("linked_at"), "updated_at", *lineage()))
    latest = with_duplicate_rank(links, ["partner", "account_token"], [F.col("updated_at").desc(), F.col("_batch_id").desc()])
    return latest.where(F.col(DUP_RANK) == 1).drop(DUP_RANK, "updated_at")


def conform_partner_links(bronze: DataFrame, key: bytes) -> DataFrame:
    partner = P.code("partner")
    return bronze.select(
        partner.alias("partner"),
        tokenize(F.col("partner_account_id"), key, "text", "account").alias("account_token"),
        F.upper(F.trim("member_id")).alias("member_id"),
        P.to_date("linked_at").alias("linked_at"),
        *lineage(), malformed_flag())


def account_token(col, key: bytes):
    """Token of a partner account id, equal to conform_partner_links' account_token."""
    return tokenize(col, key, "text", "account")
