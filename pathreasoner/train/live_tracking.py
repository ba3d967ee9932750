"""Live MLflow tracking of a training stage: one run per stage, curves logged while it trains.

HF's MLflowCallback logs every `on_log` dict (loss, learning rate, grad norm; GRPO: reward and each
`rewards/<func>/mean|std`, KL, completion lengths) at its global step into the run started here;
`CompletionsTable` adds GRPO's latest prompts, completions and rewards as a table every N steps.
The run lives in `registry.experiment` at `cfg.tracking_uri`, tagged with the stage and config hash;
its id goes into summary.json (`extra.mlflow_run_id`) so `register` can link the training runs. A
resumed run continues the MLflow run of the attempt it resumes. Only the main process logs.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from transformers import TrainerCallback
from transformers.integrations import MLflowCallback

from pathreasoner.config import Config
from pathreasoner.registry.failures import TRANSPORT_ERRORS

logger = logging.getLogger(__name__)

COMPLETIONS_DIR = "completions"


@contextlib.contextmanager
def tracking_run(
    cfg: Config, stage: str, trainer: Any, resume_run_id: str | None = None
) -> Iterator[str | None]:
    """Log `trainer` to MLflow while it trains; yields the run id (None when off or not the main process).

    The run is ended FINISHED, or FAILED when training raises (a later resume reattaches to it).
    """
    if not cfg.training.mlflow or not trainer.is_world_process_zero():
        yield None
        return
    from pathreasoner.registry.tracking import configure

    tracking = configure(cfg)
    run = _start_or_reattach(tracking.experiment_id, stage, cfg, resume_run_id)
    trainer.add_callback(MLflowCallback())  # attaches to the active run: logs params, then every log dict
    status = "FAILED"
    try:
        yield run.info.run_id
        status = "FINISHED"
    finally:
        trainer.remove_callback(MLflowCallback)
        try:
            mlflow.flush_async_logging()  # MLflowCallback logs asynchronously
            mlflow.end_run(status=status)
        except TRANSPORT_ERRORS as exc:  # the weights are saved: a tracking hiccup must not fail the stage
            logger.warning(
                "could not close MLflow run %s at %s: %s", run.info.run_id, tracking.tracking_uri, exc
            )


def _start_or_reattach(experiment_id: str, stage: str, cfg: Config, resume_run_id: str | None) -> Any:
    tags = {"pathreasoner.stage": stage, "pathreasoner.config_hash": cfg.config_hash()}
    if mlflow.active_run() is not None:  # e.g. left by an earlier stage of this process that raised
        mlflow.end_run(status="KILLED")
    if resume_run_id:
        try:
            run = mlflow.start_run(run_id=resume_run_id)
            mlflow.set_tag("pathreasoner.resumed", "true")
            return run
        except MlflowException as exc:
            logger.warning("cannot continue MLflow run %s (%s); starting a new run", resume_run_id, exc)
            tags["pathreasoner.resumed_from_run"] = resume_run_id
    run = mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{stage}-{cfg.config_hash()[:8]}", tags=tags
    )
    mlflow.log_text(cfg.to_yaml(), "config.yaml")
    return run


def message_text(value: Any) -> str:
    """The text of a prompt or completion: a string, or the text blocks of a list of chat messages."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return str(value)
    parts: list[str] = []
    for message in value:
        content = message.get("content") if isinstance(message, dict) else message
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
            )
    return "\n".join(p for p in parts if p)


def _number(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def completion_rows(trainer: Any, step: int) -> list[dict[str, Any]]:
    """The latest generation batch of a GRPOTrainer: step, prompt (its last message), completion, each
    reward function's score, the weighted total `reward` and the advantage."""
    logs = getattr(trainer, "_logs", None)
    if not logs or not logs.get("completion"):
        return []
    names = list(trainer.reward_func_names)
    weights = [float(w) for w in trainer.reward_weights]
    rows = []
    for i, (prompt, completion) in enumerate(zip(logs["prompt"], logs["completion"], strict=True)):
        scores = {name: _number(logs["rewards"][name][i]) for name in names}
        present = [(weights[j], s) for j, s in enumerate(scores.values()) if s is not None]
        advantage = logs["advantages"][i] if i < len(logs["advantages"]) else None
        rows.append(
            {
                "step": step,
                "prompt": message_text(prompt[-1:] if isinstance(prompt, list) else prompt),
                "completion": message_text(completion),
                **scores,
                "reward": sum(w * s for w, s in present) if present else None,
                "advantage": _number(advantage),
            }
        )
    return rows


class CompletionsTable(TrainerCallback):
    """Every `every` steps, log GRPO's latest completions as `completions/step_<N>.json` (an MLflow table)."""

    def __init__(self, trainer: Any, every: int) -> None:
        self.trainer = trainer
        self.every = every
        self.last_step = 0

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        step = state.global_step
        if (
            not state.is_world_process_zero
            or mlflow.active_run() is None
            or step < self.last_step + self.every
        ):
            return
        rows = completion_rows(self.trainer, step)
        if rows:
            self.last_step = step
            columns = {key: [row[key] for row in rows] for key in rows[0]}
            mlflow.log_table(columns, artifact_file=f"{COMPLETIONS_DIR}/step_{step:06d}.json")
