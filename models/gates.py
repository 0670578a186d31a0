"""Promotion gates: does a newly trained model (the challenger) replace the champion?

It does when
- there is no champion yet, or the champion cannot score the configured
  features (it would be refused by the stream anyway); otherwise
- its holdout alert rate lies within [min_alert_rate, max_alert_rate], and
- where the holdout has labels, its primary metric is no more than
  `max_metric_drop` below the champion's on the same events.
`force` promotes regardless and records what the gates said.

>>> from lakehouse.config import RetrainConfig
>>> decide(challenger=None, champion=None, settings=RetrainConfig()).summary
'promoted: first model, nothing to compare with'
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config import RetrainConfig
from models.holdout_metrics import HoldoutReport


@dataclass(frozen=True)
class Champion:
    """The current champion: its version and holdout report (None when it cannot score these features)."""

    version: str
    report: HoldoutReport | None
    note: str = ""


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    summary: str  # one line: "promoted: ...", "kept as challenger: ..." or "forced: ..."


def check(challenger: HoldoutReport, champion: Champion, settings: RetrainConfig) -> tuple[list[str], list[str]]:
    """(failures, passes): one short phrase per gate."""
    failures, passes = [], []
    low, high = settings.min_alert_rate, settings.max_alert_rate
    inside = low <= challenger.alert_rate <= high
    (passes if inside else failures).append(
        f"alert rate {challenger.alert_rate:.4f} {'within' if inside else 'outside'} [{low:g}, {high:g}]")
    metric = settings.primary_metric
    ours, theirs = getattr(challenger, metric), getattr(champion.report, metric)
    if ours is None or theirs is None:
        passes.append(f"{metric} not compared (no labelled holdout events of both classes)")
    elif ours < theirs - settings.max_metric_drop:
        failures.append(f"{metric} {ours:.4f} vs champion v{champion.version} {theirs:.4f}, "
                        f"down {theirs - ours:.4f} (allowed {settings.max_metric_drop:g})")
    else:
        passes.append(f"{metric} {ours:.4f} vs champion v{champion.version} {theirs:.4f} "
                      f"(allowed drop {settings.max_metric_drop:g})")
    return failures, passes


def decide(challenger: HoldoutReport, champion: Champion | None, settings: RetrainConfig,
           force: bool = False) -> GateDecision:
    if champion is None:
        return GateDecision(True, "promoted: first model, nothing to compare with")
    if champion.report is None:
        return GateDecision(True, f"promoted: champion v{champion.version} cannot be compared ({champion.note})")
    failures, passes = check(challenger, champion, settings)
    if force:
        said = f"gates would have kept it as challenger: {'; '.join(failures)}" if failures else "gates passed"
        return GateDecision(True, f"forced: {said}")
    if failures:
        return GateDecision(False, f"kept as challenger: {'; '.join(failures)}")
    return GateDecision(True, f"promoted: {'; '.join(passes)}")
