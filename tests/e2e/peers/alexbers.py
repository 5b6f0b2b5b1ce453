"""Runs alexbers' mtprotoproxy (PyPI `mtprotoproxy==1.0.6`) as a reference proxy, in-process,
with its DC table pointed at the fake DC. Used only to validate the harness (`make e2e-peer`).

Usage: python -m peers.alexbers LISTEN_PORT SECRET_HEX DC_PORT
DC n is dialled at 127.0.1.n:DC_PORT, which is where harness.fake_dc listens.
"""
import asyncio
import importlib.util
import os
import sys
import sysconfig
import tempfile


def load(listen_port: int, secret_hex: str):
    script = os.path.join(sysconfig.get_path("scripts"), "mtprotoproxy.py")
    settings = ""
    if secret_hex[:2] in ("dd", "ee"):
        key_hex = secret_hex[2:34]
        if secret_hex[:2] == "ee":
            settings = f"TLS_DOMAIN = {bytes.fromhex(secret_hex[34:]).decode()!r}\n"
    else:
        key_hex = secret_hex
    config = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    config.write(
        settings +
        f"PORT = {listen_port}\n"
        f"USERS = {{'main': {key_hex!r}}}\n"
        "MASK = False\nPREFER_IPV6 = False\nUSE_MIDDLE_PROXY = False\nSTATS_PRINT_PERIOD = 3600\n"
        "LISTEN_ADDR_IPV4 = '127.0.0.1'\nLISTEN_ADDR_IPV6 = ''\nCLIENT_HANDSHAKE_TIMEOUT = 5\n"
    )
    config.close()
    sys.argv = [script, config.name]  # the module exits at import without an argument
    spec = importlib.util.spec_from_file_location("mtprotoproxy", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init_config()
    os.unlink(config.name)
    return module


async def serve(module, listen_port: int):
    module.init_stats()
    server = await asyncio.start_server(module.handle_client_wrapper, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


def main():
    listen_port, secret_hex, dc_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    module = load(listen_port, secret_hex)
    module.TG_DATACENTERS_V4 = [f"127.0.1.{dc}" for dc in range(1, 6)]
    module.TG_DATACENTER_PORT = dc_port
    # It would otherwise ask public web services for its own address; it only needs to know
    # there is no IPv6 to prefer.
    module.my_ip_info = {"ipv4": "127.0.0.1", "ipv6": None}
    asyncio.run(serve(module, listen_port))


if __name__ == "__main__":
    main()
