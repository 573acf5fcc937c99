"""MLflow tracking and model registry for every training and scoring job.

    uri = tracking.configure(cfg)                       # local sqlite store, conf, or $MLFLOW_TRACKING_URI
    with tracking.training_run(cfg, "loyalty_recommender", as_of, ["silver.transaction_lines"]) as run:
        mlflow.log_metric(...)
        info = tracking.log_spark_model(pipeline_model)
        promotion = tracking.register_and_promote(cfg, "loyalty_recommender", info.model_uri,
                                                  "ndcg_at_10", 0.31)
    model, version = tracking.load_champion(cfg, "loyalty_recommender")   # by alias, never a path

Where runs go (docs/models.md, "MLflow"): conf ``ml.tracking_uri`` if set, else the environment's
``MLFLOW_TRACKING_URI`` (a cluster's tracking server), else a sqlite store with a model registry at
``<paths.mlflow>/mlflow.db``. With a sqlite store, experiments keep their artifacts under conf
``ml.artifact_root``; a tracking server decides its own artifact location.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from typing import Iterator

from loyalty import lake
from loyalty.conf import Config, ConfigError

log = logging.getLogger(__name__)

GATE_METRIC_TAG = "gate.metric"        # model-version tags: which metric the gate compared ...
GATE_VALUE_TAG = "gate.value"          # ... and this version's value of it
_set_by_us: str | None = None          # the default URI configure() exported (mlflow copies it to the env)
_configured: Config | None = None      # the conf of the last configure(): log_spark_model's requirements


@dataclass(frozen=True)
class Comparison:
    """The champion and a new version measured on the same data by the same code (the champion
    re-scored on the new version's evaluation window or snapshot). ``value`` is the new version's
    number on that data, which may differ from the value it is registered with (e.g. on the part of
    a test window the champion did not learn from)."""
    champion_version: int
    champion_value: float
    value: float
    on: str                                   # what both were measured on, for the reason and the tags


@dataclass(frozen=True)
class Baseline:
    """What a practitioner would use instead of the model (e.g. popularity), measured the same way:
    a version worse than it is never promoted."""
    metric: str
    value: float


@dataclass(frozen=True)
class Promotion:
    """What the promotion gate decided for a newly registered model version."""
    version: int
    promoted: bool
    reason: str
    champion_before: int | None
    champion_metric: float | None             # the champion's value the decision used
    compared_on: str | None = None            # Comparison.on, "recorded values" or None (nothing compared)
    baseline_metric: str | None = None
    baseline_value: float | None = None


def configure(cfg: Config) -> str:
    """Point MLflow tracking and the model registry at one store; returns its URI."""
    global _set_by_us, _configured
    import mlflow

    uri = cfg.get("ml.tracking_uri", None)
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri and env and env != _set_by_us:
        uri = env
    if not uri:
        root = os.path.abspath(cfg.typed("paths.mlflow", str))
        os.makedirs(root, exist_ok=True)
        uri = f"sqlite:///{os.path.join(root, 'mlflow.db')}"
        _set_by_us = uri
    uri = str(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _configured = cfg
    return uri


def artifact_location(cfg: Config, uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: under conf ``ml.artifact_root`` for a local
    sqlite store (made absolute against the working directory), else the server's choice."""
    if not uri.startswith("sqlite:"):
        return None
    root = cfg.get("ml.artifact_root", None)
    if not root:
        return None
    root = os.path.abspath(os.path.expanduser(str(root)))
    path = os.path.join(root, *experiment.split("/"))
    os.makedirs(path, exist_ok=True)
    return path


def experiment_name(cfg: Config, model_name: str) -> str:
    return f"{cfg.typed('ml.experiment_prefix', str)}/{model_name}"


def set_experiment(cfg: Config, model_name: str) -> str:
    """Create (with the configured artifact location) or reuse the model's experiment; returns its id."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = configure(cfg)
    name = experiment_name(cfg, model_name)
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is None:
        experiment_id = client.create_experiment(name, artifact_location=artifact_location(cfg, uri, name))
        log.info("created MLflow experiment %s (%s) in %s", name, experiment_id, uri)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def input_versions(cfg: Config, inputs: list[str]) -> dict[str, int | None]:
    """The Delta version of each input table (None when it does not exist)."""
    return {table: lake.version(cfg, table) for table in inputs}


@contextmanager
def training_run(cfg: Config, model_name: str, as_of: date | str, inputs: list[str],
                 run_name: str | None = None) -> Iterator:
    """An MLflow run in experiment ``<ml.experiment_prefix>/<model_name>`` with params ``as_of`` and
    ``data.<table>.version`` for each input table. Yields the ``mlflow.ActiveRun``; an exception
    inside marks the run FAILED."""
    import mlflow

    set_experiment(cfg, model_name)
    with mlflow.start_run(run_name=run_name or f"{model_name}-{as_of}") as run:
        params = {"as_of": str(as_of)}
        params.update({f"data.{table}.version": "none" if v is None else v
                       for table, v in input_versions(cfg, inputs).items()})
        mlflow.log_params(params)
        mlflow.set_tags({"model_name": model_name, "env": cfg.env})
        yield run


def log_spark_model(model, artifact_path: str = "model", cfg: Config | None = None,
                    pip_requirements: list[str] | None = None):
    """Log a fitted Spark model (a PipelineModel, or a model MLflow wraps in one) to the active run.
    Requirements come from conf ``ml.pip_requirements`` of ``cfg`` (default: the conf given to the last
    ``configure``, which ``training_run`` calls), given explicitly: inferring them costs ~35 s."""
    import mlflow.spark

    if pip_requirements is None:
        pip_requirements = _pip_requirements(cfg)
    return mlflow.spark.log_model(model, artifact_path, pip_requirements=pip_requirements)


def _pip_requirements(cfg: Config | None) -> list[str]:
    cfg = cfg if cfg is not None else _configured
    reqs = cfg.get("ml.pip_requirements", None) if cfg is not None else None
    if reqs is None:
        import pyspark
        reqs = [f"pyspark=={pyspark.__version__}"]
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        raise ConfigError(f"setting 'ml.pip_requirements' in {cfg.where('ml.pip_requirements')} must be a list "
                          f"of requirement strings, got {reqs!r}")
    return reqs


def register(cfg: Config, model_name: str, model_uri: str, metric: str, value: float,
             tags: dict[str, str] | None = None) -> int:
    """Register ``model_uri`` as a new version of ``model_name`` (created on first use), tagged with
    the gate metric and its value so later versions can be compared with it, plus ``tags``. Returns
    the version."""
    import mlflow

    configure(cfg)
    mv = mlflow.register_model(model_uri, model_name, tags={**(tags or {}), GATE_METRIC_TAG: metric,
                                                            GATE_VALUE_TAG: repr(float(value))})
    version = int(mv.version)
    log.info("registered %s version %d (%s=%.6f)", model_name, version, metric, value)
    return version


def champion(cfg: Config, model_name: str):
    """The ModelVersion the champion alias points at, or None (no model or no alias yet)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    configure(cfg)
    try:
        return MlflowClient().get_model_version_by_alias(model_name, _alias(cfg))
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def promote(cfg: Config, model_name: str, version: int, metric: str, value: float,
            greater_is_better: bool = True, *, comparison: Comparison | None = None,
            baseline: Baseline | None = None) -> Promotion:
    """The promotion gate: move the champion alias to ``version`` only when

    - its ``value`` is not worse than the ``baseline``'s (when given; also for the first version), and
    - there is no champion, or the version is at least as good as the champion: on the same data when
      a ``comparison`` is given (the champion re-scored where the new version was evaluated), else
      against the value recorded on the champion at its registration (each on its own data).

    The decision and the numbers it used are logged, set as tags on the model version (``gate.*``) and,
    when a run is active, as tags (``promotion.*``), params and metrics of that run."""
    import math

    from mlflow.tracking import MlflowClient

    configure(cfg)
    client = MlflowClient()
    alias = _alias(cfg)
    current = champion(cfg, model_name)
    before = int(current.version) if current is not None else None
    recorded = None
    if current is not None:
        tags = current.tags or {}
        if tags.get(GATE_METRIC_TAG) == metric and tags.get(GATE_VALUE_TAG) is not None:
            recorded = float(tags[GATE_VALUE_TAG])
    value = float(value)
    better = (lambda new, old: new >= old) if greater_is_better else (lambda new, old: new <= old)
    word = ">=" if greater_is_better else "<="
    stays = f"{alias} stays at version {before}" if before is not None else f"no {alias}"
    # what the champion is compared on: the same data (comparison), else the recorded values
    champion_value, compared_on, new_value = None, None, value
    if current is not None and before != version:
        if comparison is not None and comparison.champion_version == before:
            champion_value, compared_on = float(comparison.champion_value), comparison.on
            new_value = float(comparison.value)
        elif comparison is None and recorded is not None:
            champion_value, compared_on = recorded, "recorded values"
    if math.isnan(value) or math.isnan(new_value):
        promoted, reason = False, f"{metric} is NaN: not promoted, {stays}"
    elif baseline is not None and not better(value, baseline.value):
        promoted, reason = False, (f"{metric} {value:.6f} is worse than the baseline {baseline.metric} "
                                   f"{baseline.value:.6f}: not promoted, {stays}")
    elif current is None:
        promoted, reason = True, f"no {alias} yet: version {version} becomes {alias} ({metric}={value:.6f})"
    elif before == version:
        promoted, reason = True, f"version {version} is already {alias}"
    elif comparison is not None and compared_on is None:
        promoted, reason = False, (f"{alias} moved to version {before} after version {comparison.champion_version} "
                                   f"was re-scored: not promoted; train again to compare with version {before}")
    elif compared_on is None:
        promoted, reason = True, (f"{alias} version {before} has no recorded {metric}: version {version} "
                                  f"becomes {alias} ({metric}={value:.6f})")
    else:
        on = ("recorded (each on its own evaluation data)" if comparison is None else f"on {compared_on}")
        both = f"{metric} {new_value:.6f} vs {alias} version {before}'s {champion_value:.6f} {on}"
        if better(new_value, champion_value):
            promoted, reason = True, f"{both} ({word}): version {version} becomes {alias}"
        else:
            promoted, reason = False, f"{both} is worse: {stays}"
    if promoted:
        client.set_registered_model_alias(model_name, alias, str(version))
    decision = Promotion(version, promoted, reason, before, champion_value, compared_on,
                         baseline.metric if baseline else None, float(baseline.value) if baseline else None)
    tags = {"gate.promoted": str(promoted).lower(), "gate.reason": reason}
    if compared_on is not None:
        tags.update({"gate.compared_on": compared_on, "gate.champion_version": str(before),
                     "gate.champion_value": repr(champion_value)})
    if comparison is not None and compared_on == comparison.on:
        tags["gate.value_on_comparison"] = repr(new_value)
    if baseline is not None:
        tags.update({"gate.baseline_metric": baseline.metric, "gate.baseline_value": repr(float(baseline.value))})
    for key, text in tags.items():
        client.set_model_version_tag(model_name, str(version), key, text)
    _log_to_active_run(decision, metric, value)
    (log.info if promoted else log.warning)("promotion gate for %s: %s", model_name, reason)
    return decision


def register_and_promote(cfg: Config, model_name: str, model_uri: str, metric: str, value: float,
                         greater_is_better: bool = True, *, comparison: Comparison | None = None,
                         baseline: Baseline | None = None) -> Promotion:
    """Register a new version and run the promotion gate on it (see ``register`` and ``promote``)."""
    version = register(cfg, model_name, model_uri, metric, value)
    return promote(cfg, model_name, version, metric, value, greater_is_better, comparison=comparison,
                   baseline=baseline)


def load_champion(cfg: Config, model_name: str):
    """The champion Spark model, loaded by alias (``models:/<name>@<alias>``), and its version.
    A UserError-style LookupError when the model has no champion yet."""
    import mlflow.spark

    alias = _alias(cfg)
    for _ in range(3):  # the alias could move while the model loads: make sure version and model match
        before = champion(cfg, model_name)
        if before is None:
            raise LookupError(f"model '{model_name}' has no '{alias}' version in {mlflow.get_tracking_uri()} "
                              f"(train it first)")
        model = mlflow.spark.load_model(f"models:/{model_name}@{alias}")
        after = champion(cfg, model_name)
        if after is not None and after.version == before.version:
            log.info("loaded %s@%s = version %s", model_name, alias, after.version)
            return model, int(after.version)
    raise LookupError(f"the '{alias}' alias of '{model_name}' kept moving while loading; try again")


def _alias(cfg: Config) -> str:
    return cfg.typed("ml.champion_alias", str)


def _log_to_active_run(decision: Promotion, metric: str, value: float) -> None:
    import mlflow

    if mlflow.active_run() is None:
        return
    fields = asdict(decision)
    mlflow.set_tags({f"promotion.{k}": "" if v is None else str(v) for k, v in fields.items()})
    mlflow.log_params({"gate.metric": metric, "registered_version": decision.version})
    metrics = {f"gate.{metric}": value}
    if decision.champion_metric is not None:
        metrics[f"gate.champion.{metric}"] = decision.champion_metric
    if decision.baseline_metric is not None:
        metrics[f"gate.baseline.{decision.baseline_metric}"] = decision.baseline_value
    mlflow.log_metrics(metrics)
