"""The harness itself: the fake DC against a direct keyless client, the §3.1 vector, and the
clients' source addresses and refusal detection."""
import asyncio
import socket
import threading

import pytest

from harness import client, raw
from harness.dc_client import DirectDCConnection, keyless_header
from harness.fake_dc import echo_of
from harness.framing import ABRIDGED, INTERMEDIATE, PADDED_INTERMEDIATE


def test_keyless_header_matches_protocol_vector():
    nonce = bytes(range(56)) + PADDED_INTERMEDIATE + b"\x02\x00" + b"\x3e\x3f"
    wire, _, _ = keyless_header(nonce, PADDED_INTERMEDIATE, 2)
    assert wire[:56] == bytes(range(56))
    assert wire[56:64].hex() == "752b166d1c00fd5d"


@pytest.mark.parametrize("tag", [ABRIDGED, INTERMEDIATE, PADDED_INTERMEDIATE], ids=["ef", "ee", "dd"])
@pytest.mark.parametrize("dc_index", [2, -4, 203])
def test_fake_dc_echoes_and_records(fake_dc, tag, dc_index):
    async def scenario():
        before = fake_dc.count()
        conn = await DirectDCConnection.open(fake_dc.address(dc_index), fake_dc.port, tag, dc_index)
        try:
            for size in (4, 504, 508, 65536):
                payload = bytes((i * 7 + size) % 251 for i in range(size))
                assert await conn.round_trip(payload) == echo_of(payload)
        finally:
            conn.close()
        return before

    before = asyncio.run(scenario())
    connections = fake_dc.wait_for(lambda cs: len(cs) > before and cs[before].closed)
    record = connections[before]
    assert (record.dc_listener, record.dc_index, record.packets, record.error) == (dc_index if dc_index > 0 else -dc_index, dc_index, 4, None)
    assert record.tag == {ABRIDGED: "abridged", INTERMEDIATE: "intermediate", PADDED_INTERMEDIATE: "padded"}[tag]


def test_telethon_connects_from_the_chosen_loopback_address():
    async def scenario():
        peers = []

        async def record(reader, writer):
            peers.append(writer.get_extra_info("peername")[0])
            writer.close()

        server = await asyncio.start_server(record, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            outcome = await client.attempt("padded", "127.0.0.1", port, "00" * 16, local_addr="127.0.0.3")
        return peers, outcome

    peers, outcome = asyncio.run(scenario())
    assert peers == ["127.0.0.3"]
    assert outcome == "closed"


@pytest.mark.parametrize("closes", [True, False])
def test_raw_client_tells_a_refusal_from_a_silent_accept(closes):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []

    def serve():
        connection, _ = listener.accept()
        accepted.append(connection)
        if closes:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert raw.closed_without_a_byte("127.0.0.4", "127.0.0.1", port, wait=1.0) == closes
    finally:
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()
