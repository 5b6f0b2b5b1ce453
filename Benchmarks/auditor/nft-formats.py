#!/usr/bin/env python3
"""The two batch formats of NFTablesBlocker, timed with nft alone, in one network namespace.

    ip netns exec NS Benchmarks/auditor/nft-formats.py NS [COUNT] [BATCH]

`before`: what the blocker wrote for every ban until 2026-11-25 (per set, `add element`
without timeout, `delete element`, `add element ... timeout`); `after`: what it writes for a
value not in the sets now (one `add element ... timeout`). Same values and mix as
auditor-bans (90 % IPv4 addresses, 5 % IPv6 addresses, 5 % IPv4 /24s), one `nft -f -` per
batch, the table recreated as NFTablesBlocker.synchronize writes it before each format.
It refuses to run outside the namespace NS (it would change the host's ruleset).
"""
import os
import subprocess
import sys
import time

TABLE = """table inet mtshield
delete table inet mtshield
table inet mtshield {
    set addr4 { type ipv4_addr; flags timeout; }
    set net4 { type ipv4_addr; flags interval, timeout; }
    set addr6 { type ipv6_addr; flags timeout; }
    set net6 { type ipv6_addr; flags interval, timeout; }
    chain input {
        type filter hook input priority filter - 10; policy accept;
        ip saddr @addr4 drop
        ip saddr @net4 drop
        ip6 saddr @addr6 drop
        ip6 saddr @net6 drop
    }
}
"""


def value(index):
    kind = index % 20
    if kind == 0:
        return "addr6", "2001:db8:%x:%x::1" % (index >> 16, index & 0xFFFF)
    if kind == 1:
        return "net4", "%d.%d.%d.0/24" % (10 + (index >> 16), (index >> 8) & 255, index & 255)
    return "addr4", "100.%d.%d.%d" % (64 + (index >> 16), (index >> 8) & 255, index & 255)


def statements(verb, by_set, timeout):
    lines = []
    for name in ("addr4", "net4", "addr6", "net6"):
        values = by_set.get(name)
        if values:
            suffix = " timeout 1h" if timeout else ""
            lines.append("%s element inet mtshield %s { %s }" % (verb, name, ", ".join(v + suffix for v in values)))
    return "\n".join(lines) + "\n"


def script(indices, form):
    by_set = {}
    for index in indices:
        name, text = value(index)
        by_set.setdefault(name, []).append(text)
    if form == "before":
        return statements("add", by_set, False) + statements("delete", by_set, False) + statements("add", by_set, True)
    return statements("add", by_set, True)


def nft(text):
    subprocess.run(["nft", "-f", "-"], input=text.encode(), check=True)


def main():
    namespace = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    mine, named = os.stat("/proc/self/ns/net"), os.stat("/run/netns/" + namespace)
    if (mine.st_ino, mine.st_dev) != (named.st_ino, named.st_dev):
        sys.exit("nft-formats.py: not inside network namespace %s: run it with ip netns exec %s" % (namespace, namespace))
    for form in ("before", "after"):
        nft(TABLE)
        scripts = [script(range(start, min(start + batch, count)), form) for start in range(0, count, batch)]
        wall, cpu = time.monotonic(), os.times()
        for text in scripts:
            nft(text)
        wall, after = time.monotonic() - wall, os.times()
        children = after.children_user + after.children_system - cpu.children_user - cpu.children_system
        listed = subprocess.run(["nft", "list", "table", "inet", "mtshield"], capture_output=True, check=True).stdout.decode()
        held = listed.count("timeout 1h")
        print("nft alone, %s format: %d bans in batches of %d: %.2f s wall, %.0f bans/s; nft CPU %.2f s; elements held %d"
              % (form, count, batch, wall, count / wall, children, held))
        if held != count:
            sys.exit("the kernel does not hold what was banned")


main()
