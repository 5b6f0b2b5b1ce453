"""The three MTProto transports' framing (PROTOCOL.md §2.5), as a DC speaks them."""
import os
import random

ABRIDGED = b"\xef\xef\xef\xef"
INTERMEDIATE = b"\xee\xee\xee\xee"
PADDED_INTERMEDIATE = b"\xdd\xdd\xdd\xdd"
TAGS = {ABRIDGED: "abridged", INTERMEDIATE: "intermediate", PADDED_INTERMEDIATE: "padded"}


class FramingError(Exception):
    pass


async def read_packet(tag: bytes, read_exactly) -> bytes:
    """Reads one packet's payload; `read_exactly(n)` returns n decrypted bytes."""
    if tag == ABRIDGED:
        first = (await read_exactly(1))[0] & 0x7F  # bit 7 asks for a quick-ack
        words = first if first < 0x7F else int.from_bytes(await read_exactly(3), "little")
        return await read_exactly(words * 4)
    length = int.from_bytes(await read_exactly(4), "little")
    length &= 0x7FFFFFFF  # bit 31 asks for a quick-ack
    if length > 16 * 1024 * 1024:
        raise FramingError(f"packet length {length} out of range")
    payload = await read_exactly(length)
    if tag == PADDED_INTERMEDIATE:
        # The sender's random padding is counted in the length; payloads are whole words.
        payload = payload[: len(payload) - len(payload) % 4]
    return payload


def frame_packet(tag: bytes, payload: bytes) -> bytes:
    if tag == ABRIDGED:
        if len(payload) % 4:
            raise FramingError("abridged payloads are whole 4-byte words")
        words = len(payload) // 4
        header = bytes([words]) if words < 0x7F else b"\x7f" + words.to_bytes(3, "little")
        return header + payload
    if tag == PADDED_INTERMEDIATE:
        payload += os.urandom(random.randrange(4))
    return len(payload).to_bytes(4, "little") + payload
