"""A sandbox started by another process (``manage.py serve``, a test run) stops when that
process is gone: no sandbox outlives its run."""

import os


def parent_alive(pid: int) -> bool:
    """Whether ``pid`` still runs and is still our parent (a reused pid is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.getppid() == pid
