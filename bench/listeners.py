#!/usr/bin/env python3
"""Bench helper: TCP listeners on many 127.0.0.0/8 addresses, accepting and closing.

usage: listeners.py FIRST COUNT
Binds COUNT listeners on 127.1.x.y (indices FIRST..FIRST+COUNT), port chosen by the kernel,
prints "ADDR PORT" per listener, then "READY", then accepts and closes connections until
killed. bench/probe-sweep starts several of these (the open-files limit is 20,000 per
process).
"""
import selectors
import socket
import sys


def addr(i: int) -> str:
    return f"127.1.{i // 254}.{i % 254 + 1}"


def main() -> None:
    first, count = int(sys.argv[1]), int(sys.argv[2])
    sel = selectors.EpollSelector()
    out = []
    for i in range(first, first + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((addr(i), 0))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        out.append(f"{addr(i)} {s.getsockname()[1]}")
    sys.stdout.write("\n".join(out) + "\nREADY\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            while True:
                try:
                    conn, _ = key.fileobj.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.close()


if __name__ == "__main__":
    main()
