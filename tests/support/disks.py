"""Small filesystems for the store's disk faults: a tmpfs that fills up, an ext4 image the kernel turns read-only.

Both need ``mount`` (root, or a container allowed to mount); without it they fail saying so. ``mount``, ``umount``,
``losetup`` and ``mkfs.ext4`` are subprocesses: tests using these carry ``@pytest.mark.process``.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()} — these tests need "
                           "permission to mount filesystems (root, or a container with CAP_SYS_ADMIN)")  # fmt: skip
    return done.stdout.strip()


@contextmanager
def small_tmpfs(folder: Path, size_mb: int) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size_mb`` MB until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _run("umount", "-l", str(folder))


def fill(folder: Path) -> Path:
    """Write one file in ``folder`` until the filesystem has no space left; returns it (delete it to free space)."""
    filler = folder / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


@contextmanager
def ext4_image(folder: Path, image: Path, size_mb: int = 32) -> Iterator[str]:
    """``folder`` as a fresh ext4 filesystem in ``image`` (a loop device), mounted ``errors=remount-ro``; yields the
    loop device's name, for ``make_read_only``."""
    with image.open("wb") as out:
        out.truncate(size_mb * 1024 * 1024)
    _run("mkfs.ext4", "-q", "-F", str(image))
    with mounted_image(image, folder) as device:
        yield device


@contextmanager
def mounted_image(image: Path, folder: Path) -> Iterator[str]:
    """The ext4 filesystem in ``image`` mounted at ``folder`` through a loop device; yields the device's name."""
    folder.mkdir(parents=True, exist_ok=True)
    device = _run("losetup", "--find", "--show", str(image))
    try:
        _run("mount", "-o", "errors=remount-ro", device, str(folder))
        try:
            yield Path(device).name
        finally:
            _run("umount", "-l", str(folder))
    finally:
        _run("losetup", "-d", device)


def repair(image: Path) -> None:
    """``e2fsck`` on an unmounted image, as an operator would before mounting it again (exit 1: errors fixed)."""
    done = subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True, text=True, timeout=60)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"e2fsck failed ({done.returncode}): {done.stdout[-500:]}")


def make_read_only(device: str) -> None:
    """What the kernel does to a failing disk (``errors=remount-ro``): the mounted filesystem becomes read-only at
    once, open files included (a plain ``mount -o remount,ro`` refuses while files are open for writing)."""
    Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("chatlens test: simulated disk error\n")
