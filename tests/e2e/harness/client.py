"""Telethon 1.45's own MTProxy connection classes, used at connection level."""
import asyncio
import collections
import logging

from telethon.network.connection import tcpmtproxy
from telethon.network.connection.tcpmtproxy import (
    ConnectionTcpMTProxyAbridged,
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
)

from .aes import AESCTR

CLASSES = {
    "abridged": ConnectionTcpMTProxyAbridged,
    "intermediate": ConnectionTcpMTProxyIntermediate,
    "padded": ConnectionTcpMTProxyRandomizedIntermediate,
}
# Which transport each class declares in its obfuscated2 header (PROTOCOL.md §2.1).
TAG_OF_CLASS = {"abridged": "abridged", "intermediate": "intermediate", "padded": "padded"}

_LOGGERS = collections.defaultdict(lambda: logging.getLogger("telethon"))


def use_openssl_aes(monkeypatch):
    """Telethon's AES-CTR is pure Python; the header and keys it builds stay Telethon's own."""
    monkeypatch.setattr(tcpmtproxy, "AESModeCTR", AESCTR)


async def connect(kind, host, port, secret_hex, *, dc_id=2, local_addr=None, timeout=10.0):
    """Opens a Telethon MTProxy connection; raises ConnectionError if the proxy closes it.

    Telethon itself waits up to 2 s after its header for the proxy to close (its #1134 fix).
    """
    connection = CLASSES[kind]("0.0.0.0", 443, dc_id, loggers=_LOGGERS, proxy=(host, port, secret_hex))
    if local_addr is not None:
        # TcpMTProxy.__init__ accepts local_addr but does not pass it on; the base class reads this.
        connection._local_addr = (local_addr, 0)
    await asyncio.wait_for(connection.connect(timeout=timeout), timeout + 5)
    return connection


async def round_trip(connection, payload: bytes, timeout=20.0) -> bytes:
    await connection.send(payload)
    return await asyncio.wait_for(connection.recv(), timeout)


async def attempt(kind, host, port, secret_hex, *, dc_id=2, local_addr=None, wait=5.0) -> str:
    """What happens to a client: "relayed" (its packet came back echoed), "closed" (the proxy
    closed or reset the connection) or "silent" (nothing within `wait` seconds)."""
    from .fake_dc import echo_of
    try:
        connection = await connect(kind, host, port, secret_hex, dc_id=dc_id, local_addr=local_addr)
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        return "closed"
    try:
        payload = b"ping" * 4
        reply = await round_trip(connection, payload, timeout=wait)
        return "relayed" if reply == echo_of(payload) else "garbled"
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        return "closed"
    except asyncio.TimeoutError:
        return "silent"
    finally:
        await connection.disconnect()
