"""Which process listens on a TCP port, from Linux's /proc: whose server answers there.

A server started on a free port can lose the port to another program between the check
and its own bind (two test sessions picking the same port); it then exits, while the
other program answers in its place. `listens_on` tells the two apart.
"""

from __future__ import annotations

import os
from pathlib import Path

_LISTEN = "0A"
"""A socket's state in /proc/net/tcp: TCP_LISTEN."""


def _listening_inodes(port: int, proc: Path) -> set[str] | None:
    """Inodes of the sockets listening on `port` (IPv4 or IPv6); None without /proc."""
    inodes: set[str] = set()
    readable = False
    for table in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rpartition(":")[2], 16) == port:
                inodes.add(inode)
    return inodes if readable else None


def listens_on(pid: int, port: int, proc: Path = Path("/proc")) -> bool | None:
    """Whether process `pid` holds a socket listening on `port`; None if /proc cannot say."""
    inodes = _listening_inodes(port, proc)
    if inodes is None:
        return None
    try:
        fds = os.listdir(proc / str(pid) / "fd")
    except PermissionError:  # another user's process
        return None
    except OSError:  # it has exited
        return False
    for fd in fds:
        try:
            target = os.readlink(proc / str(pid) / "fd" / fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
