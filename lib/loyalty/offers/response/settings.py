"""conf ``offers.response`` -> ``Params`` (checked: a bad value names the key and the file), and the
column names every module of the response model uses."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.conf import Config, ConfigError

MEMBER, OFFER = "member_id", "offer_id"
ISSUE_TS, ISSUE_DATE = "issue_ts", "issue_date"
TREATED, CONVERTED = "treated", "converted"          # treated: 1 = offer issued, 0 = random control (holdout)
FEATURES_AS_OF = "features_as_of"
P_TREATED, P_CONTROL, UPLIFT = "p_treated", "p_control", "uplift"
LEARNERS = ("logistic", "s_logistic", "gbt")
BASE = "offers.response"


class ResponseError(Exception):
    """An expected failure (nothing to train on, no champion yet): one line and exit 1."""


@dataclass(frozen=True)
class Params:
    """conf ``offers.response`` (conf/base.yaml documents each key)."""
    model_name: str
    learner: str
    eval_days: int
    max_feature_age_days: int
    min_rows_per_arm: int
    reg_param: float
    elastic_net: float
    max_iter: int
    gbt_max_depth: int
    gbt_step_size: float
    bins: int
    quantile_error: float
    bootstrap: int
    ci_level: float
    seed: int
    refit: bool
    gate_metric: str

    def log_params(self) -> dict:
        return dict(self.__dict__)


def from_conf(cfg: Config) -> Params:
    """Read and check conf ``offers.response``; a bad value names the key and the file."""
    def get(key, kind, low=None, high=None, *, low_open=False):
        full = f"{BASE}.{key}"
        value = cfg.typed(full, kind)
        if low is not None and (value < low or (low_open and value == low)) or high is not None and value > high:
            rng = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
            raise ConfigError(f"setting '{full}' in {cfg.where(full)} must be {rng}, got {value!r}")
        return value

    p = Params(
        model_name=get("model_name", str), learner=get("learner", str), eval_days=get("eval_days", int, 1),
        max_feature_age_days=get("max_feature_age_days", int, 0), min_rows_per_arm=get("min_rows_per_arm", int, 1),
        reg_param=get("reg_param", float, 0.0), elastic_net=get("elastic_net", float, 0.0, 1.0),
        max_iter=get("max_iter", int, 1), gbt_max_depth=get("gbt_max_depth", int, 1),
        gbt_step_size=get("gbt_step_size", float, 0.0, 1.0, low_open=True), bins=get("bins", int, 2),
        quantile_error=get("quantile_error", float, 0.0, 0.5), bootstrap=get("bootstrap", int, 10),
        ci_level=get("ci_level", float, 0.5, 0.999), seed=get("seed", int),
        refit=get("refit", bool), gate_metric=get("gate_metric", str))
    if p.learner not in LEARNERS:
        raise ConfigError(f"setting '{BASE}.learner' in {cfg.where(BASE + '.learner')} must be one of "
                          f"{', '.join(LEARNERS)}, got {p.learner!r}")
    if p.gate_metric not in ("qini", "auuc"):
        raise ConfigError(f"setting '{BASE}.gate_metric' in {cfg.where(BASE + '.gate_metric')} must be qini or auuc, "
                          f"got {p.gate_metric!r}")
    return p
