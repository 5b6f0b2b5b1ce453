"""A fake Telegram DC on loopback: the server side of the keyless obfuscated2 handshake
(PROTOCOL.md §3.1), the three transports' framing, and an echo that cannot be faked.

Each DC id listens on its own loopback address (127.0.1.<id>) on one shared port, so a test
can tell which DC the proxy dialled as well as which DC index it wrote in the header.
Every packet is answered with `ECHO_MARKER + reversed(payload)`.
"""
import asyncio
import dataclasses
import socket
import threading
import time

from .aes import AESCTR
from .framing import TAGS, FramingError, frame_packet, read_packet

ECHO_MARKER = b"ECHO"
HANDSHAKE_TIMEOUT = 10.0


def echo_of(payload: bytes) -> bytes:
    return ECHO_MARKER + payload[::-1]


@dataclasses.dataclass
class DCConnection:
    dc_listener: int            # the DC whose address the proxy dialled
    peer: tuple
    tag: str | None = None      # abridged / intermediate / padded, None if unrecognised
    dc_index: int | None = None  # signed DC index from the header
    packets: int = 0
    bytes_in: int = 0
    closed: bool = False
    error: str | None = None


class FakeDC:
    def __init__(self, dc_ids=(1, 2, 3, 4, 5, 203)):
        self.dc_ids = tuple(dc_ids)
        self.port = None
        self.connections: list[DCConnection] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-dc", daemon=True)
        self._servers = []

    @staticmethod
    def address(dc_id: int) -> str:
        return f"127.0.1.{abs(dc_id) % 256}"

    def endpoint(self, dc_id: int) -> str:
        return f"{self.address(dc_id)}:{self.port}"

    def start(self):
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self):
        async def close():
            for server in self._servers:
                server.close()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def snapshot(self) -> list[DCConnection]:
        with self._changed:
            return [dataclasses.replace(c) for c in self.connections]

    def count(self) -> int:
        with self._changed:
            return len(self.connections)

    def wait_for(self, predicate, timeout=10.0):
        """Waits until predicate(list of connections) is true; returns the list."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if predicate(self.connections):
                    return [dataclasses.replace(c) for c in self.connections]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fake DC: condition not met in {timeout}s; saw {self.connections}")
                self._changed.wait(remaining)

    async def _listen(self):
        for attempt in range(50):
            sockets = []
            try:
                port = 0
                for dc_id in self.dc_ids:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sockets.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((self.address(dc_id), port))
                    port = sock.getsockname()[1]
                break
            except OSError:
                for sock in sockets:
                    sock.close()
        else:
            raise RuntimeError("fake DC: no port free on every DC address")
        self.port = port
        for dc_id, sock in zip(self.dc_ids, sockets):
            handler = (lambda d: lambda r, w: self._serve(d, r, w))(dc_id)
            self._servers.append(await asyncio.start_server(handler, sock=sock))

    def _record(self, change=None):
        with self._changed:
            if change:
                change()
            self._changed.notify_all()

    async def _serve(self, dc_id, reader, writer):
        record = DCConnection(dc_listener=dc_id, peer=writer.get_extra_info("peername"))
        self._record(lambda: self.connections.append(record))
        try:
            header = await asyncio.wait_for(reader.readexactly(64), HANDSHAKE_TIMEOUT)
            # Keyless obfuscated2: the proxy's key and IV are sent raw (§3.1 step 4).
            decryptor = AESCTR(header[8:40], header[40:56])
            reversed_block = header[8:56][::-1]
            encryptor = AESCTR(reversed_block[:32], reversed_block[32:48])
            plain = decryptor.decrypt(header)
            tag = plain[56:60]
            dc_index = int.from_bytes(plain[60:62], "little", signed=True)
            self._record(lambda: setattr(record, "dc_index", dc_index))
            if tag not in TAGS:
                self._record(lambda: setattr(record, "error", f"unknown tag {tag.hex()}"))
                return
            self._record(lambda: setattr(record, "tag", TAGS[tag]))

            async def read_exactly(n):
                return decryptor.decrypt(await reader.readexactly(n))

            while True:
                try:
                    payload = await read_packet(tag, read_exactly)
                except asyncio.IncompleteReadError:
                    return
                self._record(lambda: (setattr(record, "packets", record.packets + 1),
                                      setattr(record, "bytes_in", record.bytes_in + len(payload))))
                writer.write(encryptor.encrypt(frame_packet(tag, echo_of(payload))))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, FramingError) as error:
            self._record(lambda: setattr(record, "error", f"{type(error).__name__}: {error}"))
        finally:
            self._record(lambda: setattr(record, "closed", True))
            writer.close()
