import os
import subprocess
import sys

import pytest

from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_bytes, atomic_write_json


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".fig.png.{dead.pid}.ab12.tmp.png"
        older_layout = tmp_path / ".fig.png.x8k2j1.tmp.png"  # mkstemp names of earlier versions (no PID)
        busy = tmp_path / f".fig.png.{live.pid}.cd34.tmp.png"
        other = tmp_path / f".other.png.{dead.pid}.ef56.tmp.png"
        for p in (stale, older_layout, busy, other):
            p.write_bytes(b"")
        atomic_write_bytes(tmp_path / "fig.png", b"png")
        assert not stale.exists() and not older_layout.exists()
        assert busy.exists() and other.exists()  # another writer's file; another target's leftovers
        assert (tmp_path / "fig.png").read_bytes() == b"png"
    finally:
        live.kill()
        live.wait()


def test_written_files_follow_the_umask_without_changing_it(tmp_path):
    before = os.umask(0o027)
    try:
        path = atomic_write_json(tmp_path / "r.json", {"a": 1})
        assert oct(path.stat().st_mode & 0o777) == oct(0o640)
        assert os.umask(0o027) == 0o027  # still what the process set
    finally:
        os.umask(before)


def test_unwritable_targets_are_one_line_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(VaeadvError, match="is a file, not a folder"):
        atomic_write_json(tmp_path / "file" / "out.json", {})
    (tmp_path / "dir").mkdir()
    with pytest.raises(VaeadvError, match="is a folder"):
        atomic_write_json(tmp_path / "dir", {})
    with pytest.raises(VaeadvError, match="cannot create the folder /proc/vaeadv-test"):  # unwritable, even for root
        atomic_write_json("/proc/vaeadv-test/out.json", {})
    assert not list(tmp_path.rglob("*.tmp*"))
