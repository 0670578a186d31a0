"""The code MLflow logs as the registered model (models from code): `mlflow.pyfunc.load_model` runs it.

models.registry logs it with `mlflow.pyfunc.log_model(python_model=<path of this file>, ...)`.
It only names the model object (its logic lives in models.pyfunc); nothing imports it.
"""
from __future__ import annotations

import mlflow

from models.pyfunc import IsoguardPyfunc

mlflow.models.set_model(IsoguardPyfunc())
