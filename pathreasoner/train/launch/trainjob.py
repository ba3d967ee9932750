"""`TrainJobLauncher`: a training stage as a Kubeflow Trainer v2 `TrainJob` on GPU nodes.

The job runs our image's CLI under torchrun on the `torch-distributed` runtime (the Trainer injects
PET_NNODES / PET_NPROC_PER_NODE / PET_NODE_RANK / PET_MASTER_ADDR / PET_MASTER_PORT, which torchrun
reads); DeepSpeed comes from the run's config (`sft.deepspeed` / `grpo.deepspeed`). The pods get the same
ConfigMap and Secrets as the pipeline steps. Inputs and outputs travel through S3:

    <staging>/<job>/params.yaml   the run's config (portable, launcher.kind=in_process)
    <staging>/<job>/samples/      the samples, unless they already are on S3 (a KFP artifact URI)
    <staging>/<job>/init/         GRPO's start checkpoint, unless already on S3 or a models:/ URI
    <staging>/<job>/out/          checkpoint/, summary.json, train_log.json, unless --out is on S3

`<staging>` is `launcher.staging_uri`, else `<pipeline.pipeline_root>/trainjobs`. The launcher creates the
TrainJob with the official `kubernetes` client (the kubeflow SDK's container trainer cannot set the command
nor take env values from Secrets), streams the logs of the rank-0 pod, waits for the Complete or Failed
condition and raises TrainingError with the job's message on failure; a local --out gets the outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import ConfigError, TrainingError
from pathreasoner.io_utils import atomic_write_json
from pathreasoner.kube_errors import api_error_message
from pathreasoner.portable import ENDPOINT_KEYS, MLFLOW_KEYS, S3_KEYS, portable_config
from pathreasoner.train.launch import storage
from pathreasoner.train.launch.base import LaunchResult, TrainArgs

logger = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
NODE = "node"  # replicated job and container of the torch-distributed runtime
MANAGER = "pathreasoner.io/launcher"
COMMAND = ["torchrun", "-m", "pathreasoner.cli"]
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # RFC 1035 label, as the TrainJob CRD requires
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TERMINAL = ("Complete", "Failed")


def job_name(stage: str, key: str) -> str:
    """`<stage>-<10 hex>`, a stable function of `key` (e.g. the output URI): a resubmitted step finds its job."""
    return f"{stage}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def job_config(cfg: Config) -> Config:
    """The config the TrainJob's pods load: portable (no path of this machine), training in-process."""
    portable = portable_config(cfg)
    return portable.model_copy(
        update={"launcher": portable.launcher.model_copy(update={"kind": "in_process"})}
    )


def _env(cfg: Config) -> list[dict[str, Any]]:
    """The pipeline steps' environment: endpoints from the ConfigMap, credentials from the Secrets."""
    p = cfg.pipeline
    env: list[dict[str, Any]] = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    if p.env_config_map:
        env += [
            {"name": k, "valueFrom": {"configMapKeyRef": {"name": p.env_config_map, "key": k}}}
            for k in ENDPOINT_KEYS
        ]
    for secret, keys in ((p.s3_secret, S3_KEYS), (p.mlflow_secret, MLFLOW_KEYS)):
        if secret:
            env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": k}}} for k in keys]
    return env


def trainjob_manifest(cfg: Config, stage: str, name: str, namespace: str, argv: list[str]) -> dict[str, Any]:
    """The TrainJob running `torchrun -m pathreasoner.cli <argv>` (argv: the stage and its options) on
    launcher.num_nodes nodes x gpus_per_node GPUs, one process per GPU."""
    if not NAME_RE.match(name) or len(name) > 63:
        raise TrainingError(
            f"TrainJob name {name!r} must be a lowercase RFC 1035 label of at most 63 characters"
        )
    launch, pipe = cfg.launcher, cfg.pipeline
    resources = {"cpu": launch.cpu_per_node, "memory": launch.memory_per_node}
    if launch.gpus_per_node:
        resources[pipe.gpu_resource] = str(launch.gpus_per_node)
    pod: dict[str, Any] = {}
    if launch.service_account:
        pod["serviceAccountName"] = launch.service_account
    if launch.gpus_per_node:
        if pipe.gpu_node_selector:
            pod["nodeSelector"] = dict(pipe.gpu_node_selector)
        pod["tolerations"] = [{"key": pipe.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
    spec: dict[str, Any] = {
        "runtimeRef": {"name": launch.runtime},
        "activeDeadlineSeconds": launch.timeout_s,
        "trainer": {
            "image": pipe.images.trainer,
            "command": COMMAND,
            "args": argv,
            "numNodes": launch.num_nodes,
            "numProcPerNode": max(1, launch.gpus_per_node),
            "resourcesPerNode": {"requests": resources, "limits": dict(resources)},
            "env": _env(cfg),
        },
    }
    if pod:
        replicated = {"name": NODE, "template": {"spec": {"template": {"spec": pod}}}}
        spec["runtimePatches"] = [
            {
                "manager": MANAGER,
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [replicated]}}},
            }
        ]
    labels = {
        "app.kubernetes.io/name": "pathreasoner-trainjob",
        "app.kubernetes.io/part-of": "pathreasoner",
        "app.kubernetes.io/component": "training",
        "pathreasoner.io/stage": stage,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def staging_root(cfg: Config) -> str:
    """launcher.staging_uri, else <pipeline.pipeline_root>/trainjobs; it must be on S3."""
    root = cfg.launcher.staging_uri or storage.join(cfg.pipeline.pipeline_root, "trainjobs")
    if not storage.is_s3(root):
        raise ConfigError(
            f"TrainJob inputs and outputs go through S3, but the staging prefix is {root!r}; set "
            "launcher.staging_uri (or pipeline.pipeline_root) to an s3:// prefix"
        )
    return root


def rank0_selector(name: str) -> str:
    """Labels JobSet puts on the first pod of the TrainJob's `node` job (node rank 0, hence global rank 0)."""
    return (
        f"jobset.sigs.k8s.io/jobset-name={name},jobset.sigs.k8s.io/replicatedjob-name={NODE},"
        "batch.kubernetes.io/job-completion-index=0"
    )


def terminal_condition(job: dict[str, Any]) -> tuple[str, str] | None:
    """("Complete" | "Failed", message) once the TrainJob has finished, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in TERMINAL and cond.get("status") == "True":
            return cond["type"], cond.get("message") or cond.get("reason") or ""
    return None


def _api_error(exc: Any, what: str) -> TrainingError:
    hints = {
        403: "the ServiceAccount may not do this; apply k8s/base/rbac.yaml (Role pathreasoner-pipeline)",
        404: "is Kubeflow Trainer v2 installed (TrainJob CRD, trainer.kubeflow.org/v1alpha1)?",
        422: "the TrainJob was rejected as invalid; check launcher.* and the runtime name",
    }
    return TrainingError(api_error_message(exc, what, hints, "check the cluster and launcher.namespace"))


class TrainJobLauncher:
    """Submits `pathreasoner <stage>` as a TrainJob and follows it to the end (see the module docstring)."""

    def __init__(self, cfg: Config, out: Any = None) -> None:
        self.cfg = cfg
        self.out = out or sys.stderr  # where the rank-0 log lines are streamed
        self._apis: tuple[Any, Any] | None = None

    # ---- Kubernetes access -------------------------------------------------------------
    def apis(self) -> tuple[Any, Any]:
        """(CustomObjectsApi, CoreV1Api): in a pod its ServiceAccount, elsewhere the kubeconfig."""
        if self._apis is None:
            from kubernetes import client, config

            try:
                if os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config()
                else:  # KUBECONFIG as it is now (the client reads it once, at import)
                    config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
            except config.ConfigException as exc:
                raise TrainingError(
                    f"no Kubernetes access to submit a TrainJob: {exc}; run in the cluster or set KUBECONFIG, "
                    "or train here with launcher.kind=in_process or torchrun"
                ) from None
            api = client.ApiClient()
            self._apis = client.CustomObjectsApi(api), client.CoreV1Api(api)
        return self._apis

    def namespace(self) -> str:
        """launcher.namespace, else the submitting pod's namespace, else the kubeconfig context's."""
        if self.cfg.launcher.namespace:
            return self.cfg.launcher.namespace
        if SA_NAMESPACE_FILE.is_file():
            return SA_NAMESPACE_FILE.read_text().strip()
        from kubernetes import config

        try:
            _, active = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
            return (active or {}).get("context", {}).get("namespace") or "default"
        except config.ConfigException:
            return "default"

    # ---- the launch ----------------------------------------------------------------------
    def launch(self, stage: str, args: TrainArgs) -> LaunchResult:
        args.check(stage)
        name = args.job_name or job_name(stage, f"{args.out}@{time.time_ns()}")
        prefix = storage.join(staging_root(self.cfg), name)
        config = job_config(self.cfg)  # ConfigError before anything is uploaded or submitted
        remote = TrainArgs(
            samples=self._remote(args.samples, storage.join(prefix, "samples")),
            out=args.out if storage.is_s3(args.out) else storage.join(prefix, "out"),
            init=self._remote(args.init, storage.join(prefix, "init"), checkpoint=True)
            if args.init
            else None,
        )
        config_uri = storage.join(prefix, "params.yaml")
        storage.upload_text(config.to_yaml(), config_uri)
        namespace = self.namespace()
        manifest = trainjob_manifest(self.cfg, stage, name, namespace, remote.cli(stage, config_uri))
        self._create(manifest)
        tail = self._follow(namespace, name)
        summary = json.loads(storage.read_text(storage.join(remote.out, "summary.json")))
        if not storage.is_s3(args.out):
            local = Path(args.out)
            storage.download(remote.out, local)
            summary["checkpoint"] = str(local / Path(summary["checkpoint"]).name)
            atomic_write_json(local / "summary.json", summary)
        launch = self.cfg.launcher
        where = f"TrainJob {namespace}/{name}, {launch.num_nodes} node(s) x {max(1, launch.gpus_per_node)} process(es)"
        return LaunchResult(stage, args.out, summary, where, list(tail))

    def _remote(self, value: str, staged: str, checkpoint: bool = False) -> str:
        """An input as the pods can read it: s3:// and models:/ as given, a local folder uploaded first."""
        if storage.is_s3(value) or value.startswith("models:/"):
            return value
        local = Path(value)
        if checkpoint and (local / "checkpoint").is_dir():
            local = local / "checkpoint"
        if not local.is_dir():
            raise TrainingError(
                f"{value} is not a folder; pass the samples / checkpoint folder or its s3:// URI"
            )
        storage.upload_dir(local, staged)
        return staged

    def _create(self, manifest: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        custom, _ = self.apis()
        meta = manifest["metadata"]
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, manifest)
            logger.info("created TrainJob %s/%s", meta["namespace"], meta["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise _api_error(exc, f"creating TrainJob {meta['namespace']}/{meta['name']}") from None
            logger.info("TrainJob %s/%s exists already: following it", meta["namespace"], meta["name"])

    def _follow(self, namespace: str, name: str) -> deque[str]:
        """Stream the rank-0 pod's log, wait for the terminal condition; raise on Failed or timeout."""
        from kubernetes.client.exceptions import ApiException

        custom, core = self.apis()
        launch = self.cfg.launcher
        deadline = time.monotonic() + launch.timeout_s + 600
        streamed: set[str] = set()
        tail: deque[str] = deque(maxlen=40)
        while True:
            try:
                job = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
                pods = core.list_namespaced_pod(namespace, label_selector=rank0_selector(name)).items
            except ApiException as exc:
                raise _api_error(exc, f"reading TrainJob {namespace}/{name}") from None
            pod = self._next_pod(pods, streamed)
            if pod is not None:
                streamed.add(pod)
                for line in self._log_lines(core, namespace, pod):
                    tail.append(line)
                    print(f"[{name} rank 0] {line}", file=self.out, flush=True)
                continue  # the container stopped: look at the job again at once
            finished = terminal_condition(job)
            if finished is not None:
                state, message = finished
                if state == "Failed":
                    last = "\n".join(tail) or "(no log lines)"
                    raise TrainingError(
                        f"TrainJob {namespace}/{name} failed: {message}\nlast log lines of rank 0:\n{last}"
                    )
                logger.info("TrainJob %s/%s complete", namespace, name)
                return tail
            if time.monotonic() > deadline:
                raise TrainingError(
                    f"TrainJob {namespace}/{name} did not finish within launcher.timeout_s={launch.timeout_s} s "
                    f"(+600 s); inspect it with kubectl -n {namespace} describe trainjob {name}"
                )
            time.sleep(launch.poll_interval_s)

    @staticmethod
    def _next_pod(pods: list[Any], streamed: set[str]) -> str | None:
        """The newest rank-0 pod whose container has started and whose log was not streamed yet."""
        ready = [
            p
            for p in pods
            if p.status.phase in ("Running", "Succeeded", "Failed") and p.metadata.name not in streamed
        ]
        ready.sort(key=lambda p: str(p.metadata.creation_timestamp or ""))
        return ready[-1].metadata.name if ready else None

    @staticmethod
    def _log_lines(core: Any, namespace: str, pod: str) -> Iterator[str]:
        """The container's log, followed until it stops (the whole log for a finished pod)."""
        from kubernetes.client.exceptions import ApiException

        try:
            response = core.read_namespaced_pod_log(
                pod, namespace, container=NODE, follow=True, _preload_content=False
            )
        except ApiException as exc:
            logger.warning("cannot read the log of pod %s/%s: %s", namespace, pod, exc.reason)
            return
        partial = b""
        try:
            while chunk := response.read1(65536):  # what has arrived, not a full buffer: lines show live
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace").rstrip("\r")
            if partial:
                yield partial.decode("utf-8", "replace")
        finally:
            response.release_conn()
