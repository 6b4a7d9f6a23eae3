"""Fixtures for tests/ (the session-wide set-up is in the root conftest.py)."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def cli(*args, cwd=ROOT, env=None, timeout=600):
    "Run `python -m mlops_lab ARGS` as a user would; return the CompletedProcess."
    return subprocess.run([sys.executable, '-m', 'mlops_lab', *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, 'COLUMNS': '120', **(env or {})})


@pytest.fixture(scope='session')
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('runs')


@pytest.fixture(scope='session')
def smoke(runs_dir):
    "One smoke-profile pipeline run through the real CLI, shared by the tests that inspect it."
    r = cli('run', '--profile', 'smoke', '--runs', runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = [p for p in runs_dir.iterdir() if p.name.endswith('-smoke')]
    return run, r


@pytest.fixture
def project_copy(tmp_path):
    "A copy of the project (pipeline.yaml, settings.ini, data/, nbs/) that a test may break."
    for f in ('pipeline.yaml', 'settings.ini'): shutil.copy(ROOT / f, tmp_path / f)
    shutil.copytree(ROOT / 'data', tmp_path / 'data')
    shutil.copytree(ROOT / 'nbs', tmp_path / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', 'runs'))
    return tmp_path
