"""Run the predictor in a KServe ModelServer on serving.host:serving.port (127.0.0.1 locally)."""

from __future__ import annotations

import logging

from pathreasoner.config import Config
from pathreasoner.serve import metrics
from pathreasoner.serve.json_logs import configure_server_logging
from pathreasoner.serve.kserve_compat import HostModelServer
from pathreasoner.serve.predictor import PathReasonerModel
from pathreasoner.serve.protocols import protocol_hook

logger = logging.getLogger(__name__)


def build_model(cfg: Config, model_uri: str | None = None) -> PathReasonerModel:
    """The loaded, ready predictor."""
    model = PathReasonerModel(cfg, model_uri)
    model.load()
    return model


def serve(cfg: Config, model_uri: str | None = None) -> None:
    """Load the model, then serve v1, v2 and /openai/v1 REST routes until interrupted (one worker, no gRPC)."""
    host, port = cfg.serving.host, cfg.serving.port
    server = HostModelServer(host=host, http_port=port, app_hooks=(metrics.install,))
    # after kserve configured its loggers: JSON lines with the request id, no per-request timing lines
    configure_server_logging(logging.getLevelName(logging.getLogger().level), cfg.serving.log_format)
    model = build_model(cfg, model_uri)
    server.app_hooks = (protocol_hook(model), *server.app_hooks)  # inside the metrics middleware
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning(
            "serving on %s: reachable from other machines (use 127.0.0.1 outside a container)", host
        )
    logger.info("serving %r on http://%s:%d (POST /v1/models/%s:predict)", model.name, host, port, model.name)
    server.start([model])
