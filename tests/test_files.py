"""Files written whole or not at all (distser.files)."""

import pytest

from distser.files import atomic_write


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(path) as stream:
        stream.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    with atomic_write(path) as stream:
        stream.write(b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_the_file_follows_the_umask_not_owner_only(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shard.parquet") as stream:
            stream.write(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "shard.parquet").stat().st_mode & 0o777 == 0o644
