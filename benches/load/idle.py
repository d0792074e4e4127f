#!/usr/bin/env python3
"""Memory per idle keep-alive connection (SPEC §7: at most 10 KB each).

usage: idle.py PORT SERVER_PID [N]

Opens N (default 10,000) connections to 127.0.0.1:PORT, sends one
keep-alive GET on each and reads the answer, then leaves them all idle and
reads the server's RSS (VmRSS) before and after. Prints the RSS growth per
connection. Loopback only; closes everything before exiting.
"""
import resource
import selectors
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    request = b"GET /v2.1/servers HTTP/1.1\r\nHost: x\r\n\r\n"
    before = rss_kb(pid)
    socks = []
    sel = selectors.DefaultSelector()
    start = time.time()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
        # Keep the number of unanswered requests bounded.
        if len(sel.get_map()) >= 200:
            drain(sel, 1)
    while sel.get_map():
        drain(sel, 5)
    time.sleep(1.0)
    after = rss_kb(pid)
    took = time.time() - start
    print(f"{n} idle keep-alive connections: RSS {before} kB -> {after} kB, "
          f"{(after - before) * 1024 / n:.0f} bytes per connection (opened and answered in {took:.1f}s)")
    for s in socks:
        s.close()


def drain(sel, timeout):
    for key, _ in sel.select(timeout):
        data = key.fileobj.recv(4096)
        if b"\r\n\r\n" in data or not data:
            sel.unregister(key.fileobj)
    if timeout >= 5 and not sel.select(0):
        pass


if __name__ == "__main__":
    main()
