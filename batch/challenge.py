"""Challenger versus champion on the holdout, and what of it goes to MLflow.

Metric names (run metrics of the registered version, spelled by
models.registry): `holdout_<m>` for the new model, `champion_holdout_<m>` for
the champion on the same events (`registry.holdout_metric`), where
<m> is rows, alert_rate, labelled, positives and, where labels exist,
precision, recall, f1, roc_auc, average_precision; `score_shift` is the
Kolmogorov-Smirnov statistic between the new model's scores on its training
rows and on the holdout; `champion_score_shift` the same between the two
models' holdout scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from batch.window_labels import combine, read_truth, verdicts_per_event
from lakehouse.catalog import table_path
from lakehouse.config import Config
from models import plots, registry
from models.forest import IsolationForestModel
from models.gates import Champion, GateDecision
from models.holdout_metrics import HoldoutReport, evaluate_model, ks_statistic


def labelled(spark: SparkSession, config: Config, holdout: DataFrame) -> DataFrame:
    """The holdout with a `label` column: analyst verdicts, else ground-truth files, else null."""
    verdicts = verdicts_per_event(holdout, spark.read.format("delta").load(table_path(config, "labels")), config)
    truth = read_truth(spark, config.lake_path(config.retrain.truth_labels), config) \
        if config.retrain.truth_labels else None
    return holdout.join(combine(verdicts, truth, config), config.schema.event_id, "left")


def champion_on(holdout: DataFrame, config: Config) -> Champion | None:
    """The current champion scored on the holdout; None when there is none yet."""
    version = registry.alias_version(config)
    if version is None:
        return None
    loaded = registry.load_version(config, version)
    if loaded.features != list(config.features):
        return Champion(version, None, f"its features {','.join(loaded.features)} differ from the config's")
    return Champion(version, evaluate_model(loaded.model, holdout))


@dataclass(frozen=True)
class Comparison:
    challenger: HoldoutReport
    on_training: HoldoutReport
    champion: Champion | None

    @classmethod
    def run(cls, model: IsolationForestModel, training: DataFrame, holdout: DataFrame, config: Config) -> "Comparison":
        return cls(challenger=evaluate_model(model, holdout), on_training=evaluate_model(model, training, None),
                   champion=champion_on(holdout, config))

    @property
    def champion_report(self) -> HoldoutReport | None:
        return self.champion.report if self.champion else None

    def metrics(self) -> dict[str, float]:
        out = {registry.holdout_metric(k): v for k, v in self.challenger.metrics().items()}
        out[registry.METRIC_SCORE_SHIFT] = ks_statistic(self.on_training.profile.rows, self.challenger.profile.rows)
        if self.champion_report:
            out.update({registry.holdout_metric(k, champion=True): v for k, v in self.champion_report.metrics().items()})
            out[registry.METRIC_CHAMPION_SCORE_SHIFT] = ks_statistic(self.champion_report.profile.rows,
                                                                     self.challenger.profile.rows)
        return {name: value for name, value in out.items() if not math.isnan(value)}

    def artifacts(self, decision: GateDecision, excluded: dict[str, int]) -> dict[str, object]:
        """Plots and a JSON summary, by their path in the MLflow run."""
        reports = {"new model": self.challenger}
        if self.champion_report:
            reports[f"champion v{self.champion.version}"] = self.champion_report
        histogram = dict(reports, **{"new model on its training rows": self.on_training})
        out: dict[str, object] = {
            "evaluation/score_histogram.png": plots.score_histogram(histogram),
            "evaluation/summary.json": {registry.TAG_GATE_DECISION: decision.summary, "excluded": excluded,
                                        "metrics": self.metrics()},
        }
        if any(r.has_labels for r in reports.values()):
            out["evaluation/precision_recall.png"] = plots.precision_recall(reports)
        return out
