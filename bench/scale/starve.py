"""A CPU-starved replica: its process in a cgroup with a CPU quota (the CFS bandwidth controller, as a container's
`--cpus` or a pod's limit does it), cgroup v1 or v2. Where no cgroup can be made (not root, a read-only cgroupfs),
taskset pins it to one CPU and a busy loop competes with it there at a higher priority."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class Starvation:
    def __init__(self, pid: int, cpu_share: float) -> None:
        self.pid = pid
        self.folder: Path | None = None
        self.hog: subprocess.Popen | None = None
        quota = f"{int(PERIOD_US * cpu_share)}"
        name = f"sigscale-starved-{os.getpid()}"
        try:
            if (CGROUP / "cpu" / "cpu.cfs_quota_us").exists():  # v1
                self.folder = CGROUP / "cpu" / name
                self.folder.mkdir()
                (self.folder / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.folder / "cpu.cfs_quota_us").write_text(quota)
            elif (CGROUP / "cgroup.controllers").exists():  # v2
                self.folder = CGROUP / name
                self.folder.mkdir()
                (self.folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                raise OSError("no cgroup CPU controller found")
            (self.folder / "cgroup.procs").write_text(str(pid))  # the whole process, every thread
            self.how = f"cgroup CPU quota of {cpu_share:.0%} of one CPU ({self.folder})"
        except OSError as failure:
            self._remove_folder()
            last_cpu = str(max(os.sched_getaffinity(0)))
            subprocess.run(["taskset", "-a", "-p", "-c", last_cpu, str(pid)], check=True, capture_output=True)
            hog = [sys.executable, "-c", "while True: pass"]
            self.hog = subprocess.Popen(["taskset", "-c", last_cpu, "nice", "-n", "-10", *hog])
            self.how = f"taskset to CPU {last_cpu} beside a busy loop (no cgroup: {failure})"

    def end(self) -> None:
        if self.hog is not None:
            self.hog.kill()
            self.hog.wait()
            cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(self.pid)], capture_output=True)
        if self.folder is not None:
            parent = self.folder.parent
            try:
                for line in (self.folder / "cgroup.procs").read_text().split():
                    (parent / "cgroup.procs").write_text(line)
            except OSError:
                pass  # the process is gone: nothing to move
            self._remove_folder()

    def _remove_folder(self) -> None:
        if self.folder is not None and self.folder.exists():
            with contextlib.suppress(OSError):  # a process still inside: left for the next boot
                self.folder.rmdir()
        self.folder = None
