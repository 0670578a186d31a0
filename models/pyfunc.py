"""The pandas face of a registered model: features in, anomaly_score and is_anomaly out.

MLflow logs this class from code (models.pyfunc_code, MLflow's "models from
code"), not as a pickled object: the version's artifacts hold the trees
(`forest.joblib`) and the metadata (`isoguard.json`), and loading runs the code
file, which builds an `IsoguardPyfunc` from this module. Loading therefore
needs isoguard importable, as it did when the object was pickled by reference.

Versions registered before carry a cloudpickled `models.registry.IsoguardPyfunc`;
models.registry resolves that name to this class so they still load.
"""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import mlflow
import pandas as pd

from features.engineering import feature_matrix

FOREST_ARTIFACT, META_ARTIFACT = "forest", "meta"  # names of the version's artifacts in the pyfunc context


class IsoguardPyfunc(mlflow.pyfunc.PythonModel):
    """Scores a pandas frame with the version's forest; missing features imputed as on every other path."""

    def load_context(self, context):
        self.forest_ = joblib.load(context.artifacts[FOREST_ARTIFACT])
        self.meta_ = json.loads(Path(context.artifacts[META_ARTIFACT]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        scores = -self.forest_.score_samples(feature_matrix(model_input, self.meta_["features"]))
        return pd.DataFrame({"anomaly_score": scores, "is_anomaly": scores >= self.meta_["threshold"]})
