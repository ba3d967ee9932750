"""MLflow "models from code" entry: logged as the model's code so nothing is pickled.

MLflow executes this file when the model is loaded; it only declares which PythonModel to use.
"""

from __future__ import annotations

import mlflow.models

from pathreasoner.registry.pyfunc_model import PathReasonerPyfunc

mlflow.models.set_model(PathReasonerPyfunc())
