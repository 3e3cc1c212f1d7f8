"""Reading what a child process announces on its standard output: ``NAME=value`` lines it
prints once it is ready (the local sandboxes of Facebook and Stripe do). Used by ``serve``
and by the test fixtures that start the same sandboxes."""

import os
import selectors
import subprocess
import time


def announced_values(
    process: subprocess.Popen, names: tuple[str, ...], *, timeout: float
) -> dict[str, str]:
    """The ``NAME=value`` lines among ``names`` that ``process`` printed within ``timeout``
    seconds (fewer than asked when it exited or was too slow: the caller decides)."""
    values: dict[str, str] = {}
    pending = b""
    deadline = time.monotonic() + timeout
    # Raw reads on the descriptor: a buffered readline could swallow several lines into
    # its buffer while select() then waits for more.
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while len(values) < len(names) and time.monotonic() < deadline:
            if not selector.select(timeout=0.2):
                if process.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # it exited
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                name, equals, value = line.decode().strip().partition("=")
                if equals and name in names:
                    values[name] = value
    return values
