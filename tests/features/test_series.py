"""Per-key series features: shingles across batches with late events and gaps, time encodings, selection."""
import logging

import numpy as np
import pandas as pd
import pytest

from features.series import (Shingler, cyclic_time_features, differences, hour_of_week, select_features,
                             standardise_against)


def test_a_shingle_crosses_batch_boundaries_and_skips_an_out_of_order_event():
    shingler = Shingler(size=3, period_seconds=10)
    state = shingler.initial_state()
    rows, late = shingler.push(state, np.array([0.0, 10.0]), np.array([1.0, 2.0]))
    assert np.isnan(rows).all() and not late.any()
    # next batch: an event older than the newest (5 s) arrives with two in order
    rows, late = shingler.push(state, np.array([5.0, 20.0, 30.0]), np.array([99.0, 3.0, 4.0]))
    assert late.tolist() == [True, False, False]
    assert np.isnan(rows[0]).all() and rows[1:].tolist() == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]
    assert int(state["late"][0]) == 1


@pytest.mark.parametrize("imputation, expected", [("previous", [2.0, 2.0, 8.0]), ("linear", [4.0, 6.0, 8.0]),
                                                  ("zero", [0.0, 0.0, 8.0])])
def test_gaps_are_filled_by_the_configured_imputation(imputation, expected):
    shingler = Shingler(size=3, period_seconds=10, imputation=imputation)
    state = shingler.initial_state()
    shingler.push(state, np.array([0.0, 10.0]), np.array([1.0, 2.0]))
    rows, _ = shingler.push(state, np.array([40.0]), np.array([8.0]))   # 20 s and 30 s are missing
    assert rows[0].tolist() == expected and int(state["imputed"][0]) == 2


def test_the_period_is_inferred_from_the_first_steps_when_not_configured():
    shingler = Shingler(size=2, infer_steps=4)
    state = shingler.initial_state()
    shingler.push(state, np.array([0.0, 60, 120, 180, 240]), np.arange(5.0))
    assert state["period"][0] == 60
    rows, _ = shingler.push(state, np.array([420.0]), np.array([7.0]))  # two periods missing, one fits
    assert rows[0].tolist() == [4.0, 7.0] and int(state["imputed"][0]) == 1


def test_cyclic_encodings_put_midnight_next_to_late_evening():
    f = cyclic_time_features(pd.Series(pd.to_datetime(["2026-11-30 23:30", "2026-12-01 00:30",
                                                       "2026-11-30 11:30"])))
    hours = f[["hour_sin", "hour_cos"]].to_numpy()
    assert np.linalg.norm(hours[0] - hours[1]) < 0.3 < np.linalg.norm(hours[0] - hours[2])


def test_hour_of_week_starts_on_monday():
    monday = pd.Timestamp("2026-11-30 00:30").timestamp()
    assert hour_of_week(np.array([monday, monday + 3600 * 25, monday - 3600])).tolist() == [0, 25, 167]


def test_standardisation_and_differences_per_key():
    frame = pd.DataFrame({"k": ["a", "b", "a"], "t": [1, 1, 2], "v": [3.0, 10.0, 7.0]})
    base = pd.DataFrame({"k": ["a", "b"], "feature": ["v", "v"], "mean": [1.0, 10.0], "std": [2.0, 0.0]})
    assert standardise_against(frame, base, "k", ["v"])["v_z"].tolist()[::2] == [1.0, 3.0]
    assert np.isnan(standardise_against(frame, base, "k", ["v"])["v_z"][1])
    assert differences(frame, "k", "t", ["v"])["v_diff1"].tolist()[2] == 4.0


def test_selection_drops_constant_and_duplicated_features_and_names_them(caplog):
    frame = pd.DataFrame({"cpu": [1.0, 2, 3, 4], "zero": [0.0] * 4, "cpu_copy": [1.0, 2, 3, 4],
                          "mem": [2.0, 1, 4, 3]})
    with caplog.at_level(logging.INFO, logger="features.series"):
        chosen = select_features(frame, list(frame), scores=pd.Series([0.0, 0.1, 0.2, 0.9]))
    assert chosen.kept == ["cpu", "mem"] and chosen.constant == ["zero"] and chosen.duplicated == {"cpu_copy": "cpu"}
    assert "zero" in caplog.text and "cpu_copy" in caplog.text
    assert chosen.contribution["cpu"] > chosen.contribution["mem"] > 0


@pytest.mark.parametrize("kwargs, name", [({"size": 0}, "shingle_size"), ({"period_seconds": -1}, "period_seconds"),
                                          ({"imputation": "mean"}, "imputation"), ({"infer_steps": 99}, "infer_steps")])
def test_bad_shingle_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Shingler(**kwargs)
