"""Evaluation plots logged with each retrain: score histogram and precision-recall curve.

Figures are built from binned counts (models.holdout_metrics.ScoreProfile), never from
raw rows, and use matplotlib's object API (no pyplot state, no display needed).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from models.holdout_metrics import BINS, HoldoutReport

HISTOGRAM_BINS = 100


def score_histogram(reports: dict[str, HoldoutReport], title: str = "anomaly scores on the holdout") -> Figure:
    """Share of events per score bin for each model, with each model's threshold as a dashed line."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    edges = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    for (name, report), colour in zip(reports.items(), ("tab:blue", "tab:orange", "tab:green")):
        counts = report.profile.rows.reshape(HISTOGRAM_BINS, BINS // HISTOGRAM_BINS).sum(axis=1)
        share = counts / max(counts.sum(), 1)
        axes.stairs(share, edges, label=f"{name} (alert rate {report.alert_rate:.2%})", color=colour)
        axes.axvline(report.threshold, linestyle="--", color=colour, linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("anomaly_score")
    axes.set_ylabel("share of events")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    return figure


def precision_recall(reports: dict[str, HoldoutReport]) -> Figure:
    """Precision against recall on the labelled holdout events, one curve per model that has labels."""
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    for name, report in reports.items():
        if report.has_labels:
            recall, precision = report.profile.pr_curve()
            axes.plot(recall, precision, drawstyle="steps-post", label=f"{name} (AP {report.average_precision:.3f})")
            axes.plot([report.recall], [report.precision], marker="o", color=axes.lines[-1].get_color())
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("precision-recall on labelled holdout events (dot: at the threshold)")
    axes.legend(loc="lower left")
    figure.tight_layout()
    return figure
