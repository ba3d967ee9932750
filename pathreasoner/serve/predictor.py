"""The KServe predictor: a kserve.Model that answers image + question with observe/think/answer.

``load()`` resolves ``serving.model_uri``: ``models:/<name>@<alias>`` (or ``/<version>``) through the
MLflow registry, or a local directory — a checkpoint (``config.json``), a downloaded MLflow model
(``artifacts/checkpoint``) or a folder holding ``checkpoint/`` — e.g. ``/mnt/models`` filled by the KServe
storage initializer from ``STORAGE_URI``. Malformed requests raise ``kserve.errors.InvalidInput``,
which KServe answers with HTTP 400 and ``{"error": "<problem and fix>"}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathreasoner.config import Config
from pathreasoner.errors import PathReasonerError, RequestError, ServingError
from pathreasoner.serve.answer import answer_instances
from pathreasoner.serve.batching import GenerationOptions, Item, MicroBatcher
from pathreasoner.serve.grounding import GroundingKB
from pathreasoner.serve.kserve_compat import InferRequest, InferResponse, InvalidInput, kserve
from pathreasoner.serve.lineage import ModelLineage, lineage_headers
from pathreasoner.serve.model_process import ModelPool, ModelProcess, ModelSpec
from pathreasoner.serve.request import Limits, parse_request
from pathreasoner.serve.v2 import parse_v2, v2_parameters, v2_response

if TYPE_CHECKING:
    from pathreasoner.model.inference import PreparedItem

logger = logging.getLogger(__name__)

CHECKPOINT_LAYOUTS = (".", "artifacts/checkpoint", "checkpoint", "model/artifacts/checkpoint")


def resolve_model_dir(model_uri: str, cfg: Config) -> Path:
    """A local checkpoint directory for `model_uri` (registry URI, file:// URI or local path)."""
    if model_uri.startswith("models:/"):
        from pathreasoner.registry.mlflow_registry import resolve_checkpoint

        return resolve_checkpoint(model_uri, cfg)
    if model_uri.startswith("file://"):
        model_uri = model_uri[len("file://") :]
    elif "://" in model_uri:
        raise ServingError(
            f"serving.model_uri {model_uri!r} is a remote URI; set it as STORAGE_URI so the KServe storage "
            "initializer downloads it, and pass the local folder (/mnt/models) as --model-uri"
        )
    root = Path(model_uri).expanduser()
    for layout in CHECKPOINT_LAYOUTS:
        candidate = (root / layout).resolve()
        if (candidate / "config.json").exists():
            return candidate
    raise ServingError(
        f"no checkpoint under {root} (looked for config.json in {', '.join(CHECKPOINT_LAYOUTS)}); pass a "
        "save_pretrained dir, a downloaded MLflow model dir, or models:/<name>@champion"
    )


def _device_and_dtype(cfg: Config) -> tuple[str, str]:
    """cuda with serving.dtype (bf16) when a GPU is visible; cpu/float32 only when serving.allow_cpu.

    serving.gpu_count > 0 with no visible GPU is a ServingError unless serving.allow_cpu is true.
    """
    import torch

    if torch.cuda.is_available():
        return "cuda", cfg.serving.dtype
    if cfg.serving.gpu_count > 0 and not cfg.serving.allow_cpu:
        raise ServingError(
            f"serving.gpu_count is {cfg.serving.gpu_count} but no GPU is visible (torch.cuda.is_available() "
            "is False); run on a GPU node, or set serving.allow_cpu=true (local runs) or serving.gpu_count=0 "
            "to serve on CPU"
        )
    return "cpu", "float32"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_threads(cfg: Config, models: int = 1) -> int:
    """torch intra-op threads per model for CPU serving: serving.cpu_threads, or (0) the usable cores minus
    one, split among `models` model processes (at least 1 each).

    One core stays free for the event loop (HTTP, JSON, base64 and image decoding, preparing requests) while
    a batch generates; with every core in torch, the two fight and throughput drops (docs/serving.md
    "Throughput").
    """
    return cfg.serving.cpu_threads or max(1, (usable_cores() - 1) // models)


def generates_in_process(cfg: Config, device: str) -> bool:
    """serving.model_worker: child processes generate ("auto": on a GPU, or on a CPU with 2+ usable cores).

    With a small model (or a fast GPU) generation is mostly Python: in one process the decode loop and the
    HTTP work share one GIL. On a single core the split only adds the pipe round trip (~1 ms).
    """
    if cfg.serving.model_worker != "auto":
        return cfg.serving.model_worker == "process"
    return device != "cpu" or usable_cores() >= 2


def model_processes(cfg: Config, device: str, checkpoint: Path) -> int:
    """How many model processes generate (serving.model_processes; 0: one on a GPU; on a CPU two when the
    host has 2+ usable cores and two copies of the weights fit in half its memory, so that one keeps
    generating while the other's batch gathers: docs/serving.md "Throughput")."""
    if cfg.serving.model_processes:
        return cfg.serving.model_processes
    if device != "cpu" or usable_cores() < 2:
        return 1
    weights = sum(f.stat().st_size for f in checkpoint.glob("*.safetensors")) or sum(
        f.stat().st_size for f in checkpoint.glob("*.bin")
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 2 if 2 * weights <= memory // 2 else 1


class PathReasonerModel(kserve.Model):
    """Serves the checkpoint behind `model_uri` (default cfg.serving.model_uri) under cfg.serving.model_name."""

    def __init__(self, cfg: Config, model_uri: str | None = None) -> None:
        super().__init__(cfg.serving.model_name, return_response_headers=True)
        self.cfg = cfg
        self.model_uri = model_uri or cfg.serving.model_uri
        self.limits = Limits.from_config(cfg.serving)
        self.checkpoint: Path | None = None
        self.generator: Any = None  # a Generator, or a Preparer when a ModelProcess generates
        self.model_pool: ModelPool | None = None  # the model processes, when they generate
        self.grounding: GroundingKB | None = None  # the KG slice it was trained with (grounding.json)
        self.lineage = ModelLineage(cfg.serving.model_name)
        # concurrent requests share generate() calls; one batch at a time per model (it is not re-entrant):
        # in the thread, or in each model process (lanes and the wait are set by load())
        self.batcher = MicroBatcher(self._run_batch, cfg.serving.max_batch_size, 0.0)

    def load(self) -> bool:
        import torch

        from pathreasoner.model.inference import Generator, Preparer

        try:
            self.checkpoint = resolve_model_dir(self.model_uri, self.cfg)
            device, dtype = _device_and_dtype(self.cfg)
            in_process = generates_in_process(self.cfg, device)
            count = model_processes(self.cfg, device, self.checkpoint) if in_process else 1
            threads = cpu_threads(self.cfg, count) if device == "cpu" else 0
            if device == "cpu":
                logger.info("CPU serving with %d torch thread(s) per model, %d model(s)", threads, count)
            if in_process:
                torch.set_num_threads(1)  # this process only prepares requests; the children have the cores
                spec = ModelSpec(self.checkpoint, device, dtype, self.cfg.serving.max_new_tokens, threads)
                self.model_pool = ModelPool([ModelProcess(spec) for _ in range(count)])
                self.model_pool.start()
                self.batcher.lanes = count
                self.generator = Preparer.from_checkpoint(self.checkpoint)
                # one process: batches pipeline (the next one gathers and is prepared while one generates);
                # several: a freed process waits (at most 40 ms) for its batch's clients to come back, or
                # the batches fragment into a few items each
                wait_ms = 0.0 if count == 1 else 40.0
            else:
                if threads:
                    torch.set_num_threads(threads)
                self.generator = Generator.from_checkpoint(
                    self.checkpoint,
                    max_new_tokens=self.cfg.serving.max_new_tokens,
                    device=device,
                    dtype=dtype,
                )
                wait_ms = 50.0  # one core for both: let the last batch's clients come back and merge
            configured = self.cfg.serving.max_batch_wait_ms
            self.batcher.max_wait_s = (wait_ms if configured is None else configured) / 1000
            self.grounding = GroundingKB.load(self.checkpoint)
            kb = self.grounding
            self.lineage = ModelLineage.resolve(
                self.name, self.model_uri, *((kb.kg_version, kb.data_version) if kb else ())
            )
        except ServingError:
            raise
        except PathReasonerError as exc:
            raise ServingError(f"cannot load model {self.model_uri!r}: {exc}") from exc
        self.ready = True
        logger.info("model %r ready from %s", self.name, self.checkpoint)
        return self.ready

    def validate(self, payload: Any) -> Any:
        """Validation happens in predict (parse_request) so every message says how to fix the request."""
        return payload

    def stop(self) -> None:
        """KServe's teardown (model unload, server shutdown): also stops the model processes."""
        super().stop()
        if self.model_pool is not None:
            self.model_pool.close()
            self.model_pool = None

    def _run_batch(
        self, prepared: list[PreparedItem], options: GenerationOptions, cancelled: list[threading.Event]
    ) -> tuple[list[str], list[int]]:
        if self.model_pool is not None:
            with self.model_pool.free_process() as process:
                return process.run(prepared, options.max_new_tokens, options.temperature, cancelled)
        from transformers import StoppingCriteriaList

        from pathreasoner.model.inference import StopRows

        stopping = StoppingCriteriaList([StopRows(lambda: [event.is_set() for event in cancelled])])
        return self.generator.generate_prepared(
            prepared, options.max_new_tokens, options.temperature, stopping
        )

    def generation_options(self, parameters: Any) -> GenerationOptions:
        """The request's ``parameters`` -> options within serving.max_new_tokens / max_temperature.

        Raises RequestError naming the field when a value is out of bounds.
        """
        return GenerationOptions.from_parameters(
            parameters, self.cfg.serving.max_new_tokens, self.cfg.serving.max_temperature
        )

    async def generate_batched(self, items: list[Item], options: GenerationOptions) -> list[str]:
        """Texts for `items` ((views, question) pairs), micro-batched with concurrent requests.

        Each item is tokenized and its images turned into patches as the request arrives (in a worker
        thread, while the current batch generates), so a batch spends its time in the model only.
        Raises GenerationTimeout (HTTP 504) after serving.request_timeout_s.
        """
        if self.generator is None:
            raise ServingError(f"model {self.name!r} is not loaded; call load() before predict()")
        prepared = await asyncio.to_thread(lambda: [self.generator.prepare(v, q) for v, q in items])
        return await self.batcher.submit(prepared, options, self.cfg.serving.request_timeout_s)

    async def predict(
        self,
        payload: Any,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, list[dict[str, Any]]] | InferResponse:
        """v1 ``{"instances": [{image, question}]}`` (or a bare instance) -> ``{"predictions": [...]}``;
        a v2 InferRequest of BYTES tensors -> an InferResponse (pathreasoner/serve/v2.py). Each answer
        carries its entities and lineage; the lineage also goes into `response_headers`."""
        try:
            if isinstance(payload, InferRequest):
                instances, parameters = parse_v2(payload, self.limits), v2_parameters(payload)
            else:
                instances = parse_request(payload, self.limits)
                parameters = payload.get("parameters") if isinstance(payload, dict) else None
            predictions, lineage = await answer_instances(self, instances, parameters, headers)
        except RequestError as exc:
            raise InvalidInput(str(exc)) from None
        if response_headers is not None:
            response_headers.update(lineage_headers(lineage))
        if isinstance(payload, InferRequest):
            return v2_response(payload, self.name, predictions)
        return {"predictions": predictions}
