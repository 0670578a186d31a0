"""The seasonal scenario: per-key seasonal and shingled detectors catch out-of-place values; a global forest does not."""
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from models.series.detector import SeriesDetector
from simulation.seasonal import seasonal_events

THRESHOLD = 0.999  # one threshold for every key and detector: about one false alarm per 1,000 normal events


def caught(events: pd.DataFrame, flagged: np.ndarray, span: int) -> tuple[float, int]:
    """(recall, false positives): an anomaly is caught by a flag on it or the `span` - 1 events after it
    (a shingled detector sees a lone spike in every shingle that holds it); other flags are false positives."""
    recall, near = [], np.zeros(len(events), dtype=bool)
    for _, key in events.groupby("key").indices.items():
        for i in key[events["is_anomaly"].to_numpy()[key]]:
            window = key[(key >= i) & (key < i + span)]
            near[window] = True
            recall.append(bool(flagged[window].any()))
    return float(np.mean(recall)), int((flagged & ~near).sum())


def test_seasonal_and_shingled_detectors_catch_what_a_global_forest_misses():
    events = seasonal_events(keys=5, weeks=4, step_minutes=15, anomalies_per_key=2, quiet_weeks=3, seed=0)
    results = {}
    for name in ("seasonal", "rcf"):
        detector = SeriesDetector(detectors=(name,), num_trees=30, tree_size=128, seed=1)
        scored = pd.concat([detector.update(None, g)[0].set_index(g.index) for _, g in events.groupby("key")])
        flagged = scored.loc[events.index, "score"].to_numpy() >= THRESHOLD
        results[name] = caught(events, flagged, span=1 if name == "seasonal" else detector.shingler.size)
    forest = IsolationForest(random_state=0).fit(events[["value"]])
    raw = -forest.score_samples(events[["value"]])
    top = raw >= np.sort(raw)[-int(events["is_anomaly"].sum())]  # even told how many anomalies there are
    results["global forest"] = caught(events, top, span=1)
    print(results)
    assert results["seasonal"][0] == 1.0 and results["seasonal"][1] <= 5
    assert results["rcf"][0] >= 0.7 and results["rcf"][1] <= len(events) * 2 / 1000
    assert results["global forest"][0] <= 0.1
