#!/usr/bin/env python3
"""Client half of callgrind.sh: sequential keep-alive GETs on ONE connection,
with a callgrind dump of the server after each phase.

usage: cg_client.py PORT SERVER_PID FIRST TOTAL [PATH]

Sends FIRST requests, runs `callgrind_control --dump` on SERVER_PID, sends
TOTAL - FIRST more on the same connection and dumps again. The second dump
therefore holds exactly the instructions spent on requests FIRST+1..TOTAL.
Every response must be 200 on the same, still-open connection.
"""
import http.client
import subprocess
import sys


def dump(pid, label):
    done = subprocess.run(["callgrind_control", "--dump=" + label, str(pid)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0 or "OK" not in done.stdout:
        sys.exit("callgrind_control --dump failed for pid %s:\n%s" % (pid, done.stdout))


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    port, pid, first, total = (int(a) for a in sys.argv[1:5])
    path = sys.argv[5] if len(sys.argv) == 6 else "/v2.1/servers"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sock_ids = set()

    def send(n):
        for _ in range(n):
            conn.request("GET", path)
            sock_ids.add(conn.sock.getsockname())
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or not body:
                sys.exit("unexpected answer: %s %r" % (resp.status, body[:80]))

    send(first)
    dump(pid, "after-%d" % first)
    send(total - first)
    dump(pid, "after-%d" % total)
    if len(sock_ids) != 1:
        sys.exit("the connection was not kept alive (%d sockets used)" % len(sock_ids))
    conn.close()


if __name__ == "__main__":
    main()
