"""``/events``: server-sent events with live readings (``reading``) and hub figures (``stats``).

Query: ``streams``, comma-separated names (every stream when absent, none when empty); ``topics``,
comma-separated: ``stats`` for the hub's figures, or what other layers publish on the feed. The stream
ends when the session ends (logout or expiry) or the server stops.
"""

from __future__ import annotations

from aiohttp import web

from agent.web.app import CTX, SESSION_COOKIE, WebContext

KEEPALIVE_S = 15.0


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/events``."""
    del ctx
    app.router.add_get("/events", events)


async def events(request: web.Request) -> web.StreamResponse:
    """Stream events to one browser from its own bounded queue."""
    ctx = request.app[CTX]
    wanted = request.query.get("streams")
    streams = None if wanted is None else [s for s in wanted.split(",") if s]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    topics = [t for t in request.query.get("topics", "").split(",") if t]
    client = ctx.feed.subscribe(streams, topics=topics)
    session_id = request.cookies.get(SESSION_COOKIE)
    try:
        await response.write(b"retry: 3000\n\n")
        while True:
            await client.wait(KEEPALIVE_S)
            current = ctx.password_hash() or ""
            if client.closed or ctx.sessions.get(session_id, touch=False, password=current) is None:
                break
            chunk = "".join(client.take()) or ": keepalive\n\n"
            await response.write(chunk.encode())
    except ConnectionResetError:
        pass
    finally:
        ctx.feed.unsubscribe(client)
    return response
