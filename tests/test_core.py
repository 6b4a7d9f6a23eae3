import os
import numpy as np
import pytest
from mlops_lab import core


def test_atomic_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / 'a.json'
    core.write_json(p, {'x': 1})
    with pytest.raises(RuntimeError):
        with core.atomic(p) as t:
            t.write_text('partial'); raise RuntimeError('crash')
    assert core.read_json(p) == {'x': 1}
    assert [f.name for f in tmp_path.iterdir()] == ['a.json']


def test_write_json_numpy_and_sorted(tmp_path):
    p = core.write_json(tmp_path / 'x.json', {'b': np.int64(3), 'a': np.array([0.5, 1.5])})
    assert p.read_text().index('"a"') < p.read_text().index('"b"')
    assert core.read_json(p) == {'a': [0.5, 1.5], 'b': 3}


def test_project_root_and_dev_dir(tmp_path, monkeypatch):
    (tmp_path / 'settings.ini').write_text('')
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    assert core.project_root(tmp_path / 'a' / 'b') == tmp_path
    monkeypatch.setenv('MLOPS_LAB_DEV_DIR', str(tmp_path / 'scratch'))
    assert core.dev_run_dir() == tmp_path / 'scratch'


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    with core.atomic_dir(tmp_path / 'b') as t: (t / 'x').write_text('1'); (t / 'y').write_text('1')
    with core.atomic_dir(tmp_path / 'b') as t: (t / 'x').write_text('2')
    assert sorted(p.name for p in (tmp_path / 'b').iterdir()) == ['x'] and (tmp_path / 'b' / 'x').read_text() == '2'
    with pytest.raises(RuntimeError):
        with core.atomic_dir(tmp_path / 'b') as t: (t / 'x').write_text('3'); raise RuntimeError('crash')
    assert (tmp_path / 'b' / 'x').read_text() == '2' and [p.name for p in tmp_path.iterdir()] == ['b']


def test_atomic_dir_swaps_in_one_step_on_linux(tmp_path):
    (tmp_path / 'a').mkdir(); (tmp_path / 'a' / 'f').write_text('a')
    (tmp_path / 'b').mkdir(); (tmp_path / 'b' / 'f').write_text('b')
    assert core._exchange(tmp_path / 'a', tmp_path / 'b')  # renameat2(RENAME_EXCHANGE) is available here
    assert (tmp_path / 'a' / 'f').read_text() == 'b' and (tmp_path / 'b' / 'f').read_text() == 'a'
