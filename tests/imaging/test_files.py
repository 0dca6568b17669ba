"""cara.imaging.files: names and private, atomic writes for originals."""

import os
import stat

from cara.imaging import files


def test_random_name_is_unguessable_and_url_safe():
    names = {files.random_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert len(name) >= 22 and all(c.isalnum() or c in "-_" for c in name)


def test_write_private_is_0600_and_atomic(tmp_path):
    path = tmp_path / "orig" / files.random_name()
    files.write_private(path, b"first")
    files.write_private(path, b"second")
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(path.parent) == [path.name]  # no temp file left behind
