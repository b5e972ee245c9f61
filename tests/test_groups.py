import subprocess
import sys

import pytest

from interp.errors import InterpError
from interp.groups import load_group
from interp.presets import preset_names

SPEC_GROUPS = {
    "add_carry": ("add", 16, [("nocarry", 32), ("carry", 32)]),
    "add_sub": ("add", 16, [("sub", 32)]),
    "add_mul": ("add", 8, [("mul", 16)]),
    "copy_mqar": ("copy", 16, [("mqar", 32)]),
    "capreverse": ("capreverse", 16, [("capitalize", 32), ("reverse", 32)]),
    "dfs_path": ("dfs", 32, [("path", 64)]),
    "path_dfs": ("path", 32, [("dfs", 64)]),
    "add_copyfirst": ("add", 16, [("copyfirst", 32)]),
    "copy_reverse": ("copy", 16, [("reverse", 32)]),
}


@pytest.mark.parametrize("name", sorted(SPEC_GROUPS))
def test_spec_groups_are_presets(name):
    group = load_group(name)
    main, length, aux = SPEC_GROUPS[name]
    assert (group.main.task, group.main.max_length) == (main, length)
    assert [(s.task, s.max_length) for s in group.aux] == aux
    assert group.kind == ("control" if name in {"add_copyfirst", "copy_reverse"} else "transfer")


def test_baselines_are_main_task_alone():
    baselines = [name for name in preset_names("group") if name.endswith("_only")]
    assert {"add_only", "copy_only"} <= set(baselines)
    for name in baselines:
        group = load_group(name)
        assert group.aux == () and group.kind == "baseline"


def test_eval_lengths_run_to_one_and_a_quarter_of_the_longest_and_respect_task_limits():
    group = load_group("add_carry")
    assert group.eval_lengths("add") == list(range(1, 41))
    assert group.eval_lengths("carry") == list(range(1, 41))
    assert load_group("dfs_path").eval_lengths("dfs") == list(range(4, 65))  # 1.25×64 capped at the grid
    assert load_group("copy_mqar").eval_lengths("mqar")[0] == 3


def write(tmp_path, text):
    path = tmp_path / "group.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ('[main]\ntask = "addd"\nmax_length = 4\n', "unknown task 'addd' (known: add,"),
        ('kind = "transfer"\n', "is empty"),
        ('[main]\ntask = "add"\nmax_length = 0\n', "max_length 0 for task 'add' is outside the accepted range [1, 4096]"),
        ('[main]\ntask = "path"\nmax_length = 65\n', "max_length 65 for task 'path' is outside the accepted range [4, 64]"),
        ('[main]\ntask = "dfs"\nmax_length = 3\n', "outside the accepted range [4, 64]"),
        ('[main]\ntask = "add"\nmax_length = 4\n[[aux]]\ntask = "add"\nmax_length = 8\n', "appears twice"),
        ('[main]\ntask = "add"\nmax_length = 4\ncolour = 1\n', "unknown key(s) colour"),
        ('[main]\ntask = "add"\n', "needs both task and max_length"),
        ('kind = "other"\n[main]\ntask = "add"\nmax_length = 4\n', "kind 'other' is not one of"),
        ("[main\n", "is not valid TOML"),
    ],
)
def test_bad_groups_give_one_clear_error(tmp_path, text, message):
    with pytest.raises(InterpError) as error:
        load_group(write(tmp_path, text))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(InterpError, match="unknown group preset 'add_carr' .known: add8_carry, add8_copyfirst, add8_only, add_carry"):
        load_group("add_carr")
    with pytest.raises(InterpError, match="does not exist"):
        load_group("nowhere/group.toml")


def test_presets_found_from_another_directory(tmp_path):
    code = "from interp.groups import load_group; print(load_group('add_mul').main)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "task='add'" in out.stdout
