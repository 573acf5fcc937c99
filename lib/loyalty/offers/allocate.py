"""Budgeted allocation of offers to members: value of a pair, Lagrangian dual prices, selection, repair.

The problem, per plan week, over candidate pairs i = (member m, offer o) with value v_i and expected cost
c_i (both in currency):

    maximize  sum_i v_i x_i      x_i in {0, 1}
    s.t.      sum_{i: offer o} c_i x_i <= B_o          each offer's weekly budget
              sum_{i: partner f} c_i x_i <= P_f        each funding partner's weekly cap
              sum_{i: member m} x_i <= K_m             the caps (candidates.with_capacity)

Relaxing the budgets with one price per budget (lambda_o, mu_f >= 0) leaves a problem that splits by
member: each member takes up to K_m pairs of highest positive net value v_i - (lambda_o + mu_f) c_i (a
window function). For any prices the Lagrangian

    L(lambda, mu) = sum_m (best net values of m) + sum_o lambda_o B_o + sum_f mu_f P_f

is an upper bound on the best plan (also on the LP relaxation's optimum, which it reaches at the best
prices: the member problems are integral). ``solve`` finds the prices by simultaneous bisection, one
bracket per budget: usage of a budget only falls when its own price rises, and each step costs one Spark
aggregate that brings one row per offer to the driver. The selection at the last prices known to keep a
budget is then repaired (``repair``: within each offer, and then each partner, pairs are kept in order of
value per unit of cost while the cumulative cost stays within the budget), so no budget is exceeded.

The greedy comparison: every member takes their K_m best pairs by value with no prices, and each budget
keeps its highest-value pairs that fit (``greedy``).

Only bounded things reach the driver: per-offer sums, and the prices. Nothing here reads or writes a table.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from loyalty.offers.settings import CAPACITY, COST, MARGIN, MEMBER, OFFER, P_TREATED, PARTNER, UPLIFT, VALUE

log = logging.getLogger(__name__)

NET, RANK, PRICE = "net_value", "member_rank", "price"


def with_value(scored: DataFrame) -> DataFrame:
    """Adds expected_uplift, expected_margin, expected_cost and value to scored pairs (uplift, p_treated,
    margin_rate, min_spend, reward_cost).

    The expected basket of a conversion is the offer's ``min_spend`` in the target category: a
    conversion is, by definition, at least that much of the category at the offer's banner, and that
    purchase is what the response model predicts the offer moves. The rest of the trip is left out: the
    model does not show it is incremental, so counting it would overstate value. Hence
    expected_margin = uplift x margin_rate x min_spend, expected_cost = P(convert | treated) x
    reward_cost (every treated converter is paid, also those who would have bought anyway), value =
    expected_margin - expected_cost."""
    uplift = F.col("uplift").cast("double")
    margin = uplift * F.col("margin_rate").cast("double") * F.col("min_spend").cast("double")
    cost = F.col(P_TREATED).cast("double") * F.col("reward_cost").cast("double")
    return (scored.withColumn(UPLIFT, uplift).withColumn(MARGIN, margin).withColumn(COST, cost)
            .withColumn(VALUE, F.col(MARGIN) - F.col(COST)))


def _price_of(prices: dict[str, float]) -> Column:
    """Per pair: the price of its offer (lambda_o + mu_f, summed on the driver), 0 when not listed."""
    live = {k: float(v) for k, v in prices.items() if v}
    if not live:
        return F.lit(0.0)
    m = F.create_map(*[x for k, v in sorted(live.items()) for x in (F.lit(k), F.lit(v))])
    return F.coalesce(m[F.col(OFFER)], F.lit(0.0))


def select_at(pairs: DataFrame, prices: dict[str, float] | None = None, order: str = NET) -> DataFrame:
    """Each member's up to ``capacity`` pairs of highest positive net value (value - price x cost) at
    ``prices`` (offer_id -> price per unit of expected cost). Ties go to the smaller offer_id, so the same
    input gives the same selection. Adds net_value, member_rank."""
    net = F.col(VALUE) - _price_of(prices or {}) * F.col(COST)
    cand = pairs.withColumn(NET, net).where(F.col(NET) > 0)
    w = Window.partitionBy(MEMBER).orderBy(F.col(order).desc(), F.col(OFFER))
    return cand.withColumn(RANK, F.row_number().over(w)).where(F.col(RANK) <= F.col(CAPACITY))


@dataclass
class Usage:
    """Per offer: expected cost, value and net value of a selection, and pairs (one row per offer)."""
    cost: dict
    value: dict
    net: dict
    pairs: dict

    @property
    def total_value(self) -> float:
        return float(sum(self.value.values()))

    @property
    def total_net(self) -> float:
        return float(sum(self.net.values()))


def usage(selected: DataFrame) -> Usage:
    """The selection's sums per offer: one row per offer comes to the driver."""
    net = F.col(NET) if NET in selected.columns else F.col(VALUE)
    rows = selected.groupBy(OFFER).agg(F.sum(COST).alias("c"), F.sum(VALUE).alias("v"), F.sum(net).alias("n"),
                                       F.count(F.lit(1)).alias("k")).collect()
    return Usage({r[OFFER]: float(r["c"] or 0.0) for r in rows}, {r[OFFER]: float(r["v"] or 0.0) for r in rows},
                 {r[OFFER]: float(r["n"] or 0.0) for r in rows}, {r[OFFER]: int(r["k"]) for r in rows})


@dataclass(frozen=True)
class Budgets:
    """The constraints: offer -> weekly budget (None: none), offer -> funding partner, partner -> cap."""
    offer: dict
    partner_of: dict
    partner: dict

    def constraints(self) -> dict:
        """(kind, name) -> (cap, offers it covers), for every budget that is set."""
        out = {}
        for o, b in sorted(self.offer.items()):
            if b is not None:
                out[("offer", o)] = (float(b), (o,))
        for f, cap in sorted(self.partner.items()):
            if cap is not None:
                out[("partner", f)] = (float(cap), tuple(sorted(o for o, p in self.partner_of.items() if p == f)))
        return out

    def offer_prices(self, prices: dict) -> dict:
        """offer -> lambda_o + mu_f(o)."""
        out = {}
        for o in self.offer:
            out[o] = prices.get(("offer", o), 0.0) + prices.get(("partner", self.partner_of.get(o)), 0.0)
        return out


def used(u: Usage, offers: tuple) -> float:
    return float(sum(u.cost.get(o, 0.0) for o in offers))


@dataclass
class DualResult:
    prices: dict                      # (kind, name) -> price at the returned (feasible-side) point
    offer_prices: dict                # offer -> lambda_o + mu_f
    dual_bound: float                 # min over evaluated prices of L
    iterations: int
    converged: bool
    history: list = field(default_factory=list)   # per iteration: dual value, worst overuse share


def dual_value(u: Usage, prices: dict, cons: dict) -> float:
    """L(prices) from the selection at those prices: sum of selected net values + sum price x cap."""
    return u.total_net + sum(prices.get(k, 0.0) * cap for k, (cap, _) in cons.items())


def solve(pairs: DataFrame, budgets: Budgets, max_iterations: int = 40, tolerance: float = 0.002) -> DualResult:
    """Dual prices by sign-adaptive steps, one per budget (``pairs`` should be cached: one aggregate
    per step).

    Each budget's price moves up while the budget is overused and down (not below 0) while it is
    underused with a positive price; its step grows by 1.5 while the direction holds and halves when it
    flips (Rprop on the dual's subgradient), so every price settles like a bisection yet can still
    follow when other prices shift its usage. Starts at a quarter of the highest value per unit of cost
    among the budget's pairs. Stops when every budget with a positive price is used within
    ``tolerance`` below its cap and none is over, when every step is negligible, or after
    ``max_iterations``. Every evaluated point gives an upper bound L; the lowest is returned. The
    returned prices are those of the evaluated point whose selection, scaled down to fit the budgets
    (each offer's value x min(1, cap / usage) over its budgets), is worth most: repair then keeps close
    to that."""
    cons = budgets.constraints()
    top = {}
    if cons:
        ratio = F.when(F.col(COST) > 0, F.col(VALUE) / F.col(COST))
        mx = {r[OFFER]: float(r["r"] or 0.0) for r in
              pairs.where(F.col(VALUE) > 0).groupBy(OFFER).agg(F.max(ratio).alias("r")).collect()}
        top = {k: max([mx.get(o, 0.0) for o in offers] + [0.0]) * 1.000001 + 1e-12 for k, (_, offers) in cons.items()}
    prices = {k: 0.0 for k in cons}
    step = {k: top[k] / 4.0 for k in cons}
    last = {k: 0 for k in cons}
    best_bound, best_fit, chosen = math.inf, -math.inf, dict(prices)
    history, it, converged = [], 0, False
    while True:
        u = usage(select_at(pairs, budgets.offer_prices(prices)))
        bound = dual_value(u, prices, cons)
        fit = _fitted_value(u, cons)
        best_bound = min(best_bound, bound)
        if fit > best_fit:
            best_fit, chosen = fit, dict(prices)
        history.append({"iteration": it, "dual": bound, "fitted_value": fit, "worst_use": _worst(u, cons)})
        if _done(u, prices, cons, tolerance):
            converged, chosen = True, dict(prices)
            break
        if it >= max_iterations or all(step[k] <= 1e-4 * top[k] for k in cons):
            break
        it += 1
        for k, (cap, offers) in cons.items():
            x = used(u, offers)
            direction = 1 if x > cap else (-1 if prices[k] > 0 and x < cap * (1 - tolerance) else 0)
            if direction == 0:
                continue
            if last[k] and direction != last[k]:
                step[k] *= 0.5
            elif last[k]:
                step[k] *= 1.5
            last[k] = direction
            prices[k] = min(top[k], max(0.0, prices[k] + direction * step[k]))
    return DualResult(chosen, budgets.offer_prices(chosen), best_bound, it, converged, history)


def _fitted_value(u: Usage, cons: dict) -> float:
    """The selection's value with each offer scaled to fit its budgets: sum_o v_o x min(1, cap/usage)."""
    scale = {o: 1.0 for o in u.value}
    for cap, offers in cons.values():
        x = used(u, offers)
        if x > cap:
            for o in offers:
                scale[o] = min(scale.get(o, 1.0), cap / x)
    return float(sum(v * scale.get(o, 1.0) for o, v in u.value.items()))


def _worst(u: Usage, cons: dict) -> float:
    return max([used(u, offers) / cap if cap > 0 else (math.inf if used(u, offers) > 0 else 0.0)
                for cap, offers in cons.values()] + [0.0])


def _done(u: Usage, prices: dict, cons: dict, tolerance: float) -> bool:
    for k, (cap, offers) in cons.items():
        x = used(u, offers)
        if x > cap:
            return False
        if prices.get(k, 0.0) > 0 and x < cap * (1 - tolerance):
            return False
    return True


def repair(selected: DataFrame, budgets: Budgets, order: Column | None = None) -> DataFrame:
    """Drop pairs until no budget is exceeded: within each budgeted offer, then within each capped
    partner, pairs are kept in ``order`` (default: value per unit of expected cost, best first; ties by
    member_id) while the running sum of expected cost stays within the budget."""
    key = order if order is not None else F.when(F.col(COST) > 0, F.col(VALUE) / F.col(COST)).otherwise(F.lit(1e300))
    out = selected.withColumn("_key", key)
    limits = {o: float(b) for o, b in budgets.offer.items() if b is not None}
    if limits:
        out = _within(out, OFFER, limits)
    caps = {f: float(c) for f, c in budgets.partner.items() if c is not None}
    if caps:
        out = out.withColumn("_partner", _map(budgets.partner_of)[F.col(OFFER)])
        out = _within(out, "_partner", caps).drop("_partner")
    return out.drop("_key")


def _map(d: dict) -> Column:
    return F.create_map(*[x for k, v in sorted(d.items()) for x in (F.lit(str(k)), F.lit(None if v is None else v))])


def _within(df: DataFrame, group: str, limits: dict) -> DataFrame:
    w = (Window.partitionBy(group).orderBy(F.col("_key").desc(), F.col(MEMBER), F.col(OFFER))
         .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    limit = _map(limits)[F.col(group)]
    out = df.withColumn("_running", F.sum(COST).over(w))
    return out.where(limit.isNull() | (F.col("_running") <= limit + 1e-9)).drop("_running")


@dataclass
class Allocation:
    selected: DataFrame               # the repaired plan: pairs with value, cost, net_value, member_rank
    dual: DualResult
    objective: float                  # sum of value of the repaired plan
    objective_before_repair: float
    greedy_objective: float
    budget_use: dict                  # offer -> expected cost / weekly budget (None: no budget)
    greedy_budget_use: dict
    partner_use: dict                 # partner -> expected cost / cap
    usage: Usage

    @property
    def gap(self) -> float:
        """1 - objective / dual bound (0 when both are 0)."""
        return 0.0 if self.dual.dual_bound <= 0 else 1.0 - self.objective / self.dual.dual_bound

    def metrics(self) -> dict:
        out = {"objective": self.objective, "objective_before_repair": self.objective_before_repair,
               "dual_bound": self.dual.dual_bound, "gap": self.gap, "iterations": float(self.dual.iterations),
               "converged": float(self.dual.converged), "greedy_objective": self.greedy_objective,
               "vs_greedy": (self.objective / self.greedy_objective) if self.greedy_objective > 0 else float("nan"),
               "pairs": float(sum(self.usage.pairs.values())),
               "expected_cost": float(sum(self.usage.cost.values()))}
        uses = [v for v in self.budget_use.values() if v is not None]
        out["max_budget_use"] = max(uses) if uses else 0.0
        return out


def _use(u: Usage, budgets: Budgets) -> dict:
    return {o: (u.cost.get(o, 0.0) / b if b else (None if b is None else (0.0 if not u.cost.get(o) else math.inf)))
            for o, b in sorted(budgets.offer.items())}


def greedy(pairs: DataFrame, budgets: Budgets) -> DataFrame:
    """The comparison plan: each member's best pairs by value without prices, then each budget keeps
    its highest-value pairs that fit."""
    return repair(select_at(pairs, {}, order=VALUE), budgets, order=F.col(VALUE))


def allocate(pairs: DataFrame, budgets: Budgets, max_iterations: int = 40, tolerance: float = 0.002) -> Allocation:
    """Solve the dual, select at its prices, repair; and the greedy plan for comparison. ``pairs``
    (with value, expected_cost, capacity) should be cached by the caller."""
    dual = solve(pairs, budgets, max_iterations, tolerance)
    raw = select_at(pairs, dual.offer_prices)
    before = usage(raw)
    selected = repair(raw, budgets)
    u = usage(selected)
    g = usage(greedy(pairs, budgets))
    partner_use = {}
    for f, cap in sorted(budgets.partner.items()):
        if cap is not None:
            x = sum(c for o, c in u.cost.items() if budgets.partner_of.get(o) == f)
            partner_use[f] = x / cap if cap > 0 else (0.0 if x == 0 else math.inf)
    a = Allocation(selected, dual, u.total_value, before.total_value, g.total_value, _use(u, budgets),
                   _use(g, budgets), partner_use, u)
    log.info("allocation: objective %.2f, dual bound %.2f (%.2f%% of it), %d iterations%s; greedy by value %.2f",
             a.objective, dual.dual_bound, 100 * (1 - a.gap), dual.iterations,
             "" if dual.converged else " (not converged)", a.greedy_objective)
    return a
