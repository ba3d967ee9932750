"""A Kubernetes API server on 127.0.0.1 for the TrainJob launcher's tests, with a Kubeflow Trainer stand-in.

It speaks the few REST endpoints the launcher's real `kubernetes` client calls:

    POST /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs         create (CRD-validated)
    GET  /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs/{name}  read with status
    GET  /api/v1/namespaces/{ns}/pods?labelSelector=...                          list pods
    GET  /api/v1/namespaces/{ns}/pods/{pod}/log?container=node&follow=true      stream a container log

A created TrainJob is run as the torch-distributed runtime would: one "pod" per node, a local process
running the job's command with the PET_* variables the Trainer injects, the job's env with `valueFrom`
resolved from the ConfigMaps and Secrets given here, and the node image's environment (`node_env`).
Pods carry JobSet's labels; the job ends with a Complete or Failed condition.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from tests.servers import free_port

TRAINJOBS = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/"
PODS = "/api/v1/namespaces/"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    phase: str = "Pending"
    created: str = field(default_factory=_now)
    log: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels,
                "creationTimestamp": self.created,
            },
            "status": {"phase": self.phase},
        }


@dataclass
class FakeCluster:
    """State of the fake cluster; `url` once started (see `fake_cluster`)."""

    config_maps: dict[str, dict[str, str]]
    secrets: dict[str, dict[str, str]]
    node_env: dict[str, str]
    workdir: Path
    validate: Any = None  # callable(doc) -> list of problems (the CRD schema), or None
    forbid: bool = False  # answer 403 to every request, like a ServiceAccount without RBAC
    url: str = ""
    trainjobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pods: dict[tuple[str, str], Pod] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the Trainer stand-in ----------------------------------------------------------
    def _value(self, namespace: str, item: dict[str, Any]) -> str:
        if "value" in item:
            return str(item["value"])
        ref = item["valueFrom"]
        kind, store = (
            ("configMapKeyRef", self.config_maps)
            if "configMapKeyRef" in ref
            else ("secretKeyRef", self.secrets)
        )
        name, key = ref[kind]["name"], ref[kind]["key"]
        if key not in store.get(name, {}):
            what = "ConfigMap" if kind == "configMapKeyRef" else "Secret"
            raise KeyError(f"couldn't find key {key} in {what} {namespace}/{name}")
        return store[name][key]

    def _finish(self, job: dict[str, Any], failed: str | None) -> None:
        condition = (
            {"type": "Failed", "status": "True", "reason": "JobSetFailed", "message": failed}
            if failed
            else {
                "type": "Complete",
                "status": "True",
                "reason": "JobSetCompleted",
                "message": "jobset completed",
            }
        )
        with self.lock:
            job["status"] = {"conditions": [{**condition, "lastTransitionTime": _now()}]}

    def _run(self, job: dict[str, Any]) -> None:
        meta, trainer = job["metadata"], job["spec"]["trainer"]
        namespace, name = meta["namespace"], meta["name"]
        nodes, nproc = int(trainer.get("numNodes", 1)), int(trainer.get("numProcPerNode", 1))
        port = free_port()
        pods = []
        for rank in range(nodes):
            labels = {
                "jobset.sigs.k8s.io/jobset-name": name,
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "batch.kubernetes.io/job-completion-index": str(rank),
            }
            pod = Pod(namespace, f"{name}-node-0-{rank}-{uuid.uuid4().hex[:5]}", labels)
            with self.lock:
                self.pods[(namespace, pod.name)] = pod
            pods.append(pod)
        try:
            job_env = {item["name"]: self._value(namespace, item) for item in trainer.get("env", [])}
        except KeyError as exc:
            for pod in pods:
                pod.done.set()
            self._finish(job, f"pod {pods[0].name}: CreateContainerConfigError: {exc.args[0]}")
            return
        bin_dir = Path(sys.executable).parent  # the "image": this virtual environment
        command = [
            shutil.which(trainer["command"][0], path=str(bin_dir)),
            *trainer["command"][1:],
            *trainer["args"],
        ]
        for rank, pod in enumerate(pods):
            env = {
                "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
                "HOME": os.environ.get("HOME", "/tmp"),
                **self.node_env,
                **job_env,
                "PET_NNODES": str(nodes),
                "PET_NPROC_PER_NODE": str(nproc),
                "PET_NODE_RANK": str(rank),
                "PET_MASTER_ADDR": "127.0.0.1",
                "PET_MASTER_PORT": str(port),
            }
            proc = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            pod.phase = "Running"
            self.processes.append(proc)
            threading.Thread(target=self._collect, args=(pod, proc), daemon=True).start()
        for pod in pods:
            pod.done.wait()
        failed = [p for p in pods if p.phase == "Failed"]
        self._finish(job, f"jobset failed: pod {failed[0].name} (node) failed" if failed else None)

    @staticmethod
    def _collect(pod: Pod, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            pod.log.append(line.rstrip("\n"))
        pod.phase = "Succeeded" if proc.wait() == 0 else "Failed"
        pod.done.set()

    # ---- the API ---------------------------------------------------------------------------
    def create(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("metadata", {}).get("name", "")
        problems = self.validate(body) if self.validate else []
        if problems:
            return 422, status(
                422, "Invalid", f'TrainJob.trainer.kubeflow.org "{name}" is invalid: {problems}'
            )
        with self.lock:
            if (namespace, name) in self.trainjobs:
                return 409, status(
                    409, "AlreadyExists", f'trainjobs.trainer.kubeflow.org "{name}" already exists'
                )
            job = json.loads(json.dumps(body))
            job["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_now(), namespace=namespace)
            self.trainjobs[(namespace, name)] = job
        threading.Thread(target=self._run, args=(job,), daemon=True).start()
        return 201, job

    def pod_list(self, namespace: str, selector: str) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        with self.lock:
            items = [
                p.body()
                for (ns, _), p in self.pods.items()
                if ns == namespace and all(p.labels.get(k) == v for k, v in wanted.items())
            ]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    def log_lines(self, namespace: str, pod_name: str, follow: bool) -> Iterator[str]:
        pod = self.pods[(namespace, pod_name)]
        sent = 0
        while True:
            finished = pod.done.is_set()
            while sent < len(pod.log):
                yield pod.log[sent] + "\n"
                sent += 1
            if finished or not follow:
                return
            time.sleep(0.05)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            cluster.requests.append((method, url.path))
            if cluster.forbid:
                return self._json(
                    403, status(403, "Forbidden", f"{method} {url.path} is forbidden for this user")
                )
            parts = url.path.strip("/").split("/")
            if url.path.startswith(TRAINJOBS) and parts[-1] == "trainjobs" and method == "POST":
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                return self._json(*cluster.create(parts[4], body))
            if url.path.startswith(TRAINJOBS) and parts[-2] == "trainjobs" and method == "GET":
                job = cluster.trainjobs.get((parts[4], parts[-1]))
                if job is None:
                    return self._json(404, status(404, "NotFound", f'trainjobs "{parts[-1]}" not found'))
                with cluster.lock:
                    return self._json(200, json.loads(json.dumps(job)))
            if url.path.startswith(PODS) and parts[-1] == "pods" and method == "GET":
                return self._json(200, cluster.pod_list(parts[3], query.get("labelSelector", "")))
            if url.path.startswith(PODS) and parts[-1] == "log" and method == "GET":
                if (parts[3], parts[5]) not in cluster.pods:
                    return self._json(404, status(404, "NotFound", f'pods "{parts[5]}" not found'))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for line in cluster.log_lines(
                    parts[3], parts[5], query.get("follow", "").lower() in ("true", "1")
                ):
                    self.wfile.write(line.encode())
                    self.wfile.flush()
                return None
            return self._json(404, status(404, "NotFound", f"{method} {url.path} is not served here"))

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@contextmanager
def fake_cluster(cluster: FakeCluster, namespace: str = "pathreasoner") -> Iterator[FakeCluster]:
    """Serve `cluster` on a free port; sets KUBECONFIG to a kubeconfig for it (context namespace `namespace`)."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(cluster))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cluster.url = f"http://127.0.0.1:{server.server_port}"
    kubeconfig = cluster.workdir / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": cluster.url}}],
                "users": [{"name": "pipeline", "user": {"token": "test-token"}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {"cluster": "fake", "user": "pipeline", "namespace": namespace},
                    }
                ],
                "current-context": "fake",
            }
        )
    )
    saved = {key: os.environ.get(key) for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    os.environ["KUBECONFIG"] = str(kubeconfig)
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    try:
        yield cluster
    finally:
        for proc in cluster.processes:  # a test that failed early leaves no training process behind
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers: the session it leads
                proc.wait(timeout=30)
        server.shutdown()
        server.server_close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
