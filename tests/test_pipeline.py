"""The pipeline runner, through the real `mlops-lab` CLI and papermill kernels: plans from the stage graph,
reuse of unchanged stages, manifests, failures and resume."""
import json, shutil, subprocess
from pathlib import Path
import nbformat
import pytest
from conftest import ROOT, cli
from mlops_lab.core import sha256, read_json
from mlops_lab.stages import load_stages, upstream

STAGES = load_stages(ROOT / 'pipeline.yaml')


def manifest(run): return read_json(run / 'manifest.json')
def statuses(m): return {s['name']: s['status'] for s in m['stages']}
def newest(runs, but=()): return max((p for p in runs.iterdir() if p not in but), key=lambda p: p.stat().st_mtime_ns)


def test_smoke_run_finishes_with_summary(smoke):
    run, r = smoke
    m = manifest(run)
    assert m['status'] == 'ok' and [s['name'] for s in m['stages']] == list(STAGES)
    assert all(s['status'] == 'ok' and s['duration_s'] > 0 for s in m['stages'])
    assert all(s['why'] == 'never ran' or s['why'].startswith('its inputs change: ') for s in m['stages'])
    assert f'[{len(STAGES)}/{len(STAGES)}] {list(STAGES)[-1]}' in r.stdout and f"run {m['run_id']}" in r.stdout and 'run folder' in r.stdout


def test_smoke_manifest_graph_provenance_inputs_and_checksums(smoke):
    run, _ = smoke
    m = manifest(run)
    params = {s['name']: s['params'] for s in m['stages']}
    assert params['data']['n_customers'] == 2000 and params['train']['cv_folds'] == 3 and params['tuning']['n_trials'] == 4
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
    assert m['provenance']['git_commit'] == (head.stdout.strip() if head.returncode == 0 else None)
    pk = m['provenance']['packages']
    assert all(pk[p] for p in ('scikit-learn', 'tensorflow', 'keras', 'optuna', 'mlflow', 'onnx', 'onnxruntime', 'papermill')) \
        and m['provenance']['python'].startswith('3.11')
    assert m['graph']['evaluate']['needs'] == list(STAGES['evaluate'].needs) and set(m['graph']) == set(STAGES)
    files = {p.relative_to(run).as_posix() for p in run.rglob('*') if p.is_file()}
    assert set(m['artifacts']) == {f for f in files if not f.startswith('notebooks/') and f != 'manifest.json'}
    for rel, a in m['artifacts'].items(): assert sha256(run / rel) == a['sha256'], rel
    assert m['artifacts']['raw.csv']['stage'] == 'data' and m['artifacts']['candidates/hgb.joblib']['stage'] == 'train'
    assert m['artifacts']['model.joblib']['stage'] == 'tuning'  # the one model the lab ships
    ev = next(s for s in m['stages'] if s['name'] == 'evaluate')
    assert set(ev['inputs']) == set(STAGES['evaluate'].needs) and ev['inputs']['test.parquet'] == m['artifacts']['test.parquet']['sha256']
    assert len({s['fingerprint'] for s in m['stages']}) == len(STAGES)


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
    assert round(acc, 4) == read_json(run / 'quantize.json')['table']['tflite int8']['accuracy'] == m.meta['metrics']['accuracy']
    bad = shutil.copytree(run / 'bundle', tmp_path / 'bundle')  # the shared run stays intact
    (bad / 'labels.json').write_text('["tampered"]')
    with pytest.raises(BundleError, match='labels.json: sha256 mismatch'): Model(bad)


def test_executed_notebooks_hold_injected_parameters(smoke):
    run, _ = smoke
    nb = nbformat.read(run / 'notebooks' / STAGES['data'].notebook, 4)
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
    r = cli('run', 'deploy', '--runs', tmp_path)
    assert r.returncode == 2 and "unknown stage 'deploy'" in r.stderr


def test_bad_profile_in_config_is_caught(project_copy):
    cfg = project_copy / 'pipeline.yaml'
    cfg.write_text(cfg.read_text().replace('    cv_folds: 3', '    cv_fold: 3'))
    r = cli('run', '--profile', 'smoke', '--config', cfg, '--runs', project_copy / 'runs')
    assert r.returncode == 2 and "unknown parameter 'cv_fold'" in r.stderr


def test_plans_on_an_empty_runs_folder(tmp_path):
    "The issue's own check: a target runs only its branch, and --plan says so without running anything."
    r = cli('run', 'quantize', '--plan', '--runs', tmp_path)
    assert r.returncode == 0, r.stderr
    assert '2 to run, 0 to reuse' in r.stdout and 'transfer' in r.stdout and 'quantize' in r.stdout
    assert not any(s in r.stdout for s in ('business', 'ingest', 'train ', 'housing')) and list(tmp_path.iterdir()) == []
    r = cli('run', '--from', 'train', '--plan', '--runs', tmp_path)
    assert r.returncode == 2 and 'needs an earlier run that finished' in r.stderr


def break_notebook(path: Path, message='injected failure'):
    nb = nbformat.read(path, 4)
    i = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(f'raise RuntimeError({message!r})'))
    nbformat.write(nb, path)


def test_failing_stage_then_resume(project_copy):
    nb = project_copy / 'nbs' / STAGES['features'].notebook
    good = nb.read_bytes()
    break_notebook(nb)
    runs, cfg = project_copy / 'runs', project_copy / 'pipeline.yaml'
    r = cli('run', 'onnx', '--profile', 'smoke', '-p', 'n_customers=600', '--config', cfg, '--runs', runs)
    assert r.returncode == 1
    (run,) = runs.iterdir()
    out = run / 'notebooks' / STAGES['features'].notebook
    assert "stage 'features' failed in cell" in r.stderr and 'RuntimeError: injected failure' in r.stderr
    assert str(out) in r.stderr and f'--resume {run.name}' in r.stderr
    m = manifest(run)
    wanted = upstream(STAGES, ['onnx'])
    assert m['status'] == 'failed' and [s['name'] for s in m['stages']] == wanted and 'imbalance' not in wanted
    assert statuses(m) == {**{n: 'pending' for n in wanted}, 'business': 'ok', 'data': 'ok', 'ingest': 'ok', 'features': 'failed'}
    assert m['stages'][3]['error']['ename'] == 'RuntimeError'
    assert 'injected failure' in out.read_text()  # the executed notebook shows the error in place
    done = {n: (run / 'notebooks' / STAGES[n].notebook).stat().st_mtime_ns for n in ('business', 'data', 'ingest')}
    raw_sha = sha256(run / 'raw.csv')

    r = cli('run', '--resume', run.name, '-p', 'seed=1', '--config', cfg, '--runs', runs)
    assert r.returncode == 2 and 'as it was planned' in r.stderr  # resume keeps the run's parameters

    nb.write_bytes(good)  # the cause is fixed
    r = cli('run', '--resume', run.name, '--config', cfg, '--runs', runs)
    assert r.returncode == 0, r.stderr
    assert f'[1/{len(wanted) - 3}] features' in r.stdout
    m = manifest(run)
    assert m['status'] == 'ok' and set(statuses(m).values()) == {'ok'}
    assert m['stages'][1]['params']['n_customers'] == 600
    for n, t in done.items(): assert (run / 'notebooks' / STAGES[n].notebook).stat().st_mtime_ns == t, f'{n} was re-run'
    assert sha256(run / 'raw.csv') == raw_sha
    r = cli('run', '--resume', run.name, '--config', cfg, '--runs', runs)
    assert r.returncode == 2 and 'no failed or unfinished stage' in r.stderr


def test_a_changed_parameter_reruns_its_stage_and_reuses_the_rest(smoke, runs_dir):
    "The issue's check: --from evaluate with a new threshold reuses every upstream stage; the same again reuses evaluate too."
    base, _ = smoke
    args = ('run', '--from', 'evaluate', '-p', 'threshold=0.5', '--profile', 'smoke', '--base', base.name, '--runs', runs_dir)
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    first = newest(runs_dir)
    m = manifest(first)
    st = statuses(m)
    assert st['evaluate'] == 'ok' and all(st[n] == 'reused' for n in upstream(STAGES, ['evaluate']) if n != 'evaluate')
    assert {'housing', 'byod', 'transfer', 'quantize'} & set(st) == set()  # not downstream of evaluate: not in this run
    assert next(s for s in m['stages'] if s['name'] == 'evaluate')['why'] == 'threshold=0.5 (was -1.0)'
    assert read_json(first / 'metrics.json')['threshold'] == 0.5
    assert sha256(first / 'model.joblib') == sha256(base / 'model.joblib')
    assert set(statuses(manifest(base)).values()) == {'ok'}  # the base run is untouched
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    second = manifest(newest(runs_dir))
    assert set(statuses(second).values()) == {'reused'}
    assert next(s for s in second['stages'] if s['name'] == 'evaluate')['reused_from'] == first.name
    assert sha256(newest(runs_dir) / 'metrics.json') == sha256(first / 'metrics.json')


def test_targets_and_from_with_a_base_run(smoke, runs_dir):
    base, _ = smoke
    r = cli('run', '--from', 'train', '-p', 'models=logreg', '--profile', 'smoke', '--base', base.name, '--runs', runs_dir)
    assert r.returncode == 0, r.stderr
    new = newest(runs_dir)
    st = statuses(manifest(new))
    assert sorted(read_json(new / 'train.json')['models']) == ['logreg', 'majority']
    assert {n for n, s in st.items() if s == 'ok'} == {'train', 'imbalance', 'tuning', 'evaluate', 'interpret', 'tracking', 'onnx', 'register'}
    assert 'housing' not in st and 'transfer' not in st
    r = cli('run', 'evaluate', '-p', 'drift=0.5', '--base', base.name, '--runs', runs_dir)
    assert r.returncode == 2 and 'belongs only to stages taken from run' in r.stderr


def test_from_plan_leaves_unrelated_branches_alone(smoke, runs_dir):
    r = cli('run', '--from', 'features', '--plan', '--profile', 'smoke', '--runs', runs_dir)
    assert r.returncode == 0, r.stderr
    assert not any(f'│ {s} ' in r.stdout for s in ('housing', 'byod', 'transfer', 'quantize', 'distil', 'lora', 'qat', 'continual'))
    assert '│ features ' in r.stdout and '│ onnx ' in r.stdout


def test_runs_stages_and_params_commands(smoke, runs_dir):
    r = cli('runs', '--runs', runs_dir)
    assert r.returncode == 0 and smoke[0].name in r.stdout
    r = cli('params', '--profile', 'smoke')
    assert r.returncode == 0 and 'n_customers' in r.stdout and '2000' in r.stdout
    r = cli('stages')
    assert r.returncode == 0 and all(n in r.stdout for n in STAGES)
