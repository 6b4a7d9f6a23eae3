"""Issue 17: the lab's jobs on a real Ray cluster (a head and a worker started with `ray start` on this machine,
token authentication on), checked against the same jobs on one machine; the cluster lets no one in without the
token, and its processes end when it is stopped or when the process that started it dies."""
import json, os, shutil, signal, subprocess, sys, textwrap, time, urllib.error, urllib.request
from pathlib import Path
import pandas as pd
import pytest
from conftest import ROOT, cli
from mlops_lab import scale


@pytest.fixture(scope='module')
def cluster():
    with scale.Cluster(workers=1, cpus=1) as c:
        yield c


def _no_ray(env=None):
    "This environment without any Ray address or token."
    return {k: v for k, v in (env or os.environ).items() if not k.startswith('RAY_')}


def test_the_cluster_reports_its_nodes_and_refuses_clients_without_the_token(cluster):
    seen = scale.nodes()
    assert [n['head'] for n in seen] == [True, False] and {n['state'] for n in seen} == {'ALIVE'}
    assert sum(n['CPU'] for n in seen) == 2
    with pytest.raises(urllib.error.HTTPError) as e:  # the state API behind the dashboard
        urllib.request.urlopen(f'{cluster.dashboard}/api/v0/nodes', timeout=10)
    assert e.value.code in (401, 403)
    ok = urllib.request.urlopen(urllib.request.Request(f'{cluster.dashboard}/api/v0/nodes',
                                                       headers={'Authorization': f'Bearer {cluster.token}'}), timeout=10)
    assert ok.status == 200 and len(json.loads(ok.read())['data']['result']['result']) == 2
    r = subprocess.run([sys.executable, '-c', f"import ray; ray.init(address='{cluster.address}')"], env=_no_ray(),
                       capture_output=True, text=True, timeout=180)  # the GCS itself
    assert r.returncode != 0 and 'token' in r.stderr.lower(), r.stderr[-2000:]


def test_cli_jobs_run_on_the_cluster_named_by_ray_address(cluster, smoke, tmp_path):
    "`mlops-lab score` and `ingest`, pointed at the cluster by RAY_ADDRESS alone, give what they give on one machine."
    run, _ = smoke
    env = {**_no_ray(), 'RAY_ADDRESS': cluster.address, 'RAY_AUTH_MODE': 'token', 'RAY_AUTH_TOKEN': cluster.token}
    customers = pd.read_parquet(run / 'test.parquet').drop(columns=['churn'])
    customers.to_parquet(tmp_path / 'customers.parquet', index=False)
    on_ray = cli('score', tmp_path / 'customers.parquet', '--out', tmp_path / 'ray', '--source', run, '--rows', 100, env=env)
    here = cli('score', tmp_path / 'customers.parquet', '--out', tmp_path / 'one.parquet', '--source', run, env=_no_ray())
    assert on_ray.returncode == 0 and here.returncode == 0, on_ray.stderr[-2000:] + here.stderr[-2000:]
    assert f'scored {len(customers)} rows' in on_ray.stdout
    a = pd.read_parquet(tmp_path / 'ray').sort_values('customer_id', ignore_index=True)
    b = pd.read_parquet(tmp_path / 'one.parquet').sort_values('customer_id', ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    bad = ROOT / 'data' / 'bad' / '*.csv'
    ingested = [cli('ingest', bad, '--out', tmp_path / out, env=e) for out, e in (('ray_in', env), ('one_in', _no_ray()))]
    assert [r.returncode for r in ingested] == [1, 1]  # some files of the corpus are rejected, on both
    table = lambda r: [l for l in r.stdout.splitlines() if '.csv' in l]  # the per-file rows: status, counts, output or reason
    assert table(ingested[0]) == table(ingested[1]) and len(table(ingested[0])) == len(list(bad.parent.glob('*.csv')))
    again = cli('ingest', bad, '--out', tmp_path / 'ray_in', env=env)
    assert 'done' not in ' '.join(table(again)) and 'skipped' in ' '.join(table(again))  # idempotent on the cluster too


def test_batch_scoring_on_ray_refuses_bad_input_and_keeps_the_old_output(cluster, smoke, tmp_path):
    run, _ = smoke
    with pytest.raises(FileNotFoundError, match='no such file'):
        scale.score_dataset(str(run), tmp_path / 'nothing.parquet', tmp_path / 'out')
    pd.DataFrame({'customer_id': ['a'], 'tenure': [3]}).to_parquet(tmp_path / 'thin.parquet')
    with pytest.raises(ValueError, match='no column'):
        scale.score_dataset(str(run), tmp_path / 'thin.parquet', tmp_path / 'out')
    (tmp_path / 'out').mkdir(); (tmp_path / 'out' / 'old.parquet').write_bytes(b'kept')
    (tmp_path / 'part').mkdir()  # a dataset whose second file is broken is refused before the job starts, the file named
    pd.read_parquet(run / 'test.parquet').drop(columns=['churn']).to_parquet(tmp_path / 'part' / 'a.parquet')
    (tmp_path / 'part' / 'b.parquet').write_bytes(b'PAR1 this is not a Parquet file PAR1')
    with pytest.raises(ValueError, match=r'b\.parquet: not a readable Parquet file'):
        scale.score_dataset(str(run), tmp_path / 'part', tmp_path / 'out')
    with pytest.raises(Exception, match='no-such-run'):  # the workers cannot load the model: the job fails once started
        scale.score_dataset(str(tmp_path / 'no-such-run'), run / 'test.parquet', tmp_path / 'out')
    assert [p.name for p in (tmp_path / 'out').iterdir()] == ['old.parquet']  # a failed job leaves the last output whole
    assert scale.score_dataset(str(run), run / 'test.parquet', tmp_path / 'out', rows=100)['rows'] == len(pd.read_parquet(run / 'test.parquet'))
    assert not (tmp_path / 'out' / 'old.parquet').exists()  # a job that succeeds replaces the folder whole


def test_the_tuning_stage_sweeps_on_ray_tune_as_well_as_optuna(cluster, smoke, tmp_path):
    from mlops_lab.modeling import tuning
    run, _ = smoke
    got = {}
    for kind in ('ray', 'optuna'):
        d = tmp_path / kind; d.mkdir()
        for f in ('train.json', 'train.parquet', 'features.joblib'): shutil.copy(run / f, d / f)
        got[kind] = tuning.stage(d, search=kind, n_trials=3, nested_folds=0)
        assert (d / 'model.joblib').is_file()
    assert got['ray']['configurations'] == got['optuna']['configurations'] == 3
    assert abs(got['ray']['best_cv_roc_auc'] - got['optuna']['best_cv_roc_auc']) < 0.01  # equal in quality at the same budget


WATCHED = textwrap.dedent('''
    import json, os, sys, time
    from mlops_lab.scale import Cluster
    c = Cluster(workers=0).start()
    first = [p.pid for p in c.procs]
    c.stop()
    c = Cluster(workers=1).start()
    print(json.dumps({'stopped': first, 'running': [p.pid for p in c.procs]}), flush=True)
    time.sleep(600)
''')


def _gone(pgids, within: float) -> bool:
    "Whether no process is left in any of the process groups `pgids` within `within` seconds."
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = []
        for g in pgids:
            try: os.killpg(g, 0); left.append(g)
            except ProcessLookupError: pass
        if not left: return True
        time.sleep(0.5)
    return False


def test_a_stopped_cluster_and_one_whose_driver_was_killed_leave_no_process():
    p = subprocess.Popen([sys.executable, '-c', WATCHED], stdout=subprocess.PIPE, text=True, env=_no_ray())
    try:
        pids = json.loads(p.stdout.readline())
        assert _gone(pids['stopped'], 5)  # `stop` waited for its nodes
        for g in pids['running']: os.killpg(g, 0)  # the second cluster is up
        p.kill(); p.wait()  # the driver dies without stopping it: the watchdogs do
        assert _gone(pids['running'], 40)
    finally:
        if p.poll() is None: p.kill()
        for g in (pids.get('running', []) if 'pids' in dir() else []):
            try: os.killpg(g, signal.SIGKILL)
            except ProcessLookupError: pass
