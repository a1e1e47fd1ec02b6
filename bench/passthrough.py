"""The transport ceiling: a plain aiokafka consume -> produce passthrough, no classification.

``python -m bench.passthrough BOOTSTRAP IN OUT --fetch-max-wait-ms N``: every
partition of IN assigned from offset 0 (no group), each record sent to OUT
with its key, awaited per fetched batch like the worker does. Prints "ready"
once it is fetching.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def run(bootstrap: str, source: str, target: str, fetch_max_wait_ms: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_max_wait_ms
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_576)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        parts = consumer.partitions_for_topic(source) or set()
        tps = [TopicPartition(source, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        print("ready", flush=True)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=256)
            futures = [
                await producer.send(target, r.value, key=r.key)
                for records in batch.values()
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bootstrap")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.bootstrap, args.source, args.target, args.fetch_max_wait_ms))


if __name__ == "__main__":
    main()
