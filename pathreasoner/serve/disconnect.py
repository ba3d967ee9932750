"""Cancel a request's handler when its client goes away, so its batch slot is freed.

uvicorn does not cancel an ASGI app when the client closes the connection mid-request; the handler would
keep its place in the micro-batch and generate for nobody. `call_cancelling_on_disconnect` runs the app as
a task and, once the request body has been read, owns ``receive``: an ``http.disconnect`` before the
response is complete cancels the task. The cancellation reaches `MicroBatcher.submit`, which drops the
request from the queue or stops its rows at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

Message = dict[str, Any]


async def call_cancelling_on_disconnect(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """Run the ASGI `app` for one HTTP request; True when it was cancelled because the client disconnected."""
    body_read = asyncio.Event()
    after_body: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    response_complete = False
    client_gone = False

    async def receive_body() -> Message:
        if body_read.is_set():  # the watcher owns receive now; the next message is the disconnect
            return await asyncio.shield(after_body)
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_read.set()
        if message["type"] == "http.disconnect" and not after_body.done():
            after_body.set_result(message)
        return message

    async def send_tracking(message: Message) -> None:
        nonlocal response_complete
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            response_complete = True
        await send(message)

    handler = asyncio.ensure_future(app(scope, receive_body, send_tracking))

    async def watch() -> None:
        nonlocal client_gone
        await body_read.wait()
        if after_body.done():
            return
        message = await receive()  # uvicorn answers http.disconnect on close or once the response is sent
        if not after_body.done():
            after_body.set_result(message)
        if message["type"] == "http.disconnect" and not response_complete and not handler.done():
            client_gone = True
            handler.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        await handler
    except asyncio.CancelledError:
        if not client_gone:  # the server is shutting down: propagate
            raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return client_gone
