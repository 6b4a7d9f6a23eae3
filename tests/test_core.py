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


def test_need_strict_names_the_stage(tmp_path, monkeypatch):
    monkeypatch.setenv('MLOPS_LAB_STRICT', '1')
    with pytest.raises(FileNotFoundError, match="stage 'ingest'"):
        core.need(tmp_path, 'clean.parquet')


def test_need_builds_upstream_when_not_strict(tmp_path, monkeypatch):
    monkeypatch.delenv('MLOPS_LAB_STRICT', raising=False)
    p = core.need(tmp_path, 'clean.parquet')  # runs data then ingest with their defaults
    assert p.exists() and (tmp_path / 'raw.csv').exists() and (tmp_path / 'ingest.json').exists()


def test_every_artifact_has_a_stage_module():
    import importlib
    for name, (stage, what) in core.ARTIFACTS.items():
        assert callable(importlib.import_module(f'mlops_lab.{stage}').stage), name
        assert what


def test_project_root_and_dev_dir(tmp_path, monkeypatch):
    (tmp_path / 'settings.ini').write_text('')
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    assert core.project_root(tmp_path / 'a' / 'b') == tmp_path
    monkeypatch.setenv('MLOPS_LAB_DEV_DIR', str(tmp_path / 'scratch'))
    assert core.dev_run_dir() == tmp_path / 'scratch'
