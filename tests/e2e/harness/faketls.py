"""A fake-TLS (`ee` secret) client: a browser-like ClientHello signed as tdlib signs it
(PROTOCOL.md §4.2), the server flight checked as tdlib checks it (§4.4), then Telethon's own
obfuscated2 header and randomized-intermediate codec inside TLS records (§4.5).

Telethon has no fake-TLS transport; everything inside the records is Telethon's code.
"""
import asyncio
import hashlib
import hmac
import os
import struct
import time

from telethon.network.connection.tcpintermediate import RandomizedIntermediatePacketCodec
from telethon.network.connection.tcpmtproxy import MTProxyIO

MAX_CLIENT_RECORD = 2878       # tdlib's MAX_TLS_PACKET_LENGTH
MAX_SERVER_RECORD = 16384      # what tdlib's reader accepts (§4.5)
CHANGE_CIPHER_SPEC = b"\x14\x03\x03\x00\x01\x01"


class FakeTLSError(Exception):
    pass


def parse_secret(secret_hex: str):
    raw = bytes.fromhex(secret_hex)
    if len(raw) < 18 or raw[0] != 0xEE:
        raise ValueError("not an ee secret")
    return raw[1:17], raw[17:].decode("ascii")


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack(">HH", kind, len(body)) + body


def _vector(body: bytes, width: int) -> bytes:
    return len(body).to_bytes(width, "big") + body


def client_hello(key: bytes, domain: str, unix_time: int) -> bytes:
    """One TLS record; `random` holds HMAC-SHA256(key, record) with its last 4 bytes XORed
    with the little-endian unix time (§4.2)."""
    name = domain.encode("ascii")
    extensions = b"".join([
        _extension(0x0A0A, b""),
        _extension(0x0000, _vector(b"\x00" + _vector(name, 2), 2)),
        _extension(0x0017, b""),
        _extension(0xFF01, b"\x00"),
        _extension(0x000A, _vector(b"\x1a\x1a\x00\x1d\x00\x17\x00\x18", 2)),
        _extension(0x000B, b"\x01\x00"),
        _extension(0x0023, b""),
        _extension(0x0010, _vector(_vector(b"h2", 1) + _vector(b"http/1.1", 1), 2)),
        _extension(0x000D, _vector(b"\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01", 2)),
        _extension(0x0033, _vector(b"\x1a\x1a\x00\x01\x00" + b"\x00\x1d" + _vector(os.urandom(32), 2), 2)),
        _extension(0x002D, b"\x01\x01"),
        _extension(0x002B, _vector(b"\x2a\x2a\x03\x04\x03\x03", 1)),
    ])
    suites = b"\x0a\x0a\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30\xcc\xa9\xcc\xa8"

    def body(extensions):
        return (b"\x03\x03" + bytes(32) + _vector(os.urandom(32), 1) + _vector(suites, 2)
                + b"\x01\x00" + _vector(extensions, 2))

    unpadded = 4 + len(body(extensions))
    if unpadded < 512:  # tdlib pads hellos to 517 bytes with the padding extension
        extensions += _extension(0x0015, bytes(max(0, 512 - unpadded - 4)))
    handshake = b"\x01" + _vector(body(extensions), 3)
    record = b"\x16\x03\x01" + _vector(handshake, 2)
    digest = hmac.new(key, record, hashlib.sha256).digest()
    stamp = bytes(a ^ b for a, b in zip(digest[28:32], struct.pack("<I", unix_time & 0xFFFFFFFF)))
    return record[:11] + digest[:28] + stamp + record[43:]


class FakeTLSConnection:
    def __init__(self, reader, writer, encryptor, decryptor):
        self._reader, self._writer = reader, writer
        self._encrypt, self._decrypt = encryptor, decryptor
        self._codec = RandomizedIntermediatePacketCodec(None)
        self._plain = bytearray()
        self.largest_server_record = 0

    @classmethod
    async def open(cls, host, port, secret_hex, *, dc_id=2, clock_skew=0, key_override=None, timeout=10.0):
        key, domain = parse_secret(secret_hex)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        hello = client_hello(key_override or key, domain, int(time.time()) + clock_skew)
        writer.write(hello)
        await writer.drain()
        await asyncio.wait_for(cls._check_server_flight(reader, key, hello[11:43]), timeout)
        header, encryptor, decryptor = MTProxyIO.init_header(key, dc_id, RandomizedIntermediatePacketCodec)
        connection = cls(reader, writer, encryptor, decryptor)
        connection.hello = hello
        writer.write(CHANGE_CIPHER_SPEC)
        connection._write_records(bytes(header), encrypted=True)  # the header is its own ciphertext
        return connection

    @staticmethod
    async def _check_server_flight(reader, key, client_random):
        head = await reader.readexactly(5)
        if head[:3] != b"\x16\x03\x03":
            raise FakeTLSError(f"not a ServerHello record: {head[:3].hex()}")
        server_hello = head + await reader.readexactly(int.from_bytes(head[3:5], "big"))
        tail = await reader.readexactly(len(CHANGE_CIPHER_SPEC) + 5)
        if tail[:9] != CHANGE_CIPHER_SPEC + b"\x17\x03\x03":
            raise FakeTLSError("ServerHello not followed by ChangeCipherSpec and ApplicationData")
        flight = server_hello + tail + await reader.readexactly(int.from_bytes(tail[9:11], "big"))
        zeroed = flight[:11] + bytes(32) + flight[43:]
        expected = hmac.new(key, client_random + zeroed, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, flight[11:43]):
            raise FakeTLSError("server digest does not match: not our proxy (fronted?)")

    def _write_records(self, data: bytes, encrypted=False):
        if not encrypted:
            data = self._encrypt.encrypt(data)
        for offset in range(0, len(data), MAX_CLIENT_RECORD):
            chunk = data[offset:offset + MAX_CLIENT_RECORD]
            self._writer.write(b"\x17\x03\x03" + len(chunk).to_bytes(2, "big") + chunk)

    async def readexactly(self, n: int) -> bytes:
        while len(self._plain) < n:
            head = await self._reader.readexactly(5)
            if head[:3] != b"\x17\x03\x03":
                raise FakeTLSError(f"unexpected record type {head[:3].hex()} after the handshake")
            length = int.from_bytes(head[3:5], "big")
            self.largest_server_record = max(self.largest_server_record, length)
            self._plain += self._decrypt.encrypt(await self._reader.readexactly(length))
        data = bytes(self._plain[:n])
        del self._plain[:n]
        return data

    async def round_trip(self, payload: bytes, timeout=20.0) -> bytes:
        self._write_records(self._codec.encode_packet(payload))
        await self._writer.drain()
        return await asyncio.wait_for(self._codec.read_packet(self), timeout)

    def close(self):
        self._writer.close()
