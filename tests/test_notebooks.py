"""The notebooks are the source: the library is their export, they are clean, they pass nbdev_test,
and the pipeline's stage notebooks agree with the exported stage functions."""
import ast, filecmp, importlib, inspect, os, shutil, subprocess, sys
from pathlib import Path
import papermill as pm
import pytest
import yaml
from conftest import ROOT

BIN = Path(sys.executable).parent
STAGES = yaml.safe_load((ROOT / 'pipeline.yaml').read_text())['stages']


def copy_project(dst):
    for f in ('settings.ini', 'setup.py', 'README.md'): shutil.copy(ROOT / f, dst / f)
    shutil.copytree(ROOT / 'nbs', dst / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    shutil.copytree(ROOT / 'mlops_lab', dst / 'mlops_lab', ignore=shutil.ignore_patterns('__pycache__'))


def test_library_is_in_sync_with_notebooks(tmp_path):
    copy_project(tmp_path)
    shutil.rmtree(tmp_path / 'mlops_lab')  # export from scratch must rebuild the same library
    subprocess.run([BIN / 'nbdev_export'], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(ROOT / 'mlops_lab', tmp_path / 'mlops_lab', ignore=['__pycache__'])
    assert not (cmp.diff_files or cmp.left_only or cmp.right_only), \
        f'mlops_lab/ differs from the notebooks export: {cmp.diff_files + cmp.left_only + cmp.right_only}; run `make export`'


def test_notebooks_are_clean(tmp_path):
    copy_project(tmp_path)
    subprocess.run([BIN / 'nbdev_clean'], cwd=tmp_path, check=True, capture_output=True)
    dirty = [p.name for p in sorted((ROOT / 'nbs').glob('*.ipynb')) if p.read_bytes() != (tmp_path / 'nbs' / p.name).read_bytes()]
    assert not dirty, f'notebooks not clean by nbdev_clean: {dirty}; run `make export`'


def test_nbdev_test_passes(tmp_path):
    # Two workers on two cores: one OpenMP thread each. With the default (one per core), the
    # workers' HistGradientBoosting threads busy-wait on each other: 2 minutes instead of 20 s.
    env = {**os.environ, 'MLOPS_LAB_DEV_DIR': str(tmp_path / 'dev'), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([BIN / 'nbdev_test', '--n_workers', '2'], cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.parametrize('stage', list(STAGES))
def test_stage_notebook_defaults_match_stage_function(stage):
    "A notebook run on its own and `need()` building its inputs must use the same defaults."
    nb_params = {k: ast.literal_eval(v['default']) for k, v in pm.inspect_notebook(str(ROOT / 'nbs' / STAGES[stage])).items() if k != 'run_dir'}
    sig = inspect.signature(importlib.import_module(f'mlops_lab.{stage}').stage)
    fn_params = {k: p.default for k, p in sig.parameters.items() if k != 'run_dir'}
    assert nb_params == fn_params


def test_every_notebook_has_title_and_one_parameters_cell_per_stage():
    import nbformat
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):
        nb = nbformat.read(p, 4)
        assert nb.cells[0].cell_type == 'markdown' and nb.cells[0].source.startswith('# '), p.name
        tagged = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
        assert len(tagged) == (1 if p.name in STAGES.values() else 0), p.name
