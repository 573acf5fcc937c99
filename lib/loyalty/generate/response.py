"""The planted offer response: for a member and an offer, P(conversion) without the offer
(control), with it (treated) and their difference, the true incremental conversion.

One function, ``response_cols``, computes them from columns only; the generator plants the
offer history with it and ``true_response`` recomputes it for any (member_id, offer_id) pairs
from the truth files alone (members.parquet, offers.parquet, offer_response.json), so the
planted history and the truth a benchmark reads cannot drift apart.

The function (parameters in ``ResponseParams``, written to truth/offer_response.json):

    regular     the offer's target category is one of the member's staple categories
                (truth column regular_categories): the member already buys it
    p_control = min(p_max, base[persona] x base_effect x (regular_base_mult if regular)
                           x (other_banner_mult if the offer's banner is not the home banner))
    lift      = uplift[persona][offer_type] x responsiveness x (regular_uplift_mult[type] if regular)
                x (other_banner_mult if not home banner) x (strength / strength_ref) ^ elasticity
                where strength = reward_cost / min_spend (the reward's value per dollar required)
    lift      = -sleeping_dog_factor x p_control for a sleeping dog (an offer lowers response)
    p_treated = clamp(p_control + lift, 0, p_max);   true_uplift = p_treated - p_control

``base_effect`` and ``responsiveness`` are per-member lognormal factors with mean 1 (truth
columns offer_base_effect, offer_responsiveness); ``sleeping_dog`` a per-member flag drawn with
the persona's share. Conversion means a purchase of the target category for at least min_spend
at the offer's banner inside its window, planted as a receipt in the retail feeds; a member may
also meet that by an ordinary trip (an organic conversion, not part of these probabilities and
unaffected by the offer), so a rate measured from receipts is a little above p_control and a
measured uplift a little below true_uplift for members who buy the category often.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty.generate import personas as PS

OFFER_TYPES = ("BONUS_POINTS", "MULTIPLIER")
RESPONSE_COLUMNS = ("true_p_control", "true_p_treated", "true_uplift")
MEMBER_COLUMNS = ("member_id", "persona", "home_banner", "regular_categories", "offer_base_effect",
                  "offer_responsiveness", "sleeping_dog")
OFFER_COLUMNS = ("offer_id", "offer_type", "banner", "target_category", "reward_cost", "min_spend")
VERSION = 1
FORMULA = [
    "regular = target_category in member.regular_categories",
    "banner_f = 1 if offer.banner == member.home_banner else other_banner_mult",
    "p_control = min(p_max, base[persona] * offer_base_effect * (regular_base_mult if regular else 1) * banner_f)",
    "strength = reward_cost / min_spend",
    "lift = uplift[persona][offer_type] * offer_responsiveness * (regular_uplift_mult[offer_type] if regular else 1)"
    " * banner_f * (max(strength, 1e-6) / strength_ref) ** reward_elasticity",
    "lift = -sleeping_dog_factor * p_control if sleeping_dog",
    "p_treated = min(p_max, max(0, p_control + lift)); true_uplift = p_treated - p_control",
]


@dataclass(frozen=True)
class ResponseParams:
    base: dict                                   # persona -> P(convert | control) before factors
    uplift: dict                                 # persona -> {offer_type: added P when treated}
    sleeping_dog_share: dict                     # persona -> share of sleeping dogs
    regular_base_mult: float = 2.5               # regular buyers convert more often anyway ...
    regular_uplift_mult: dict = field(default_factory=lambda: {"BONUS_POINTS": 0.1, "MULTIPLIER": 0.7})
    other_banner_mult: float = 0.5               # an offer at the other banner: half the base and lift
    base_sigma: float = 0.4                      # log-sd of the member's base_effect (mean 1)
    responsiveness_sigma: float = 0.6            # log-sd of the member's responsiveness (mean 1)
    sleeping_dog_factor: float = 0.5             # a sleeping dog's p_treated = p_control x (1 - this)
    strength_ref: float = 0.04                   # reward_cost / min_spend of a typical offer
    reward_elasticity: float = 0.35              # lift ~ (strength / strength_ref) ^ elasticity
    p_max: float = 0.95
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "formula": FORMULA}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ResponseParams":
        data = json.loads(text)
        data.pop("formula", None)
        if data.get("version") != VERSION:
            raise ValueError(f"offer_response.json has version {data.get('version')!r}, this code reads {VERSION}")
        return cls(**data)


def default_params() -> ResponseParams:
    """The planted parameters: persona columns base, up_bonus, up_mult, sleep of personas.py."""
    return ResponseParams(
        base={p.name: p.base for p in PS.PERSONAS},
        uplift={p.name: {"BONUS_POINTS": p.up_bonus, "MULTIPLIER": p.up_mult} for p in PS.PERSONAS},
        sleeping_dog_share={p.name: p.sleep for p in PS.PERSONAS})


def _lookup(mapping: dict, key: Column) -> Column:
    """A constant map (in the plan, no join) looked up by a column; unknown key -> null."""
    return F.create_map(*[x for k, v in mapping.items() for x in (F.lit(k), F.lit(float(v)))])[key]


def response_cols(p: ResponseParams, *, persona: Column, offer_type: Column, regular: Column, same_banner: Column,
                  reward_cost: Column, min_spend: Column, base_effect: Column, responsiveness: Column,
                  sleeping_dog: Column) -> dict[str, Column]:
    """true_p_control, true_p_treated and true_uplift as column expressions (see the module doc)."""
    banner = F.when(same_banner, F.lit(1.0)).otherwise(F.lit(p.other_banner_mult))
    p_control = F.least(F.lit(p.p_max), _lookup(p.base, persona) * base_effect
                        * F.when(regular, F.lit(p.regular_base_mult)).otherwise(F.lit(1.0)) * banner)
    tau = F.coalesce(*[F.when(offer_type == t, _lookup({k: v[t] for k, v in p.uplift.items()}, persona))
                       for t in OFFER_TYPES])
    reg = F.coalesce(*[F.when(offer_type == t, F.lit(p.regular_uplift_mult[t])) for t in OFFER_TYPES])
    strength = reward_cost.cast("double") / F.greatest(min_spend.cast("double"), F.lit(0.01))
    scale = F.pow(F.greatest(strength, F.lit(1e-6)) / F.lit(p.strength_ref), F.lit(p.reward_elasticity))
    lift = tau * responsiveness * F.when(regular, reg).otherwise(F.lit(1.0)) * banner * scale
    lift = F.when(sleeping_dog, -F.lit(p.sleeping_dog_factor) * p_control).otherwise(lift)
    p_treated = F.least(F.lit(p.p_max), F.greatest(F.lit(0.0), p_control + lift))
    return {"true_p_control": p_control, "true_p_treated": p_treated, "true_uplift": p_treated - p_control}


def with_response(df: DataFrame, p: ResponseParams, prefix: str = "") -> DataFrame:
    """``df`` with the three response columns, computed from the truth columns (MEMBER_COLUMNS
    and OFFER_COLUMNS, each name behind ``prefix``; the offer's ``banner`` is compared with the
    member's ``home_banner``)."""
    c = lambda name: F.col(prefix + name)   # noqa: E731
    regular = F.coalesce(F.array_contains(c("regular_categories"), c("target_category")), F.lit(False))
    return df.withColumns(response_cols(
        p, persona=c("persona"), offer_type=c("offer_type"), regular=regular,
        same_banner=c("banner") == c("home_banner"), reward_cost=c("reward_cost"), min_spend=c("min_spend"),
        base_effect=c("offer_base_effect"), responsiveness=c("offer_responsiveness"), sleeping_dog=c("sleeping_dog")))


def read_params(spark: SparkSession, truth_dir: str) -> ResponseParams:
    from loyalty import fs
    return ResponseParams.from_json(fs.read_text(spark, f"{truth_dir}/offer_response.json"))


def true_response(spark: SparkSession, truth_dir: str, pairs: DataFrame) -> DataFrame:
    """``pairs`` (any columns, with member_id and offer_id) plus true_p_control, true_p_treated and
    true_uplift, from the truth files only. A pair whose member or offer the truth does not know
    gets nulls. For tests and benchmarks: no job reads the truth."""
    params = read_params(spark, truth_dir)
    members = spark.read.parquet(f"{truth_dir}/members.parquet").select(*MEMBER_COLUMNS)
    offers = spark.read.parquet(f"{truth_dir}/offers.parquet").select(*OFFER_COLUMNS)
    tmp = [f"_t_{c}" for c in MEMBER_COLUMNS + OFFER_COLUMNS]
    m = members.select(*[F.col(c).alias(f"_t_{c}") for c in MEMBER_COLUMNS])
    o = offers.select(*[F.col(c).alias(f"_t_{c}") for c in OFFER_COLUMNS])
    joined = (pairs.join(m, pairs["member_id"] == m["_t_member_id"], "left")
              .join(F.broadcast(o), pairs["offer_id"] == o["_t_offer_id"], "left"))
    out = with_response(joined, params, prefix="_t_")
    known = F.col("_t_member_id").isNotNull() & F.col("_t_offer_id").isNotNull()
    return out.withColumns({k: F.when(known, F.col(k)) for k in RESPONSE_COLUMNS}).drop(*tmp)
