extension ArtifactCatalog {
    /// The text of `forensics/artifacts.yaml`; a test keeps the two identical.
    public static let shippedText = """
# The artifacts `mtforensics snapshot` collects, in order. Copy this file, edit it and
# pass it with --artifacts to change what a snapshot takes.
#
# Every artifact has a name (lower-case letters, digits, dashes), a kind, and `to`, its
# path inside the archive (commands default to system/NAME.txt). Kinds:
#   config     the --proxy-config or --auditor-config file (config: proxy | auditor),
#              every secret replaced by its fingerprint
#   events     event lines whose @timestamp lies in the --since window
#   file       one file
#   directory  the regular files under a directory; window: true keeps those modified
#              within the window
#   command    a command's standard output (run: [argv…]), with an optional timeout
# `from: proxy:KEY.PATH` or `from: auditor:KEY.PATH` takes a path from a configuration
# (relative paths are relative to that file's directory); `path:` gives an absolute one.
# Each artifact ends as collected, missing, empty or failed in custody.json.
artifacts:
  - name: proxy-config
    kind: config
    config: proxy
    to: config/proxy.yaml
  - name: auditor-config
    kind: config
    config: auditor
    to: config/auditor.yaml
  - name: proxy-events
    kind: events
    from: proxy:events.path
    to: proxy/events.jsonl
  - name: blocklist
    kind: file
    from: proxy:blocklist
    to: proxy/blocklist.txt
  - name: auditor-decisions
    kind: file
    from: auditor:state
    to: auditor/decisions.sqlite
  - name: auditor-reports
    kind: directory
    from: auditor:reports
    window: true
    to: auditor/reports
  - name: sockets-listening
    kind: command
    run: [ss, -H, -n, -l, -t, -u, -p]
  - name: sockets-established
    kind: command
    run: [ss, -H, -n, -t, -p, state, established]
  - name: processes
    kind: command
    run: [ps, -e, -ww, -o, "pid,ppid,user,lstart,etime,stat,args"]
  - name: nftables
    kind: command
    run: [nft, list, ruleset]
  - name: users-logged-in
    kind: command
    run: [who, -u]
  - name: uptime
    kind: command
    run: [uptime]
  - name: disk
    kind: command
    run: [df, -P, -k]
  - name: memory
    kind: command
    run: [free, -b]
  - name: kernel
    kind: command
    run: [uname, -a]
"""
}
