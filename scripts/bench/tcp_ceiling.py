"""What plain TCP reaches on the benchmark's shaped links: the ceiling a BitTorrent download
can approach, below the links' nominal rates by the TCP/IP and Ethernet headers that `tc tbf`
counts and by TCP's start.

  tcp_ceiling.py recv PORT CONNS    accept CONNS connections, read each to its end, print
                                    {"seconds": first connection to last byte, "bytes": n}
  tcp_ceiling.py send HOST PORT N   connect, send N bytes, close

Run each side in its network namespace (scripts/bench/fountain.py does, mode "tcp").
"""
import json
import selectors
import socket
import sys
import time

CHUNK = 1 << 16


def recv(port, conns):
    srv = socket.create_server(('0.0.0.0', port), backlog=conns)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    accepted, closed, total, start = 0, 0, 0, None
    deadline = time.time() + 600
    while closed < conns and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            if key.fileobj is srv:
                c, _ = srv.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                accepted += 1
                if start is None:
                    start = time.time()
                if accepted == conns:
                    sel.unregister(srv)
                continue
            try:
                data = key.fileobj.recv(CHUNK)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                closed += 1
            total += len(data)
    print(json.dumps({'seconds': time.time() - (start or time.time()), 'bytes': total,
                      'complete': closed == conns}), flush=True)


def send(host, port, n):
    s = socket.create_connection((host, port), timeout=60)
    buf = b'\0' * CHUNK
    left = n
    while left > 0:
        k = min(left, CHUNK)
        s.sendall(buf[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    s.close()


if __name__ == '__main__':
    if sys.argv[1] == 'recv':
        recv(int(sys.argv[2]), int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
