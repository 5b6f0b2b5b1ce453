"""The proxy's side of the keyless obfuscated2 handshake towards a DC (PROTOCOL.md §3.1),
used only to check the fake DC without any proxy in between."""
import asyncio
import os

from .aes import AESCTR
from .framing import frame_packet, read_packet

FORBIDDEN_STARTS = (b"HEAD", b"POST", b"GET ", b"OPTI", b"\x16\x03\x01\x02",
                    b"\xdd\xdd\xdd\xdd", b"\xee\xee\xee\xee")


def random_nonce() -> bytes:
    while True:
        nonce = os.urandom(64)
        if nonce[0] != 0xEF and nonce[:4] not in FORBIDDEN_STARTS and nonce[4:8] != b"\0\0\0\0":
            return nonce


def keyless_header(nonce: bytes, tag: bytes, dc_index: int):
    """Returns (wire header, encryptor, decryptor) for a proxy→DC connection."""
    plain = nonce[:56] + tag + dc_index.to_bytes(2, "little", signed=True) + nonce[62:64]
    encryptor = AESCTR(plain[8:40], plain[40:56])
    reversed_block = plain[8:56][::-1]
    decryptor = AESCTR(reversed_block[:32], reversed_block[32:48])
    wire = plain[:56] + encryptor.encrypt(plain)[56:64]
    return wire, encryptor, decryptor


class DirectDCConnection:
    def __init__(self, reader, writer, tag, encryptor, decryptor):
        self.reader, self.writer, self.tag = reader, writer, tag
        self.encryptor, self.decryptor = encryptor, decryptor

    @classmethod
    async def open(cls, host, port, tag, dc_index):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        wire, encryptor, decryptor = keyless_header(random_nonce(), tag, dc_index)
        writer.write(wire)
        return cls(reader, writer, tag, encryptor, decryptor)

    async def round_trip(self, payload: bytes, timeout=10.0) -> bytes:
        self.writer.write(self.encryptor.encrypt(frame_packet(self.tag, payload)))
        await self.writer.drain()

        async def read_exactly(n):
            return self.decryptor.decrypt(await self.reader.readexactly(n))

        return await asyncio.wait_for(read_packet(self.tag, read_exactly), timeout)

    def close(self):
        self.writer.close()
