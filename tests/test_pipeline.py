"""The pipeline runner, through the real `mlops-lab` CLI and papermill kernels."""
import json, shutil, subprocess
from pathlib import Path
import nbformat
import pytest
from conftest import ROOT, cli
from mlops_lab.core import sha256, read_json

STAGES = ['business', 'data', 'ingest', 'features', 'train', 'imbalance', 'tuning', 'housing', 'byod',
          'evaluate', 'interpret', 'tracking', 'onnx_export', 'transfer', 'optimize', 'qat']


def manifest(run): return read_json(run / 'manifest.json')


def test_smoke_run_finishes_with_summary(smoke):
    run, r = smoke
    m = manifest(run)
    assert m['status'] == 'ok' and [s['name'] for s in m['stages']] == STAGES
    assert all(s['status'] == 'ok' and s['duration_s'] > 0 for s in m['stages'])
    assert '[16/16] qat' in r.stdout and f"run {m['run_id']}" in r.stdout and 'run folder' in r.stdout


def test_smoke_manifest_provenance_and_checksums(smoke):
    run, _ = smoke
    m = manifest(run)
    params = {s['name']: s['params'] for s in m['stages']}
    assert params['data']['n_customers'] == 2000 and params['train']['cv_folds'] == 3 and params['tuning']['n_trials'] == 4
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
    assert m['provenance']['git_commit'] == (head.stdout.strip() if head.returncode == 0 else None)
    assert m['provenance']['packages']['scikit-learn'] and m['provenance']['python'].startswith('3.11')
    files = {p.relative_to(run).as_posix() for p in run.rglob('*') if p.is_file()}
    listed = set(m['artifacts'])
    assert listed == {f for f in files if not f.startswith('notebooks/') and f != 'manifest.json'}
    for rel, a in m['artifacts'].items():
        assert sha256(run / rel) == a['sha256'], rel
    assert m['artifacts']['raw.csv']['stage'] == 'data' and m['artifacts']['models/hgb.joblib']['stage'] == 'train'


def test_smoke_model_beats_majority_baseline(smoke):
    run, _ = smoke
    met = read_json(run / 'metrics.json')
    assert met['models'][met['selected']]['roc_auc'] > met['models']['majority']['roc_auc'] + 0.15
    ing = read_json(run / 'ingest.json')
    assert ing['rows_read'] == ing['accepted'] + ing['quarantined'] and ing['quarantined'] > 0


def test_smoke_run_ends_with_a_verified_edge_bundle(smoke, tmp_path):
    from mlops_lab.edge import Model, BundleError
    import numpy as np
    run, _ = smoke
    t = read_json(run / 'transfer.json')
    assert t['data'] in ('fashion-mnist', 'digits') and t['source'] and t['weights']  # says which data and weights it used
    m = Model(run / 'bundle')  # verifies every checksum
    assert m.meta['run_id'] == run.name and m.meta['data'] == t['data'] and m.inp['dtype'] == np.int8
    v = np.load(run / 'vision.npz')
    acc = float((m.scores(v['x_test']).argmax(1) == v['y_test']).mean())
    assert round(acc, 4) == read_json(run / 'optimize.json')['table']['tflite int8']['accuracy'] == m.meta['metrics']['accuracy']
    bad = shutil.copytree(run / 'bundle', tmp_path / 'bundle')  # the shared run stays intact
    (bad / 'labels.json').write_text('["tampered"]')
    with pytest.raises(BundleError, match='labels.json: sha256 mismatch'): Model(bad)


def test_executed_notebooks_hold_injected_parameters(smoke):
    run, _ = smoke
    nb = nbformat.read(run / 'notebooks' / '20_data.ipynb', 4)
    injected = [c for c in nb.cells if 'injected-parameters' in c.metadata.get('tags', [])]
    assert len(injected) == 1 and 'n_customers = 2000' in injected[0].source
    assert str(run.resolve()) in injected[0].source


def test_unknown_parameter_rejected_before_anything_runs(tmp_path):
    r = cli('run', '--profile', 'smoke', '-p', 'n_customer=100', '--runs', tmp_path / 'runs')
    assert r.returncode == 2 and "unknown parameter 'n_customer'" in r.stderr and "did you mean 'n_customers'" in r.stderr
    assert not (tmp_path / 'runs').exists() or not any((tmp_path / 'runs').iterdir())


@pytest.mark.parametrize('param,msg', [('drift=2', 'above the maximum'), ('n_customers=lots', 'expected int'),
                                       ('models=logreg,svm', 'items must be from'), ('cv_folds=1', 'below the minimum'),
                                       ('seed', 'expected key=value')])
def test_bad_values_rejected(tmp_path, param, msg):
    r = cli('run', '-p', param, '--runs', tmp_path)
    assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_profile_and_stage(tmp_path):
    r = cli('run', '--profile', 'nope', '--runs', tmp_path)
    assert r.returncode == 2 and "unknown profile 'nope'" in r.stderr
    r = cli('run', '--only', 'deploy', '--runs', tmp_path)
    assert r.returncode == 2 and "unknown stage 'deploy'" in r.stderr


def test_bad_profile_in_config_is_caught(project_copy):
    cfg = project_copy / 'pipeline.yaml'
    cfg.write_text(cfg.read_text().replace('    cv_folds: 3', '    cv_fold: 3'))
    r = cli('run', '--profile', 'smoke', '--config', cfg, '--runs', project_copy / 'runs')
    assert r.returncode == 2 and "unknown parameter 'cv_fold'" in r.stderr


def break_notebook(path: Path, message='injected failure'):
    nb = nbformat.read(path, 4)
    i = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(f'raise RuntimeError({message!r})'))
    nbformat.write(nb, path)


def test_failing_stage_then_resume(project_copy):
    nb = project_copy / 'nbs' / '40_features.ipynb'
    good = nb.read_bytes()
    break_notebook(nb)
    runs = project_copy / 'runs'
    r = cli('run', '--profile', 'smoke', '-p', 'n_customers=600', '--to', 'onnx_export', '--config', project_copy / 'pipeline.yaml', '--runs', runs)
    assert r.returncode == 1
    (run,) = runs.iterdir()
    out = run / 'notebooks' / '40_features.ipynb'
    assert "stage 'features' failed in cell" in r.stderr and 'RuntimeError: injected failure' in r.stderr
    assert str(out) in r.stderr and f'--resume {run.name}' in r.stderr
    m = manifest(run)
    assert m['status'] == 'failed'
    assert [s['status'] for s in m['stages']] == ['ok', 'ok', 'ok', 'failed'] + ['pending'] * 9 + ['skipped'] * 3
    assert m['stages'][3]['error']['ename'] == 'RuntimeError'
    assert 'injected failure' in out.read_text()  # the executed notebook shows the error in place
    done = {n: (run / 'notebooks' / f).stat().st_mtime_ns for n, f in
            [('business', '10_business.ipynb'), ('data', '20_data.ipynb'), ('ingest', '36_ingest.ipynb')]}
    raw_sha = sha256(run / 'raw.csv')

    r = cli('run', '--resume', run.name, '-p', 'seed=1', '--config', project_copy / 'pipeline.yaml', '--runs', runs)
    assert r.returncode == 2 and 'own parameters' in r.stderr  # resume keeps the run's parameters

    nb.write_bytes(good)  # the cause is fixed
    r = cli('run', '--resume', run.name, '--config', project_copy / 'pipeline.yaml', '--runs', runs)
    assert r.returncode == 0, r.stderr
    assert '[1/10] features' in r.stdout
    m = manifest(run)
    assert m['status'] == 'ok' and [s['status'] for s in m['stages']] == ['ok'] * 13 + ['skipped'] * 3
    assert m['stages'][1]['params']['n_customers'] == 600
    for n, f in [('business', '10_business.ipynb'), ('data', '20_data.ipynb'), ('ingest', '36_ingest.ipynb')]:
        assert (run / 'notebooks' / f).stat().st_mtime_ns == done[n], f'{n} was re-run'
    assert sha256(run / 'raw.csv') == raw_sha
    r = cli('run', '--resume', run.name, '--config', project_copy / 'pipeline.yaml', '--runs', runs)
    assert r.returncode == 2 and 'no failed or unfinished stage' in r.stderr


def test_only_and_from_reuse_an_earlier_run(smoke, runs_dir):
    base, _ = smoke
    r = cli('run', '--only', 'evaluate', '-p', 'threshold=0.5', '--base', base.name, '--runs', runs_dir)
    assert r.returncode == 0, r.stderr
    new = max((p for p in runs_dir.iterdir() if p != base), key=lambda p: p.stat().st_mtime_ns)
    m = manifest(new)
    assert [s['status'] for s in m['stages']] == ['reused'] * 9 + ['ok'] + ['skipped'] * 6 and m['base_run'] == base.name
    assert read_json(new / 'metrics.json')['threshold'] == 0.5
    assert sha256(new / 'model.joblib') == sha256(base / 'model.joblib')
    assert all(s['status'] == 'ok' for s in manifest(base)['stages'])  # the base run is untouched

    r = cli('run', '--from', 'train', '--to', 'onnx_export', '-p', 'models=logreg', '--base', base.name, '--runs', runs_dir)
    assert r.returncode == 0, r.stderr
    new = max((p for p in runs_dir.iterdir()), key=lambda p: p.stat().st_mtime_ns)
    assert sorted(read_json(new / 'train.json')['models']) == ['logreg', 'majority']
    assert [s['status'] for s in manifest(new)['stages']] == ['reused'] * 4 + ['ok'] * 9 + ['skipped'] * 3

    r = cli('run', '--only', 'evaluate', '-p', 'drift=0.5', '--runs', runs_dir)
    assert r.returncode == 2 and 'belongs only to stages reused' in r.stderr


def test_to_must_not_come_before_from(tmp_path):
    r = cli('run', '--from', 'evaluate', '--to', 'train', '--runs', tmp_path)
    assert r.returncode == 2 and '--to train comes before --from evaluate' in r.stderr


def test_only_needs_an_earlier_run(tmp_path):
    r = cli('run', '--only', 'train', '--runs', tmp_path)
    assert r.returncode == 2 and 'needs an earlier run' in r.stderr


def test_runs_and_params_commands(smoke, runs_dir):
    r = cli('runs', '--runs', runs_dir)
    assert r.returncode == 0 and smoke[0].name in r.stdout
    r = cli('params', '--profile', 'smoke')
    assert r.returncode == 0 and 'n_customers' in r.stdout and '2000' in r.stdout
