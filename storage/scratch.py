"""The process's scratch folder, under the data folder: nothing is written next to the code or in ``/tmp``.

Gradio's uploads and cached files (``GRADIO_TEMP_DIR``), ChatLens's exports and CSV downloads and anything else that
asks ``tempfile`` for a folder go to ``<data folder>/tmp/run-<pid>-<random>/``, so a container with a read-only root
filesystem (``docker run --read-only``) needs only its data volume writable. The folder is removed at exit; one left
by a process that died is removed at the next start. A live process holds an exclusive ``flock`` on its folder's
``lock`` file, so a folder whose lock can be taken belongs to no one (pid numbers alone would not tell: every
container's first process is pid 1).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class ScratchDir:
    def __init__(self, path: Path, lock_descriptor: int) -> None:
        self.path = path
        self._lock = lock_descriptor
        self._previous: tuple[str | None, str | None, str | None] | None = None

    @classmethod
    def create(cls, data_dir: Path) -> ScratchDir:
        """Remove what dead processes left under ``data_dir/tmp``, make this process's folder and hold it."""
        root = data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        for left in root.glob("run-*"):
            remove_if_abandoned(left)
        # Made under another name and renamed once locked, so a process starting meanwhile never sees it unlocked.
        made = Path(tempfile.mkdtemp(prefix=f"new-{os.getpid()}-", dir=root))
        descriptor = os.open(made / "lock", os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = made.with_name("run-" + made.name.removeprefix("new-"))
        made.rename(path)
        return cls(path, descriptor)

    def use_for_temporary_files(self) -> None:
        """Point ``tempfile`` (this process and its children) and Gradio's file cache at this folder.

        Before Gradio is imported: gradio_client asks ``tempfile.gettempdir()`` at import, which raises when no
        candidate folder is writable. An explicit ``GRADIO_TEMP_DIR`` is kept (then it is the operator's folder)."""
        self._previous = (os.environ.get("TMPDIR"), os.environ.get("GRADIO_TEMP_DIR"), tempfile.tempdir)
        os.environ["TMPDIR"] = str(self.path)
        tempfile.tempdir = str(self.path)
        os.environ.setdefault("GRADIO_TEMP_DIR", str(self.path / "gradio"))

    def remove(self) -> None:
        """Delete the folder, and point ``tempfile`` back where it pointed (for a process that goes on)."""
        if self._previous is not None:
            for name, value in zip(("TMPDIR", "GRADIO_TEMP_DIR"), self._previous[:2], strict=True):
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            tempfile.tempdir = self._previous[2]
            self._previous = None
        with contextlib.suppress(OSError):
            os.close(self._lock)
        shutil.rmtree(self.path, ignore_errors=True)


def remove_if_abandoned(folder: Path) -> bool:
    """Delete ``folder`` when no live process holds its lock; True if it was deleted."""
    try:
        descriptor = os.open(folder / "lock", os.O_RDONLY)
    except FileNotFoundError:
        descriptor = None  # never locked (died while being made) or half removed
    except OSError:
        return False
    try:
        if descriptor is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a live process holds it
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed the scratch folder %s left by a process that has stopped", folder)
        return True
    finally:
        if descriptor is not None:
            os.close(descriptor)
