"""The naive baseline: a Faust agent that classifies one story per event (one predict call each).

``python -m bench.naive_agent`` with the same ``WIRESTREAM_*`` settings as a
worker. Same transport (the fetch wait setting included), same model, same
validation; what differs is batching: each event gets its own model call and
its own awaited send.
"""

from __future__ import annotations

import json
import logging

import faust

from wirestream.classify import classify_batch
from wirestream.models.source import model_source
from wirestream.settings import Settings
from wirestream.story import InputLimits, Invalid, parse_story
from wirestream.streams.app import faust_app
from wirestream.streams.logs import configure_logging


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings)
    loaded = model_source(settings).load()
    limits = InputLimits.from_settings(settings)
    app = faust_app(settings)
    source = app.topic(settings.topic_input, key_type=bytes, value_type=bytes)
    out = app.topic(settings.topic_classified, key_type=bytes, value_type=bytes)

    @app.agent(source)
    async def naive(stream: faust.StreamT) -> None:
        async for key, value in stream.items():
            story = parse_story(value, limits)
            if isinstance(story, Invalid):
                continue
            (record,) = classify_batch(loaded, [story])
            await out.send(key=key, value=json.dumps(record, ensure_ascii=False).encode())

    @app.on_partitions_assigned.connect
    async def ready(app: faust.App, assigned: set, **_: object) -> None:
        logging.getLogger("bench").warning(
            "wirestream worker ready: naive agent, partitions assigned"
        )

    from faust import Worker

    class QuietWorker(Worker):
        def _setup_logging(self) -> None:
            configure_logging(settings)

    QuietWorker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
