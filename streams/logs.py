"""Logging for the long-running processes: ours at WIRESTREAM_LOG_LEVEL, libraries quieter.

Faust, mode and the Kafka clients log a screenful at start-up; they are shown
only with ``WIRESTREAM_LOG_LEVEL=debug``, so a worker's own lines (ready,
partitions, model changes, retries) are what an operator sees.
"""

from __future__ import annotations

import logging

from wirestream.settings import Settings

LIBRARIES = ("faust", "mode", "aiokafka", "kafka", "asyncio", "wirestream.streams.faust_transport")
FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    level = settings.log_level.upper()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    library_level = "DEBUG" if level == "DEBUG" else "WARNING"
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
