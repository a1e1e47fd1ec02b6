"""Faust's aiokafka transport with the consumer's fetch wait as a setting.

faust-streaming's driver hard-codes ``fetch_max_wait_ms=1500``. A broker that
holds every fetch for the full wait (the embedded broker does) then adds up to
1.5 s to every story, whatever the batch size. ``WIRESTREAM_FETCH_MAX_WAIT_MS``
sets it instead; on Apache Kafka a fetch returns as soon as data arrives, so a
small value only adds cheap empty fetches on an idle topic.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


def wire_app_class(fetch_max_wait_ms: int) -> type[faust.App]:
    """A ``faust.App`` subclass whose worker consumer waits at most ``fetch_max_wait_ms``."""

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when the fetcher starts
            return consumer

    class WireConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        Consumer = WireConsumer

    class WireApp(faust.App):
        def _new_transport(self) -> Any:
            return Transport(self.conf.broker_consumer, self)

    return WireApp
