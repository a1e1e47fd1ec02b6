"""``wirestream console``: the web server and its two Kafka tasks in one asyncio process.

Start-up checks everything a user can get wrong (secret key, users, topics,
the port) and fails with one line naming it, before anything is served.
SIGTERM/SIGINT stop the web server, then the tasks; labels whose undo window
has passed are sent before exit, the rest wait in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from wirestream.console.context import Console
from wirestream.console.hub import Hub
from wirestream.console.kafka_io import Ingestor, Publisher
from wirestream.console.review import Reviews
from wirestream.console.security import session_key
from wirestream.console.store import Store
from wirestream.console.users import User, load_users
from wirestream.console.web import make_app
from wirestream.errors import UserError
from wirestream.settings import Settings
from wirestream.streams.admin import check_topics
from wirestream.streams.logs import configure_logging

log = logging.getLogger("wirestream.console")
READY_LINE = "wirestream console ready"


def run_console(settings: Settings) -> int:
    configure_logging(settings)
    users = load_users(settings)
    session_key(settings)  # fail now, not at the first request
    check_topics(
        settings,
        (
            settings.topic_review,
            settings.topic_alerts,
            settings.topic_classified,
            settings.topic_labels,
        ),
    )
    asyncio.run(_serve(settings, users))
    return 0


async def _serve(settings: Settings, users: dict[str, User]) -> None:
    store = Store(settings.data_dir / "console.sqlite3")
    hub = Hub()
    ctx = Console(settings, store, hub, Reviews(store, hub, settings))
    ctx.ingestor = Ingestor(settings, store, hub)
    ctx.publisher = Publisher(settings, store, hub)
    app = make_app(ctx, users)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, settings.console_host, settings.console_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(
            f"cannot listen on {settings.console_host}:{settings.console_port}: "
            f"{exc.strerror or exc} (WIRESTREAM_CONSOLE_HOST / WIRESTREAM_CONSOLE_PORT)"
        ) from None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tasks = [
        asyncio.create_task(ctx.ingestor.run(stopping), name="console-consumer"),
        asyncio.create_task(ctx.publisher.run(stopping), name="console-publisher"),
    ]
    log.info(
        "%s on http://%s:%d (%d users, %d stories waiting; state in %s)",
        READY_LINE,
        settings.console_host,
        settings.console_port,
        len(users),
        store.waiting(),
        store.path,
    )
    await stopping.wait()
    log.info("console stopping")
    hub.close()
    await runner.cleanup()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
    except TimeoutError:
        for task in tasks:
            task.cancel()
    store.close()
