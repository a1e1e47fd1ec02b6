"""A Kafka-protocol-aware TCP proxy for injecting real network faults in front of the real broker.

The broker advertises the proxy's address, so every client connection (the
worker's consumer, producer and the tests' own clients) runs through it. With
``fail_produce`` set, a connection that sends a Produce request (API key 0) is
cut before the request reaches the broker, exactly what a producer sees when
the network or the leader fails; offset commits and fetches still pass. That
separates "the outputs were sent" from "the offsets were committed", which is
the property at-least-once delivery rests on.
"""

from __future__ import annotations

import asyncio
import struct
import threading

PRODUCE = 0


class KafkaFaultProxy:
    def __init__(self, listen_port: int, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.fail_produce = False
        self.produce_cut = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> KafkaFaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, self.host, self.listen_port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return

        async def requests() -> None:
            while True:
                header = await reader.readexactly(4)
                (size,) = struct.unpack(">i", header)
                body = await reader.readexactly(size)
                (api_key,) = struct.unpack(">h", body[:2])
                if api_key == PRODUCE and self.fail_produce:
                    self.produce_cut += 1
                    raise ConnectionResetError("fault injected: produce request dropped")
                up_writer.write(header + body)
                await up_writer.drain()

        async def responses() -> None:
            while True:
                data = await up_reader.read(65536)
                if not data:
                    raise ConnectionResetError("upstream closed")
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(requests()), asyncio.ensure_future(responses())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for t in tasks:
                t.cancel()
            for w in (writer, up_writer):
                w.close()
