import os

import pytest
import torch
from safetensors.torch import save_file

from interp.errors import InterpError
from interp.storage import (
    RunLock,
    atomic_write,
    check_writable,
    fullest_result,
    made_folder,
    read_json,
    save_result,
    write_json,
)


def test_atomic_writes_leave_ordinary_permissions_and_no_temporary_files(tmp_path):
    write_json(tmp_path / "a.json", {"x": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert read_json(tmp_path / "a.json") == {"x": 1}


def test_safetensors_files_get_the_same_permissions_as_json_files(tmp_path):
    """safetensors' writer replaces the temporary file, so a mode set before the write would be lost."""
    write_json(tmp_path / "a.json", {"x": 1})
    atomic_write(tmp_path / "w.safetensors", lambda path: save_file({"w": torch.zeros(2)}, str(path)))
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == (tmp_path / "a.json").stat().st_mode & 0o777


def test_a_failed_write_keeps_the_old_file(tmp_path):
    write_json(tmp_path / "a.json", {"old": True})

    def broken(path):
        path.write_text('{"new": ')
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.json", broken)
    assert read_json(tmp_path / "a.json") == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_lock_is_exclusive_and_released(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(InterpError, match="is being written by process"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released
        pass


def test_unreadable_json_is_a_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InterpError, match="is not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(InterpError, match="cannot read"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(InterpError, match="is not UTF-8 text: byte 13 is 0xe9"):
        read_json(tmp_path / "latin1.json")


def test_a_made_folder_is_removed_when_its_body_fails_before_writing_anything(tmp_path):
    with pytest.raises(InterpError), made_folder(tmp_path / "a" / "b") as folder, RunLock(folder):
        raise InterpError("refused")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InterpError), made_folder(tmp_path / "a" / "b") as folder:
        write_json(folder / "config.json", {})
        raise InterpError("failed later")
    assert (tmp_path / "a" / "b" / "config.json").is_file()  # what was written stays


def test_check_writable_names_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("")
    check_writable(tmp_path / "new" / "deeper")
    with pytest.raises(InterpError, match="file is a file, not a directory"):
        check_writable(tmp_path / "file")
    with pytest.raises(InterpError, match="cannot make .*file/run: .*file is a file, not a directory"):
        check_writable(tmp_path / "file" / "run")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_a_result_is_replaced_only_by_one_that_covers_it_and_readers_take_the_fullest(tmp_path):
    """Results here are sets of lengths: one covers another when it holds every length of it."""
    path = tmp_path / "step_000040.json"
    current = lambda path, record: isinstance(record, list)  # noqa: E731
    covers = lambda new, old: set(new) >= set(old)  # noqa: E731

    def save(lengths):
        return save_result(path, lengths, current, covers, "l" + "_".join(map(str, lengths)))

    path.write_text("{torn")
    assert save([1, 2, 3]) == path  # a torn file is no result: replaced
    assert save([3]) == tmp_path / "step_000040.l3.json" and read_json(path) == [1, 2, 3]  # narrower: beside
    assert save([1, 2, 3, 4]) == path and read_json(path) == [1, 2, 3, 4]  # covers it: replaces
    assert save([5, 6, 7, 8, 9]) == tmp_path / "step_000040.l5_6_7_8_9.json"  # neither covers: beside
    write_json(tmp_path / "step_0000400.json", list(range(100)))  # another step's file is not beside it
    assert fullest_result(path, current, len) == (tmp_path / "step_000040.l5_6_7_8_9.json", [5, 6, 7, 8, 9])
    assert fullest_result(path, current, len, accept=lambda lengths: 1 in lengths) == (path, [1, 2, 3, 4])
    assert fullest_result(tmp_path / "step_000020.json", current, len) is None
