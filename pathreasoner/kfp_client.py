"""Submit the compiled pipeline to a Kubeflow Pipelines host, once (`submit`) or on a cron (`schedule`).

Both compile the pipeline (portable config: no path of this machine) unless a compiled package is
given, get or create the experiment in the namespace, and call the KFP v2beta1 API through ``kfp.Client``.
Auth: an existing bearer token (``--token`` or ``$KFP_TOKEN``); else, inside a pod, the projected
service-account token kfp reads from ``$KF_PIPELINES_SA_TOKEN_PATH``; else none (a port-forward).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import PathReasonerError

logger = logging.getLogger(__name__)

TOKEN_ENV = "KFP_TOKEN"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0


class KfpSubmitError(PathReasonerError):
    """The KFP host cannot be reached, refused the credentials, or rejected the run."""


@dataclass(frozen=True)
class KfpTarget:
    """Where and as whom to submit: API host, namespace (multi-user KFP), experiment, auth."""

    host: str
    namespace: str | None = None
    experiment: str = "pathreasoner"
    service_account: str | None = None
    token: str | None = None
    ui_host: str | None = None

    @property
    def api(self) -> str:
        return self.host.rstrip("/")

    @property
    def ui(self) -> str:
        return (self.ui_host or self.host).rstrip("/")


@dataclass(frozen=True)
class Submitted:
    """A created run or recurring run: its id, name, experiment, and the KFP UI link."""

    kind: str  # "run" | "recurring run"
    id: str
    name: str
    experiment_id: str
    link: str

    def line(self) -> str:
        return f"{self.kind} {self.id} ({self.name!r}, experiment {self.experiment_id}) -> {self.link}"


def submit(
    cfg: Config,
    slides: str,
    reports: str,
    target: KfpTarget,
    run_name: str | None = None,
    package: Path | None = None,
) -> Submitted:
    """Create one run of the pipeline (``create_run_from_pipeline_package``)."""
    name = run_name or _default_name("run")
    with _package(cfg, package) as path, _client(target) as client:
        experiment_id = _experiment_id(client, target)
        result = _call(
            target,
            "create the run",
            lambda: client.create_run_from_pipeline_package(
                str(path),
                arguments={"slides": slides, "reports": reports},
                run_name=name,
                experiment_id=experiment_id,
                pipeline_root=cfg.pipeline.pipeline_root,
                service_account=_service_account(cfg, target),
            ),
        )
    run_id = str(result.run_id)
    done = Submitted("run", run_id, name, experiment_id, f"{target.ui}/#/runs/details/{run_id}")
    logger.info("submitted %s", done.line())
    return done


def schedule(
    cfg: Config,
    slides: str,
    reports: str,
    target: KfpTarget,
    cron: str,
    name: str | None = None,
    max_concurrency: int = 1,
    catchup: bool = False,
    package: Path | None = None,
) -> Submitted:
    """Create a recurring run on a KFP cron (6 fields, seconds first: '0 0 2 * * *' is 02:00 daily)."""
    check_cron(cron)
    if max_concurrency < 1:
        raise KfpSubmitError(
            f"max concurrency {max_concurrency} must be at least 1; pass --max-concurrency 1"
        )
    name = name or _default_name("schedule")
    with _package(cfg, package) as path, _client(target) as client:
        experiment_id = _experiment_id(client, target)
        result = _call(
            target,
            "create the recurring run",
            lambda: client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=name,
                cron_expression=cron,
                max_concurrency=max_concurrency,
                no_catchup=not catchup,
                params={"slides": slides, "reports": reports},
                pipeline_package_path=str(path),
                pipeline_root=cfg.pipeline.pipeline_root,
                service_account=_service_account(cfg, target),
            ),
        )
    job_id = str(result.recurring_run_id)
    done = Submitted(
        "recurring run", job_id, name, experiment_id, f"{target.ui}/#/recurringrun/details/{job_id}"
    )
    logger.info("scheduled %s on %r", done.line(), cron)
    return done


def check_cron(cron: str) -> None:
    """KFP's scheduler reads 6 fields (second first) or a descriptor (@daily, @every 1h); a 5-field crontab
    line would silently run with its minute read as seconds, so it is an error."""
    fields = cron.split()
    if cron.strip().startswith("@") or len(fields) == 6:
        return
    hint = f" (for the crontab line {cron!r} write '0 {cron.strip()}')" if len(fields) == 5 else ""
    raise KfpSubmitError(
        f"cron {cron!r} has {len(fields)} fields; KFP cron expressions have 6: second minute hour "
        f"day-of-month month day-of-week, e.g. '0 0 2 * * *' for 02:00 daily{hint}"
    )


def _default_name(kind: str) -> str:
    return f"pathreasoner-{kind}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"


def _service_account(cfg: Config, target: KfpTarget) -> str | None:
    return target.service_account or cfg.pipeline.service_account or None


@contextlib.contextmanager
def _package(cfg: Config, package: Path | None) -> Iterator[Path]:
    """The given compiled package, else the pipeline compiled into a temporary folder."""
    if package is not None:
        if not Path(package).is_file():
            raise KfpSubmitError(
                f"compiled pipeline {package} does not exist; run `pathreasoner pipeline compile` or omit --package"
            )
        yield Path(package)
        return
    from pathreasoner.pipeline_runner import compile_pipeline

    with tempfile.TemporaryDirectory(prefix="pathreasoner-kfp-") as tmp:
        yield compile_pipeline(cfg, Path(tmp) / "pathreasoner_pipeline.yaml")


def _token(target: KfpTarget) -> str | None:
    return target.token or os.environ.get(TOKEN_ENV) or None


def check_host(target: KfpTarget) -> None:
    """Reach the API's healthz within seconds; unreachable, refused or not-KFP hosts are clear errors."""
    import requests

    url = target.api + HEALTHZ_PATH
    token = _token(target)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(url, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    except requests.RequestException as exc:
        raise KfpSubmitError(
            f"KFP host {target.api} cannot be reached ({type(exc).__name__}: {exc}); check --host "
            "(the KFP API endpoint, e.g. https://<kubeflow>/pipeline, or http://127.0.0.1:8888 after "
            "`kubectl -n kubeflow port-forward svc/ml-pipeline 8888:8888`) and the network"
        ) from None
    if response.status_code in (401, 403):
        raise KfpSubmitError(_refused(target, f"HTTP {response.status_code} from {url}"))
    try:
        response.raise_for_status()
        response.json()
    except (requests.HTTPError, ValueError):
        raise KfpSubmitError(
            f"{url} answered HTTP {response.status_code} without the KFP health JSON; is --host the KFP "
            "API endpoint (…/pipeline)? Behind a login page, pass a bearer token (--token or $KFP_TOKEN)"
        ) from None


def _refused(target: KfpTarget, what: str) -> str:
    how = "the token given" if _token(target) else "no token"
    return (
        f"KFP host {target.api} refused the request with {how} ({what}); pass a valid bearer token "
        f"(--token or ${TOKEN_ENV}) with access to namespace {target.namespace or '(default)'}"
    )


@contextlib.contextmanager
def _client(target: KfpTarget) -> Iterator[Any]:
    """A kfp.Client for the target (after a fast reachability check); its prints and warnings go to the log."""
    check_host(target)
    import kfp

    kwargs: dict[str, Any] = {"host": target.api, "ui_host": target.ui}
    if target.namespace:
        kwargs["namespace"] = target.namespace
    token = _token(target)
    if token:
        kwargs["existing_token"] = token
    elif _sa_token_path().is_file():  # inside a pod: the projected KFP service-account token
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(str(_sa_token_path()))
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2.0.0-beta.2+"
        try:
            yield kfp.Client(**kwargs)
        finally:
            for line in printed.getvalue().splitlines():
                logger.debug("kfp: %s", line)


def _sa_token_path() -> Path:
    return Path(os.environ.get("KF_PIPELINES_SA_TOKEN_PATH", "/var/run/secrets/kubeflow/pipelines/token"))


def _experiment_id(client: Any, target: KfpTarget) -> str:
    """The id of the experiment (created in the namespace if it does not exist yet)."""
    experiment = _call(
        target,
        f"get or create experiment {target.experiment!r}",
        lambda: client.create_experiment(name=target.experiment, namespace=target.namespace),
    )
    return str(experiment.experiment_id)


def _call(target: KfpTarget, action: str, step: Any) -> Any:
    """Run one kfp.Client call; API and connection errors become KfpSubmitError naming host and fix."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return step()
    except ApiException as exc:
        if exc.status in (401, 403):
            raise KfpSubmitError(_refused(target, f"HTTP {exc.status} trying to {action}")) from None
        raw = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        body = raw.strip()[:500]
        raise KfpSubmitError(
            f"KFP host {target.api} could not {action}: HTTP {exc.status} {exc.reason} {body}; check the "
            "namespace, experiment and service account, and that the KFP backend matches kfp "
            "(2.x, API v2beta1)"
        ) from None
    except HTTPError as exc:
        raise KfpSubmitError(
            f"KFP host {target.api} dropped the connection trying to {action} ({exc}); check --host and the network"
        ) from None
