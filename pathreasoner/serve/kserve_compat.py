"""Import kserve safely and bind its REST server to a chosen host.

kserve 0.21 parses ``sys.argv`` when ``kserve.model_server`` is imported (``parse_known_args`` with
abbreviations on), so our own ``--config x`` would be read as its ``--configure_logging x`` and abort
the process. We import it with a scrubbed argv. Its ``RESTServer`` also hard-codes
``uvicorn.Config(host="0.0.0.0")``; ``HostModelServer`` sets the host on that config before serving.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

_saved_argv = sys.argv
sys.argv = sys.argv[:1]
try:
    import kserve
    from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
    from kserve.errors import InvalidInput
    from kserve.model_server import ModelServer
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from kserve.protocol.rest.server import RESTServer
    from timing_asgi import TimingMiddleware
finally:
    sys.argv = _saved_argv

__all__ = ["HostModelServer", "InferOutput", "InferRequest", "InferResponse", "InvalidInput", "kserve"]


class _HookedRESTServer(RESTServer):
    """kserve's RESTServer that hands its FastAPI app to `app_hooks` once kserve's routes and handlers are on,
    without kserve's TimingMiddleware: per request it reads getrusage twice and formats three timing lines
    for the `kserve.trace` logger even though that logger is off (json_logs); /metrics has the latencies."""

    app_hooks: tuple[Callable[[Any], None], ...] = ()

    def _add_middlewares(self, app: Any) -> None:
        super()._add_middlewares(app)
        app.user_middleware = [m for m in app.user_middleware if m.cls is not TimingMiddleware]

    def _add_exception_handlers(self, app: Any) -> None:
        super()._add_exception_handlers(app)
        for hook in self.app_hooks:
            hook(app)


class HostModelServer(ModelServer):
    """kserve.ModelServer (single REST worker, no gRPC) listening on `host` instead of 0.0.0.0.

    `app_hooks` get the FastAPI app after kserve set it up (extra routes, middleware, error handlers).
    """

    def __init__(
        self, host: str = "127.0.0.1", app_hooks: tuple[Callable[[Any], None], ...] = (), **kwargs: Any
    ) -> None:
        kwargs["workers"] = 1
        kwargs["enable_grpc"] = False
        super().__init__(**kwargs)
        self.host = host
        self.app_hooks = tuple(app_hooks)

    def start(self, models: list[Any]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = _HookedRESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        self._rest_server.config.host = self.host  # the uvicorn.Config its server binds with
        self._rest_server.app_hooks = self.app_hooks
        self.servers.append(self._rest_server.start())
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())
