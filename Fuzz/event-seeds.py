"""Writes the seed corpus of EventLineFuzz: event lines as mtproxy writes them and as it
does not (whitespace, escapes, unicode, nulls, labels), each behind a byte that picks the
kept fields. Usage: python3 event-seeds.py DIR"""
import os, sys

out = sys.argv[1]
head = '{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":'
lines = [
    head + '"session.closed","source.ip_hash":"f7b8193b76119cf558f7f22e4bbfd31f","source.prefix":"100.66.241.0/24",'
    '"session.id":"0000000000000004","proxy.instance":"bench","proxy.transport":"faketls","event.reason":"client_closed",'
    '"network.bytes_in":248832,"network.bytes_out":54653952,"event.duration_ms":2553000,"schema.version":1}',
    head + '"handshake.failed","event.outcome":"failure","event.reason":"timeout","source.ip":"100.65.97.205",'
    '"source.port":42426,"session.id":"000000000000000a","proxy.instance":"bench","proxy.transport":"faketls",'
    '"event.duration_ms":2964,"schema.version":1}',
    head + '"probe.forwarded","source.ip":"198.51.100.169","session.id":"0000000000000013","proxy.instance":"bench","schema.version":1}',
    head + '"connection.rejected","event.reason":"rate_limit","source.ip":"203.0.113.96","proxy.instance":"bench","schema.version":1}',
    '{"@timestamp":"2026-11-24T22:56:07.123+01:00","event.action":"handshake.failed","proxy.listener":"0.0.0.0:443",'
    '"mt.secret":"main","mt.dc":-2,"message":"Handshake failed.","labels.limit":"10","labels.tls":true}',
    ' { "event.action" : "x\\u00e9\\ud83d\\ude00" , "future":{"a":[1,null]}, "@timestamp": "2026-01-01t00:00:00Z", "event.reason": null }\r',
]
for index, line in enumerate(lines):
    for fields in range(4):
        open(os.path.join(out, "line-%02d-%d" % (index, fields)), "wb").write(bytes([fields]) + line.encode())
print(len(lines) * 4, "seeds")
