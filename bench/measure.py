"""Runs a command and records its wall time, CPU time and peak memory, whole process tree included.

    measure.py OUT.json COMMAND [ARG...]

/usr/bin/time only sees the rusage of the children its command waited for. The PySpark baseline
does not wait for its JVM, and PySpark's worker daemon ignores SIGCHLD, so its Python workers are
reaped by the kernel and their CPU time reaches no parent's rusage. So this runs the command as a
child subreaper (descendants orphaned by the command, such as the JVM, are reparented here) and
samples /proc every 0.2 s:

- wall_seconds: until the command exits;
- cpu_seconds: the sum over every descendant seen of its own user + system time at its last
  sample (a process that exits loses at most its last 0.2 s; one that lives less than that is
  missed), or the rusage of the descendants reaped here if larger (exact when every process is
  waited for, as in pvflow). Descendants still running 60 s after the command exited are
  counted up to then;
- peak_rss_mb: the largest sum of the tree's resident sets seen (pages shared between processes,
  e.g. forked Python workers, count once per process), or the largest single process's peak if
  larger (a peak between samples);
- other_cores: CPU time the rest of the machine used meanwhile (from /proc/stat), divided by the
  wall time: how busy the machine was with other work (builds) while this ran.

stdin, stdout and stderr are the command's; the exit status is the command's.
"""

import ctypes
import json
import os
import resource
import select
import subprocess
import sys
import time
from pathlib import Path

INTERVAL = 0.2
# Descendants may outlive the command (the JVM shuts down after the PySpark driver exits).
LINGER_SECONDS = 60
PR_SET_CHILD_SUBREAPER = 36
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def processes():
    """pid -> (ppid, start time, own CPU ticks, resident bytes) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # exited while we looked
            continue
        # Fields after the command name: state, ppid, ..., utime, stime (11, 12), ...,
        # starttime (19), vsize, rss in pages (21).
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]),
                             int(fields[21]) * PAGE)
    return table


def sample_descendants(cpu_ticks):
    """Records each descendant's CPU ticks so far in cpu_ticks, keyed by (pid, start time) so that
    a reused pid is another process; returns the descendants' resident bytes now."""
    table = processes()
    children = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    rss = 0
    frontier = list(children.get(os.getpid(), []))
    while frontier:
        pid = frontier.pop()
        _, start, ticks, resident = table[pid]
        cpu_ticks[pid, start] = ticks
        rss += resident
        frontier.extend(children.get(pid, []))
    return rss


def machine_busy_seconds():
    """CPU seconds all processors have spent busy (neither idle nor waiting for I/O) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user and nice]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, command = Path(sys.argv[1]), sys.argv[2:]
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"measure.py: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    wall0, busy0 = time.perf_counter(), machine_busy_seconds()
    child = subprocess.Popen(command)
    # Readable when the command exits: waiting on it, not sleeping, keeps wall_seconds exact.
    exited = os.pidfd_open(child.pid)
    cpu_ticks, rss = {}, 0

    def sample():
        nonlocal rss
        rss = max(rss, sample_descendants(cpu_ticks))

    while not select.select([exited], [], [], INTERVAL)[0]:
        sample()
    _, status, _ = os.wait4(child.pid, 0)
    wall, busy = time.perf_counter() - wall0, machine_busy_seconds() - busy0
    # Then the descendants that outlived it (orphaned to us), until none is left.
    deadline = time.perf_counter() + LINGER_SECONDS
    while time.perf_counter() < deadline:
        try:
            pid, _, _ = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            break
        if not pid:
            sample()
            time.sleep(INTERVAL)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = max(sum(cpu_ticks.values()) / TICK, reaped.ru_utime + reaped.ru_stime)
    rss = max(rss, reaped.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    code = os.waitstatus_to_exitcode(status)
    out.write_text(json.dumps({
        "command": command,
        "exit_code": code,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(rss / 2**20, 1),
        "other_cores": round(max(busy - cpu, 0.0) / wall, 2),
    }, indent=1) + "\n")
    # A command killed by a signal exits as a shell reports it, 128 + the signal.
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
