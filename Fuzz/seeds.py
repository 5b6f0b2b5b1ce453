"""Writes the libFuzzer seed corpus: the recorded hellos (whole, fragmented over records)
and a few record streams. Usage: python3 seeds.py DIR"""
import base64, glob, json, os, sys

out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
fixtures = sorted(glob.glob(os.path.join(here, "..", "Tests", "ProxyTests", "Fixtures", "client-hello-*.json")))

def fragment(record, sizes):
    payload, parts, start = record[5:], [], 0
    for size in sizes + [len(record)]:
        chunk = payload[start:start + size]
        if not chunk:
            break
        parts.append(record[:3] + len(chunk).to_bytes(2, "big") + chunk)
        start += len(chunk)
    return b"".join(parts)

seeds = []
for path in fixtures:
    text = json.load(open(path))["full"]
    record = base64.b64decode(text + "=" * (-len(text) % 4))
    seeds += [b"\xff" + record, b"\x00" + record, b"\x10" + fragment(record, [100, 200]),
              b"\x03" + fragment(record, [50] * 9)]
ccs, data = b"\x14\x03\x03\x00\x01\x01", b"\x17\x03\x03\x00\x40" + bytes(range(64))
seeds += [b"\x02" + ccs + data + data, b"\x00GET / HTTP/1.1\r\n\r\n"]
for index, seed in enumerate(seeds):
    open(os.path.join(out, "seed-%02d" % index), "wb").write(seed)
print(len(seeds), "seeds")
