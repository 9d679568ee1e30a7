"""WORKERS=auto follows the CPU limit of cgroup v1 as well as v2, read from fake cgroup folders.

cgroup v2 (`cpu.max`): what a container sees on current hosts. cgroup v1 (`cpu/cpu.cfs_quota_us` and
`cpu/cpu.cfs_period_us`, -1 = no limit): what `docker run --cpus 1` or compose's `cpus: 1.0` set on an older
host, and what a pod's CPU limit sets on a cgroup v1 node. Expected counts are capped by this machine's CPUs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.settings import available_cpus

ALLOWED = len(os.sched_getaffinity(0))
ALL = None  # no limit: every CPU this process may use


def expected(limit: int | None) -> int:
    return ALLOWED if limit is None else min(ALLOWED, limit)


def cgroup_v1(root: Path, quota: str, period: str = "100000", folder: str = "cpu") -> Path:
    (root / folder).mkdir(parents=True)
    (root / folder / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / folder / "cpu.cfs_period_us").write_text(period + "\n")
    return root


V1 = {
    "one CPU (docker --cpus 1)": ("100000", "100000", 1),
    "two CPUs": ("200000", "100000", 2),
    "unlimited (-1)": ("-1", "100000", ALL),
    "fractional 1.5 rounds down": ("150000", "100000", 1),
    "half a CPU is still one worker": ("50000", "100000", 1),
    "another period": ("50000", "50000", 1),
    "zero period (malformed)": ("100000", "0", ALL),
    "not a number": ("lots", "100000", ALL),
}


@pytest.mark.parametrize(("quota", "period", "limit"), V1.values(), ids=V1.keys())
def test_cgroup_v1_quota(tmp_path: Path, quota: str, period: str, limit: int | None) -> None:
    assert available_cpus(cgroup_v1(tmp_path, quota, period)) == expected(limit)


def test_cgroup_v1_under_the_combined_cpu_cpuacct_folder(tmp_path: Path) -> None:
    assert available_cpus(cgroup_v1(tmp_path, "100000", folder="cpu,cpuacct")) == expected(1)


V2 = {
    "one CPU": ("100000 100000", 1),
    "unlimited": ("max 100000", ALL),
    "fractional 1.5 rounds down": ("150000 100000", 1),
    "empty file": ("", ALL),
    "zero period (malformed)": ("100000 0", ALL),
}


@pytest.mark.parametrize(("cpu_max", "limit"), V2.values(), ids=V2.keys())
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, limit: int | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert available_cpus(tmp_path) == expected(limit)


def test_no_cgroup_files_means_every_cpu(tmp_path: Path) -> None:
    assert available_cpus(tmp_path) == ALLOWED
    assert available_cpus(tmp_path / "missing") == ALLOWED


def test_unreadable_files_mean_no_limit(tmp_path: Path) -> None:
    """A folder where the file belongs cannot be read, even by root (who ignores file modes)."""
    (tmp_path / "cpu.max").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").mkdir(parents=True)
    assert available_cpus(tmp_path) == ALLOWED


def test_v2_is_read_before_v1(tmp_path: Path) -> None:
    """A host with both (hybrid): cpu.max is the one that limits when present."""
    cgroup_v1(tmp_path, "-1")
    (tmp_path / "cpu.max").write_text("100000 100000")
    assert available_cpus(tmp_path) == expected(1)


def test_a_broken_v2_file_falls_back_to_v1(tmp_path: Path) -> None:
    cgroup_v1(tmp_path, "100000")
    (tmp_path / "cpu.max").write_text("garbage")
    assert available_cpus(tmp_path) == expected(1)
