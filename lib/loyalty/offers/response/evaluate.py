"""Uplift evaluation on held-out issues (no tables, no MLflow): Qini and uplift curves, Qini
coefficient and AUUC with bootstrap intervals, uplift by decile, for any number of rankings.

Rows: one per evaluation issue with ``treated`` (1/0), ``converted`` (1/0) and a score per ranking
(higher = target first). Each ranking cuts the rows into ``bins`` score-quantile bins (bin 1 = the
highest scores; edges from ``approxQuantile``, so ties share a bin and a bin may be empty). Only
per-bin sums reach the driver. With N_t(k), N_c(k), Y_t(k), Y_c(k) the treated/control rows and
conversions in the top k bins, N = all rows, N_T = all treated rows, phi_k = (N_t(k) + N_c(k)) / N:

- Qini curve   q(k) = (Y_t(k) - Y_c(k) * N_t(k) / N_c(k)) / N_T   (incremental conversions per treated
  member, counted on the treated; the control term is 0 while N_c(k) = 0). q(last) = the average
  treatment effect on the evaluation rows.
- Uplift curve u(k) = (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) * phi_k   (0 while an arm is empty).
- Qini coefficient = area under q(phi) (trapezoids from (0, 0)) minus the random line's q(last) / 2:
  0 for a ranking no better than random, positive when the top of the list holds the persuadables.
- AUUC = area under u(phi); a random ranking's expected AUUC is u(last) / 2 (``auuc_random``).
- Uplift by decile: Y_t/N_t - Y_c/N_c inside each bin, beside the bin's mean predicted uplift.

Intervals: ``replicates`` bootstrap resamples drawn as Poisson(1) row weights (a keyed hash of the
row key and replicate, so a re-run gives the same draws), percentile intervals at ``level``. The bin
edges stay those of the full sample. All rankings share the draws, so the difference of two
rankings' Qini (``diff``) has a paired interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.offers.response.settings import CONVERTED, MEMBER, OFFER, TREATED

_POISSON_CDF = [sum(math.exp(-1) / math.factorial(i) for i in range(k + 1)) for k in range(10)]
_MOD = 2_147_483_647


def hash_uniform(cols: list[str], *salt) -> "F.Column":
    """A uniform in [0, 1) from a keyed hash of ``cols`` and ``salt`` (deterministic, partition-free)."""
    return F.pmod(F.xxhash64(*[F.col(c) for c in cols], *[F.lit(s) for s in salt]), F.lit(_MOD)) / F.lit(float(_MOD))


def poisson_weight(u) -> "F.Column":
    """Poisson(1) draw by inverting its CDF at the uniform ``u`` (capped at 10)."""
    w = F.lit(10)
    for k in reversed(range(len(_POISSON_CDF))):
        w = F.when(u < _POISSON_CDF[k], k).otherwise(w)
    return w


def bin_edges(rows: DataFrame, score_col: str, bins: int, rel_err: float) -> list[float]:
    """The ``bins - 1`` inner score quantiles (ascending): a bounded list."""
    return [float(e) for e in rows.approxQuantile(score_col, [i / bins for i in range(1, bins)], rel_err)]


def bin_column(score_col: str, edges: list[float]) -> "F.Column":
    """Bin 1..len(edges)+1 with 1 = the highest scores: len(edges) + 1 - #(edges < score). A score equal
    to an edge (the value at that quantile) stays in the lower bin, as the quantile's definition says."""
    b = F.lit(len(edges) + 1)
    for e in edges:
        b = b - (F.col(score_col) > F.lit(e)).cast("int")
    return b


@dataclass
class Curve:
    """One ranking's curves from per-bin sums (bins best first)."""
    bins: list[dict]                       # bin, n_t, n_c, y_t, y_c[, score_mean]
    phi: list[float] = field(default_factory=list)
    qini: list[float] = field(default_factory=list)
    uplift: list[float] = field(default_factory=list)
    qini_coefficient: float = 0.0
    auuc: float = 0.0
    auuc_random: float = 0.0
    ate: float = 0.0


def curve(bins: list[dict]) -> Curve:
    """Qini/uplift curves, Qini coefficient and AUUC (module doc) from per-bin sums of one ranking."""
    bins = sorted(bins, key=lambda b: b["bin"])
    n = sum(b["n_t"] + b["n_c"] for b in bins)
    n_treated = sum(b["n_t"] for b in bins)
    c = Curve(bins, [0.0], [0.0], [0.0])
    if n <= 0 or n_treated <= 0:
        return c
    nt = nc = yt = yc = 0.0
    for b in bins:
        nt, nc, yt, yc = nt + b["n_t"], nc + b["n_c"], yt + b["y_t"], yc + b["y_c"]
        phi = (nt + nc) / n
        c.phi.append(phi)
        c.qini.append((yt - (yc * nt / nc if nc > 0 else 0.0)) / n_treated)
        c.uplift.append((yt / nt - yc / nc) * phi if nt > 0 and nc > 0 else 0.0)
    area = lambda ys: sum((c.phi[i] - c.phi[i - 1]) * (ys[i] + ys[i - 1]) / 2 for i in range(1, len(c.phi)))  # noqa: E731
    c.ate = c.qini[-1]
    c.qini_coefficient = area(c.qini) - c.qini[-1] / 2
    c.auuc = area(c.uplift)
    c.auuc_random = c.uplift[-1] / 2
    return c


def by_decile(c: Curve) -> list[dict]:
    """Per bin: rows, treated, control, observed uplift (None when an arm is empty), mean score."""
    out = []
    for b in sorted(c.bins, key=lambda b: b["bin"]):
        obs = b["y_t"] / b["n_t"] - b["y_c"] / b["n_c"] if b["n_t"] > 0 and b["n_c"] > 0 else None
        out.append({"bin": int(b["bin"]), "rows": b["n_t"] + b["n_c"], "treated": b["n_t"], "control": b["n_c"],
                    "observed_uplift": obs, "mean_score": b.get("score_mean")})
    return out


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 1]) of a non-empty list."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class Evaluation:
    curves: dict                  # ranking -> Curve on the full sample
    metrics: dict                 # flat metrics: <ranking>_qini[_ci_low|_ci_high], _auuc..., diffs, counts
    deciles: dict                 # ranking -> by_decile rows


def evaluate(rows: DataFrame, rankings: dict[str, str], *, bins: int, rel_err: float, replicates: int,
             level: float, seed: int, diff: tuple[str, str] | None = None, key: list[str] | None = None) -> Evaluation:
    """Evaluate each ranking (name -> score column of ``rows``) as the module doc says. ``key``: the
    columns that identify a row for the bootstrap draws (default member_id, offer_id)."""
    key = key or [MEMBER, OFFER]
    names = list(rankings)
    binned = rows.select(*key, F.col(TREATED).cast("double").alias("_t"), F.col(CONVERTED).cast("double").alias("_y"),
                         *[F.col(rankings[r]).cast("double").alias(f"_s{i}") for i, r in enumerate(names)])
    binned = binned.persist()
    edges = [bin_edges(binned, f"_s{i}", bins, rel_err) for i in range(len(names))]
    binned = binned.withColumns({f"_b{i}": bin_column(f"_s{i}", e) for i, e in enumerate(edges)})
    reps = rows.sparkSession.range(-1, replicates).withColumnRenamed("id", "_rep")
    drawn = binned.crossJoin(F.broadcast(reps))
    u = hash_uniform([*key, "_rep"], "bootstrap", seed)
    drawn = drawn.withColumn("_w", F.when(F.col("_rep") < 0, F.lit(1)).otherwise(poisson_weight(u)).cast("double"))
    long = drawn.select("_rep", "_w", "_t", "_y", F.explode(F.array(*[
        F.struct(F.lit(i).alias("r"), F.col(f"_b{i}").alias("bin"), F.col(f"_s{i}").alias("s"))
        for i in range(len(names))])).alias("_x"))
    w, t, y = F.col("_w"), F.col("_t"), F.col("_y")
    sums = (long.groupBy("_rep", F.col("_x.r").alias("r"), F.col("_x.bin").alias("bin"))
            .agg(F.sum(w * t).alias("n_t"), F.sum(w * (1 - t)).alias("n_c"), F.sum(w * t * y).alias("y_t"),
                 F.sum(w * (1 - t) * y).alias("y_c"), F.avg(F.col("_x.s")).alias("score_mean"))
            .collect())                                       # (replicates + 1) x rankings x bins rows
    binned.unpersist()
    grouped: dict[tuple[int, int], list[dict]] = {}
    for s in sums:
        grouped.setdefault((int(s["_rep"]), int(s["r"])), []).append(
            {"bin": int(s["bin"]), "n_t": float(s["n_t"]), "n_c": float(s["n_c"]), "y_t": float(s["y_t"]),
             "y_c": float(s["y_c"]), "score_mean": float(s["score_mean"]) if s["score_mean"] is not None else None})
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    curves = {name: curve(grouped.get((-1, i), [])) for i, name in enumerate(names)}
    boot = {name: [curve(grouped.get((rep, i), [])) for rep in range(replicates)] for i, name in enumerate(names)}
    metrics: dict[str, float] = {}
    for name in names:
        full, draws = curves[name], boot[name]
        for metric, get in (("qini", lambda c: c.qini_coefficient), ("auuc", lambda c: c.auuc)):
            values = [get(d) for d in draws]
            metrics[f"{name}_{metric}"] = get(full)
            metrics[f"{name}_{metric}_ci_low"] = percentile(values, lo_q)
            metrics[f"{name}_{metric}_ci_high"] = percentile(values, hi_q)
        metrics[f"{name}_auuc_random"] = full.auuc_random
    if diff is not None:
        a, b = diff
        values = [x.qini_coefficient - z.qini_coefficient for x, z in zip(boot[a], boot[b])]
        metrics[f"{a}_minus_{b}_qini"] = curves[a].qini_coefficient - curves[b].qini_coefficient
        metrics[f"{a}_minus_{b}_qini_ci_low"] = percentile(values, lo_q)
        metrics[f"{a}_minus_{b}_qini_ci_high"] = percentile(values, hi_q)
    first = curves[names[0]]
    n_t = sum(b["n_t"] for b in first.bins)
    n_c = sum(b["n_c"] for b in first.bins)
    metrics.update({"eval_rows": n_t + n_c, "eval_treated": n_t, "eval_control": n_c, "eval_ate": first.ate})
    ates = [d.ate for d in boot[names[0]]]
    metrics["eval_ate_ci_low"], metrics["eval_ate_ci_high"] = percentile(ates, lo_q), percentile(ates, hi_q)
    return Evaluation(curves, metrics, {name: by_decile(curves[name]) for name in names})


def qini_only(rows: DataFrame, score_col: str, *, bins: int, rel_err: float) -> Curve:
    """One ranking's curve without a bootstrap (the gate re-scoring the champion)."""
    edges = bin_edges(rows, score_col, bins, rel_err)
    t, y = F.col(TREATED).cast("double"), F.col(CONVERTED).cast("double")
    sums = (rows.withColumn("_bin", bin_column(score_col, edges)).groupBy("_bin")
            .agg(F.sum(t).alias("n_t"), F.sum(1 - t).alias("n_c"), F.sum(t * y).alias("y_t"),
                 F.sum((1 - t) * y).alias("y_c"), F.avg(score_col).alias("score_mean")).collect())
    return curve([{"bin": int(s["_bin"]), "n_t": float(s["n_t"]), "n_c": float(s["n_c"]), "y_t": float(s["y_t"]),
                   "y_c": float(s["y_c"]), "score_mean": s["score_mean"]} for s in sums])


def figures(curves: dict, title: str) -> list:
    """The Qini curves (and the random line) and the uplift curves as (artifact path, figure)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for attr, path, label in (("qini", "plots/qini_curve.png", "incremental conversions per treated member"),
                              ("uplift", "plots/uplift_curve.png", "cumulative uplift x share targeted")):
        fig, ax = plt.subplots(figsize=(7, 5))
        for name, c in curves.items():
            ax.plot(c.phi, getattr(c, attr), marker="o", label=f"{name} (qini {c.qini_coefficient:.4f})")
        last = next(iter(curves.values()))
        end = getattr(last, attr)[-1] if getattr(last, attr) else 0.0
        ax.plot([0, 1], [0, end], linestyle="--", color="grey", label="random (expected)")
        ax.set_xlabel("share of evaluation issues targeted (best scores first)")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        out.append((path, fig))
    return out
