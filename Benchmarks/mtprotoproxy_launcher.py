"""Start alexbers' mtprotoproxy (PyPI 1.0.6) against the benchmark's fake DC.

Its DC addresses are hard-coded module globals, so this loads the module without running
it, points the table at the fake DC, and starts it the way its own __main__ block does,
minus init_ip_info(), which asks public web services for this host's address (benchmarks
stay on loopback; the address is only used in printed links and middle-proxy mode).

Usage: python mtprotoproxy_launcher.py MODULE_PATH CONFIG_PATH DC_HOST DC_PORT
"""
import asyncio
import importlib.util
import sys

module_path, config_path, dc_host, dc_port = sys.argv[1:5]

# Its init_config() reads the config file named by argv[1].
sys.argv = [module_path, config_path]
spec = importlib.util.spec_from_file_location("mtprotoproxy", module_path)
proxy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxy)

proxy.TG_DATACENTERS_V4 = [dc_host] * 5
proxy.TG_DATACENTERS_V6 = [dc_host] * 5
proxy.TG_DATACENTER_PORT = int(dc_port)

# 1.0.6 passes loop= to asyncio.start_server, which Python 3.10 removed.
_start_server = asyncio.start_server


def start_server(*args, loop=None, **kwargs):
    return _start_server(*args, **kwargs)


asyncio.start_server = start_server

proxy.init_config()
print("mtprotoproxy: AES-CTR from", proxy.create_aes_ctr.__qualname__.split(".")[0], flush=True)
proxy.main()
