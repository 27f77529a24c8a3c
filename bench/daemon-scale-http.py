#!/usr/bin/env python3
"""Bench helper for bench/daemon-scale: a minimal HTTP/1.1 responder on many 127.3.x.y addresses.

usage: daemon-scale-http.py FIRST COUNT
Binds COUNT listeners on 127.3.x.y (indices FIRST..FIRST+COUNT), port chosen by the kernel,
prints "ADDR PORT" per listener, then "READY", then answers every request with
`200 OK` / `ok` and `Connection: close` until killed. One epoll loop, no threads: each
linkpulse or blackbox_exporter HTTP check opens a new connection, so accept+answer+close is
the whole cost per request.
"""
import selectors
import socket
import sys

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok")


def addr(i: int) -> str:
    return f"127.3.{i // 254}.{i % 254 + 1}"


def main() -> None:
    first, count = int(sys.argv[1]), int(sys.argv[2])
    sel = selectors.EpollSelector()
    out = []
    for i in range(first, first + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((addr(i), 0))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, None)
        out.append(f"{addr(i)} {s.getsockname()[1]}")
    sys.stdout.write("\n".join(out) + "\nREADY\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data is None:  # a listener
                while True:
                    try:
                        conn, _ = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # e.g. EMFILE: the next readiness event retries
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, bytearray())
                continue
            buf = key.data
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk:
                buf += chunk
                if b"\r\n\r\n" not in buf:
                    if len(buf) < 65536:
                        continue
                else:
                    try:
                        sock.send(RESPONSE)
                    except OSError:
                        pass
            sel.unregister(sock)
            sock.close()


if __name__ == "__main__":
    main()
