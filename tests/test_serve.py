"""The registry and the model server for real: MLflow's registry on SQLite, `mlops-lab model` and `mlops-lab serve`
as a user runs them (uvicorn on a free loopback port), and Debian's Prometheus scraping the server."""
import contextlib, json, shutil, subprocess, threading, time
from pathlib import Path
import httpx
import joblib
import pandas as pd
import pytest
from conftest import cli
from mlops_lab.serve import registry as reg
from mlops_lab.prepare.api import free_port
from mlops_lab.serve.server import EXAMPLE, read_log, spawn

OK = EXAMPLE


def wait_for(check, timeout: float, what: str):
    "Call `check` until it returns something truthy (exceptions count as not yet); fail after `timeout` seconds."
    end, last = time.monotonic() + timeout, None
    while time.monotonic() < end:
        try:
            got = check()
            if got: return got
        except Exception as e: last = e
        time.sleep(0.1)
    raise AssertionError(f'{what}: not within {timeout}s (last error: {last!r})')


@pytest.fixture(scope='module')
def store(smoke, tmp_path_factory):
    "A scratch registry with two versions of the smoke run's model (v1 champion) and a worse one (v3, shuffled labels)."
    run, _ = smoke
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    for _ in range(2): reg.register(run, reg.track(run, uri))
    reg.promote(uri, '1', 'test')
    worse = tmp_path_factory.mktemp('worse') / 'worse-run'
    shutil.copytree(run, worse, ignore=shutil.ignore_patterns('candidates', 'bundle', '*.keras', 'vision.npz'))
    from sklearn.base import clone
    from mlops_lab.deploy.onnx import to_onnx
    from mlops_lab.prepare.features import xy
    model = clone(joblib.load(run / 'model.joblib'))
    X, y = xy(pd.read_parquet(run / 'train.parquet'))
    model.fit(X, y.sample(frac=1, random_state=0).to_numpy())  # labels shuffled: a model that learned nothing
    joblib.dump(model, worse / 'model.joblib')
    (worse / 'model.onnx').write_bytes(to_onnx(model))
    assert reg.register(worse, reg.track(worse, uri)) == '3'
    return uri


def test_pipeline_run_registers_its_model(smoke):
    "The pipeline's run ends with a registered version in the runs folder's store: the first one is champion."
    run, _ = smoke
    out = json.loads((run / 'registry.json').read_text())
    uri = reg.lab_store(run.parent)
    assert out['store'] == uri and out['aliases']['champion'] == out['version'] and out['role'] == 'champion'
    v = reg.model_version(uri, out['version'])
    assert v.tags['pipeline_run'] == run.name and v.tags['metric.roc_auc'].count('[') == 1
    assert json.loads(v.tags['gate'])['passed']
    r = cli('model', 'list', '--store', uri)
    assert r.returncode == 0 and 'champion' in r.stdout, r.stdout + r.stderr


def test_promotion_refusals_move_no_alias(store):
    before = reg.aliases(store)
    r = cli('model', 'promote', '3', '--store', store, '--actor', 'tester')  # the model that learned nothing
    assert r.returncode == 1 and 'fails the promotion gate' in r.stderr and 'not_worse' in r.stderr, r.stdout + r.stderr
    r = cli('model', 'promote', '42', '--store', store)
    assert r.returncode == 1 and "no version '42'" in r.stderr, r.stderr
    r = cli('model', 'promote', '1', '--store', store)
    assert r.returncode == 1 and 'already the champion' in r.stderr, r.stderr
    assert reg.aliases(store) == before
    last = reg.history(store)[-1]
    assert (last['action'], last['version'], last['actor']) == ('refused', '3', 'tester') and 'ROC-AUC' in last['reason']
    gate = json.loads(reg.model_version(store, '3').tags['gate'])
    assert not gate['checks']['not_worse']['passed'] and gate['checks']['onnx_agrees']['passed']


def test_unreachable_store_is_a_clear_error(tmp_path):
    r = cli('model', 'list', '--store', f'sqlite:///{tmp_path}/no/such/folder/mlflow.db')
    assert r.returncode == 1 and 'cannot be reached' in r.stderr, r.stdout + r.stderr
    (tmp_path / 'garbage.db').write_bytes(b'this is not a database' * 100)
    r = cli('model', 'rollback', '--store', f'sqlite:///{tmp_path}/garbage.db')
    assert r.returncode == 1 and 'cannot be reached' in r.stderr, r.stdout + r.stderr


def test_server_answers_and_refuses_bad_input(store, tmp_path):
    with spawn('--store', store, '--log-dir', tmp_path / 'log') as url:
        assert httpx.get(f'{url}/ready').json() == {'ready': True, 'version': '1'}
        one = httpx.post(f'{url}/predict', json=OK)
        assert one.status_code == 200 and one.json()['version'] == '1' and one.headers['x-model-version'] == '1'
        assert 0 <= one.json()['churn_probability'] <= 1
        many = httpx.post(f'{url}/predict', json={'records': [OK, {**OK, 'contract': 'two-year', 'tenure_months': 60}]}).json()
        assert [p['version'] for p in many['predictions']] == ['1', '1']
        info = httpx.get(f'{url}/model').json()
        assert (info['version'], info['alias'], info['backend']) == ('1', 'champion', 'onnx') and 'metric.roc_auc' in info
        bad = {'unknown category': ({**OK, 'contract': 'weekly'}, 'contract'),
               'missing field': ({k: v for k, v in OK.items() if k != 'monthly_charges'}, 'monthly_charges'),
               'extra field': ({**OK, 'colour': 'red'}, 'colour'),
               'wrong type': ({**OK, 'support_calls': 'many'}, 'support_calls'),
               'out of range': ({**OK, 'tenure_months': -1}, 'tenure_months'),
               'fractional count': ({**OK, 'support_calls': 2.5}, 'support_calls'),
               'overlong string': ({**OK, 'customer_id': 'x' * 65}, 'customer_id'),
               'null where required': ({**OK, 'contract': None}, 'contract'),
               'empty batch': ({'records': []}, 'records'),
               'oversized batch': ({'records': [OK] * 1001}, 'records'),
               'bad record in a batch': ({'records': [OK, {**OK, 'senior': 7}]}, 'senior'),
               'not an object': ('just text', 'body')}
        for case, (body, field) in bad.items():
            r = httpx.post(f'{url}/predict', json=body)
            assert r.status_code == 422, (case, r.status_code, r.text)
            assert any(p['field'] == field for p in r.json()['detail']), (case, r.text)
        raw = {'malformed JSON': b'{"tenure_months": 3,', 'NaN': json.dumps({**OK, 'monthly_charges': float('nan')}).encode(),
               'Infinity': json.dumps({**OK, 'total_charges': float('inf')}).encode(), 'not UTF-8': b'\xff\xfe{}'}
        for case, body in raw.items():
            r = httpx.post(f'{url}/predict', content=body, headers={'content-type': 'application/json'})
            assert r.status_code == 400 and 'not valid JSON' in r.json()['detail'][0]['problem'], (case, r.text)
        r = httpx.post(f'{url}/predict', content=b'{"a": "' + b'x' * 1_100_000 + b'"}', headers={'content-type': 'application/json'})
        assert r.status_code == 413 and 'over the limit' in r.json()['detail']
        r = httpx.post(f'{url}/predict', content=iter([b'{"records": ', b'[]}']), headers={'content-type': 'application/json'})  # chunked
        assert r.status_code == 411
        metrics = httpx.get(f'{url}/metrics').text
        assert 'mlops_requests_total{route="/predict",status="200",version="1"} 2.0' in metrics
        assert 'mlops_errors_total{kind="invalid"} 12.0' in metrics and 'mlops_churn_probability_count{version="1"} 3.0' in metrics
        assert 'mlops_model_loaded{backend="onnx",version="1"} 1.0' in metrics
    log = read_log(tmp_path / 'log')
    assert len(log) == 3 and set(log.version) == {'1'} and log.customer_id.iloc[0] == 'C000001'


def test_backends_agree_over_http(store, smoke):
    run, _ = smoke
    rows = pd.read_parquet(run / 'test.parquet').head(300)
    cols = ['tenure_months', 'contract', 'internet_service', 'payment_method', 'monthly_charges', 'total_charges', 'support_calls', 'senior']
    records = json.loads(rows[cols].to_json(orient='records'))
    got = {}
    for backend in ('onnx', 'sklearn'):
        with spawn('--store', store, '--backend', backend) as url:
            got[backend] = httpx.post(f'{url}/predict', json={'records': records}).json()['predictions']
    assert max(abs(a['churn_probability'] - b['churn_probability']) for a, b in zip(got['onnx'], got['sklearn'])) < 1e-4
    assert [a['act'] for a in got['onnx']] == [b['act'] for b in got['sklearn']]


def test_alias_moves_reach_the_server_without_failing_a_request(store):
    "Promotion and rollback while clients keep sending: every request answered, by the old version and then the new."
    with spawn('--store', store, '--poll', '0.3') as url:
        seen, failures, stop = [], [], threading.Event()
        def client():
            with httpx.Client() as c:
                while not stop.is_set():
                    try:
                        r = c.post(f'{url}/predict', json=OK)
                        (seen if r.status_code == 200 else failures).append(r.json().get('version') if r.status_code == 200 else r.status_code)
                    except Exception as e: failures.append(repr(e))
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads: t.start()
        try:
            time.sleep(1)
            assert cli('model', 'promote', '2', '--store', store, '--actor', 'ci').returncode == 0
            wait_for(lambda: seen and seen[-1] == '2', 30, 'version 2 answers after the promotion')
            time.sleep(0.5)
            r = cli('model', 'rollback', '--store', store, '--actor', 'ci', '--reason', 'drill')
            assert r.returncode == 0, r.stderr
            wait_for(lambda: seen[-1] == '1', 30, 'version 1 answers after the rollback')
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads: t.join()
    assert failures == [] and len(seen) > 50
    switches = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
    assert switches[0] == '1' and '2' in switches and switches[-1] == '1'
    assert reg.aliases(store) == {'champion': '1', 'previous': '2'}
    assert [h['action'] for h in reg.history(store)[-2:]] == ['promote', 'rollback']


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(store, smoke, tmp_path):
    "The alias moved (by hand, past the gate) to a version whose ONNX file is corrupt: the server keeps serving what it had."
    run, _ = smoke
    uri = copy_store(store, tmp_path)
    broken = tmp_path / 'broken-run'
    shutil.copytree(run, broken, ignore=shutil.ignore_patterns('candidates', 'bundle', '*.keras', 'vision.npz'))
    (broken / 'model.onnx').write_bytes((run / 'model.onnx').read_bytes()[:300])
    v = reg.register(broken, reg.track(broken, uri))
    with spawn('--store', uri, '--poll', '0.3') as url:
        champion = reg.aliases(uri)['champion']
        reg.registry(uri).set_registered_model_alias(reg.NAME, 'champion', v)
        failed = lambda: [l for l in httpx.get(f'{url}/metrics').text.splitlines() if l.startswith('mlops_model_reloads_total{outcome="failed"}')]
        wait_for(failed, 30, 'the failed load is counted')
        assert httpx.get(f'{url}/ready').json() == {'ready': True, 'version': champion}
        r = httpx.post(f'{url}/predict', json=OK)
        assert r.status_code == 200 and r.json()['version'] == champion
        assert f'version {v} cannot be loaded' in httpx.get(f'{url}/model').json()['last_error']
        time.sleep(1)
        assert failed() == ['mlops_model_reloads_total{outcome="failed"} 1.0']  # not retried until the alias moves again


def test_a_server_without_a_model_is_alive_but_not_ready(tmp_path):
    uri = reg.scratch_store()
    with spawn('--store', uri, ready=False) as url:
        assert httpx.get(f'{url}/health').status_code == 200
        r = httpx.get(f'{url}/ready')
        assert r.status_code == 503 and 'no alias' in r.json()['error']
        assert httpx.post(f'{url}/predict', json=OK).status_code == 503


def test_prometheus_scrapes_the_server(store, tmp_path):
    "Debian's Prometheus on a free loopback port scrapes /metrics; its query API sees every request the server answered."
    prom = shutil.which('prometheus')
    assert prom, 'Prometheus not found: run `make setup` (installs Debian package prometheus)'
    with spawn('--store', store) as url:
        port = free_port()
        (tmp_path / 'prometheus.yml').write_text(
            'global: {scrape_interval: 1s}\n'
            f"scrape_configs: [{{job_name: churn, static_configs: [{{targets: ['{url.removeprefix('http://')}']}}]}}]\n")
        p = subprocess.Popen([prom, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                              f'--web.listen-address=127.0.0.1:{port}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            api = f'http://127.0.0.1:{port}/api/v1'
            for _ in range(25): assert httpx.post(f'{url}/predict', json=OK).status_code == 200
            httpx.post(f'{url}/predict', json={**OK, 'contract': 'weekly'})
            def value(q):
                res = httpx.get(f'{api}/query', params={'query': q}).json()['data']['result']
                return float(res[0]['value'][1]) if res else None
            wait_for(lambda: value('sum(mlops_requests_total{route="/predict",status="200"})') == 25, 30, 'Prometheus sees 25 answered requests')
            assert value('sum(mlops_errors_total{kind="invalid"})') == 1
            assert value('up{job="churn"}') == 1
            assert value('sum(mlops_churn_probability_count)') == 25
        finally:
            p.terminate()
            try: p.wait(10)
            except subprocess.TimeoutExpired: p.kill(); p.wait()


def copy_store(store: str, folder: Path) -> str:
    "A copy of the registry database (the artifacts stay shared), so a test may move aliases without touching the others' store."
    shutil.copy(store.removeprefix('sqlite:///'), folder / 'mlflow.db')
    return f"sqlite:///{folder / 'mlflow.db'}"


def send(url: str, n: int, prefix: str) -> list:
    "`n` one-record requests from new customers; the version that answered each (or the failure)."
    out = []
    with httpx.Client() as c:
        for i in range(n):
            r = c.post(f'{url}/predict', json={**OK, 'customer_id': f'{prefix}{i:06d}'})
            out.append(r.json()['version'] if r.status_code == 200 else r.status_code)
    return out


def test_canary_of_a_bad_challenger_is_rolled_back_and_recorded(store, tmp_path):
    "Version 3 (trained on shuffled labels) scores everyone alike: the score-shift guardrail ends its canary; no request fails."
    from mlops_lab.serve import rollout
    uri = copy_store(store, tmp_path)
    assert cli('model', 'challenger', '3', '--store', uri).returncode == 0
    r = cli('model', 'rollout', 'canary', '--store', uri, '--min-sample', '50', '--step-after', '50', '--actor', 'ci')
    assert r.returncode == 0 and 'canary of version 3 against champion 1: running' in r.stdout, r.stdout + r.stderr
    with spawn('--store', uri, '--poll', '0.3') as url:
        wait_for(lambda: httpx.get(f'{url}/rollout').json()['mode'] == 'canary', 30, 'the server follows the rollout')
        answered = send(url, 1500, 'K')
        wait_for(lambda: rollout.current(uri)['state'] != 'running', 30, 'the router records the end of the canary')
        after = send(url, 100, 'L')
    assert all(v in ('1', '3') for v in answered), [v for v in answered if v not in ('1', '3')][:5]
    ro = rollout.current(uri)
    assert ro['state'] == 'rolled back' and 'score shift' in ro['reason'] and ro['figures']['requests'] >= 50
    assert 50 <= answered.count('3') <= ro['figures']['requests'] and set(after) == {'1'}
    assert reg.aliases(uri)['champion'] == '1'
    last = reg.history(uri)[-1]
    assert (last['action'], last['version']) == ('canary rolled back', '3') and last['actor'].startswith('router')


def test_canary_of_a_good_challenger_completes_and_promotes_it(store, tmp_path):
    from mlops_lab.serve import rollout
    uri = copy_store(store, tmp_path)
    assert cli('model', 'challenger', '2', '--store', uri).returncode == 0
    assert cli('model', 'rollout', 'canary', '--store', uri, '--min-sample', '50', '--step-after', '50').returncode == 0
    with spawn('--store', uri, '--poll', '0.3') as url:
        wait_for(lambda: httpx.get(f'{url}/rollout').json()['mode'] == 'canary', 30, 'the server follows the rollout')
        answered = send(url, 2000, 'G')
        wait_for(lambda: reg.aliases(uri).get('champion') == '2', 30, 'the completed canary promotes version 2')
        wait_for(lambda: send(url, 1, 'H') == ['2'], 30, 'the server serves the new champion')
    assert set(answered) <= {'1', '2'} and answered.count('2') >= 50
    assert rollout.current(uri)['state'] == 'complete'
    assert [h['action'] for h in reg.history(uri)[-2:]] == ['canary complete', 'promote']


def test_write_routes_need_a_token_and_record_who_acted(store, tmp_path):
    "A real server with a tokens file made by `mlops-lab token`: no token, a wrong or revoked one: refused, no alias moved; a good one acts in its owner's name."
    uri, tokens = copy_store(store, tmp_path), tmp_path / 'tokens'
    assert cli('model', 'promote', '2', '--store', uri, '--actor', 'ci').returncode == 0
    r = cli('token', 'oncall-ana', '--tokens', tokens)
    assert r.returncode == 0 and 'shown once' in r.stderr
    ana = r.stdout.strip()
    bob = cli('token', 'bob', '--tokens', tokens).stdout.strip()
    assert ana not in tokens.read_text() and len(ana) >= 40
    def post(url, route, token=None, **body):
        return httpx.post(f'{url}{route}', json=body, headers={'Authorization': f'Bearer {token}'} if token else {}, timeout=30)
    with spawn('--store', uri, '--poll', '60') as open_server:  # started without --tokens: no write access at all
        r = post(open_server, '/rollback', ana, reason='x')
        assert r.status_code == 403 and 'write routes are off' in r.json()['detail']
    with spawn('--store', uri, '--poll', '60', '--tokens', tokens) as url:
        assert httpx.post(f'{url}/predict', json=OK).json()['version'] == '2'  # reading stays open
        r = post(url, '/rollback', reason='no token')
        assert r.status_code == 401 and r.headers['www-authenticate'] == 'Bearer'
        assert post(url, '/rollback', ana[:-2] + 'xx', reason='forged').status_code == 401
        assert post(url, '/rollout/stop', reason='nothing').status_code == 401
        assert reg.aliases(uri) == {'champion': '2', 'previous': '1'}  # nothing moved
        tokens.write_text(''.join(l + '\n' for l in tokens.read_text().splitlines() if not l.startswith('bob ')))  # revoke bob
        assert post(url, '/rollback', bob, reason='revoked').status_code == 401
        r = post(url, '/rollback', ana, reason='latency regression')
        assert r.status_code == 200 and r.json() == {'champion': '1', 'serving': '1', 'reloaded': True, 'by': 'oncall-ana'}, r.text
        assert httpx.post(f'{url}/predict', json=OK).json()['version'] == '1'  # at once: no wait for the poll
        assert post(url, '/rollout/stop', ana).status_code == 409  # no rollout running: a clear conflict
        assert post(url, '/reload', ana).json()['by'] == 'oncall-ana'
        metrics = httpx.get(f'{url}/metrics').text
    assert reg.aliases(uri) == {'champion': '1', 'previous': '2'}
    last = reg.history(uri)[-1]
    assert (last['action'], last['actor'], last['reason']) == ('rollback', 'oncall-ana', 'latency regression')
    assert 'mlops_errors_total{kind="unauthorized"} 4.0' in metrics


def test_shadow_answers_nobody_but_is_compared(store, tmp_path):
    uri = copy_store(store, tmp_path)
    assert cli('model', 'challenger', '3', '--store', uri).returncode == 0
    assert cli('model', 'rollout', 'shadow', '--store', uri).returncode == 0
    with spawn('--store', uri, '--poll', '0.3') as url:
        wait_for(lambda: httpx.get(f'{url}/rollout').json()['mode'] == 'shadow', 30, 'the server follows the rollout')
        answered = send(url, 200, 'S')
        s = wait_for(lambda: (lambda j: j if j.get('shadow', {}).get('compared') == 200 else None)(httpx.get(f'{url}/rollout').json()),
                     30, 'every request is scored by the shadow')
    assert set(answered) == {'1'} and s['touched'] == 0 and s['challenger']['requests'] >= 1  # shadow calls batch the queued copies
    r = cli('model', 'rollout', 'stop', '--store', uri, '--reason', 'enough evidence')
    assert r.returncode == 0 and 'shadow of version 3 against champion 1: stopped' in r.stdout, r.stdout + r.stderr


PROMTOOL_TESTS = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'up{job="churn"}', values: '1x5 0x10'}
      - {series: 'mlops_requests_total{route="/predict",status="200",version="1"}', values: '0+100x20'}
      - {series: 'mlops_requests_total{route="/predict",status="500",version="1"}', values: '0+5x20'}
      - {series: 'mlops_request_seconds_bucket{route="/predict",version="1",le="0.05"}', values: '0+100x20'}
      - {series: 'mlops_request_seconds_bucket{route="/predict",version="1",le="+Inf"}', values: '0+100x20'}
      - {series: 'mlops_request_seconds_bucket{route="/predict",version="2",le="0.05"}', values: '0+0x20'}
      - {series: 'mlops_request_seconds_bucket{route="/predict",version="2",le="0.1"}', values: '0+10x20'}
      - {series: 'mlops_request_seconds_bucket{route="/predict",version="2",le="+Inf"}', values: '0+10x20'}
      - {series: 'mlops_model_reloads_total{outcome="failed"}', values: '0x5 1x10'}
    alert_rule_test:
      - eval_time: 3m
        alertname: ModelServerDown
        exp_alerts: []
      - eval_time: 10m
        alertname: ModelServerDown
        exp_alerts: [{exp_labels: {severity: page, job: churn}, exp_annotations: {summary: 'the churn model server does not answer its scrape'}}]
      - eval_time: 10m
        alertname: ModelErrorRate
        exp_alerts: [{exp_labels: {severity: page}, exp_annotations: {summary: 'more than 1% of predictions fail'}}]
      - eval_time: 10m
        alertname: ModelSlow
        exp_alerts: [{exp_labels: {severity: ticket, version: '2'}, exp_annotations: {summary: 'p99 latency of version 2 above 50 ms'}}]
      - eval_time: 8m
        alertname: ModelReloadFailed
        exp_alerts: [{exp_labels: {severity: ticket, outcome: failed}, exp_annotations: {summary: 'a registry version could not be loaded; the server keeps the old one'}}]
      - eval_time: 3m
        alertname: ModelReloadFailed
        exp_alerts: []
  - interval: 1m
    input_series:
      - {series: 'mlops_requests_total{route="/predict",status="200",version="1"}', values: '0+100x130'}
      - {series: 'mlops_churn_probability_count{version="1"}', values: '0+100x130'}
      - {series: 'mlops_churn_probability_sum{version="1"}', values: '0+20x60 1260+60x70'}
    alert_rule_test:
      - eval_time: 50m
        alertname: ModelErrorRate
        exp_alerts: []
      - eval_time: 50m
        alertname: ModelScoreShift
        exp_alerts: []
      - eval_time: 100m
        alertname: ModelScoreShift
        exp_alerts: [{exp_labels: {severity: ticket}, exp_annotations: {summary: 'the mean predicted churn probability moved by more than 0.15 within the hour'}}]
"""


def test_alert_rules_pass_promtool(tmp_path):
    "The guardrails as Prometheus rules: valid, and firing exactly when the synthetic series break them (promtool test rules)."
    import yaml
    from mlops_lab.serve.rollout import alert_rules
    promtool = shutil.which('promtool')
    assert promtool, 'promtool not found: run `make setup` (installs Debian package prometheus)'
    (tmp_path / 'rules.yml').write_text(yaml.safe_dump(alert_rules(), sort_keys=False))
    (tmp_path / 'tests.yml').write_text(PROMTOOL_TESTS)
    r = subprocess.run([promtool, 'check', 'rules', 'rules.yml'], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and 'SUCCESS: 5 rules found' in r.stdout + r.stderr, r.stdout + r.stderr
    r = subprocess.run([promtool, 'test', 'rules', 'tests.yml'], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@contextlib.contextmanager
def clients(front: str, n: int = 4):
    "`n` clients posting through `front` until the block ends, each request on a new connection; yields (versions per client, failures)."
    seen, failed, stop = [[] for _ in range(n)], [], threading.Event()
    def client(mine):
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post(f'{front}/predict', json=OK)
                    (mine.append(r.json()['version']) if r.status_code == 200 else failed.append(r.status_code))
                except httpx.HTTPError as e: failed.append(repr(e))
    threads = [threading.Thread(target=client, args=(mine,)) for mine in seen]
    for t in threads: t.start()
    try: yield seen, failed
    finally:
        stop.set()
        for t in threads: t.join()


def order(mine: list) -> list:
    "The versions a client saw, each run of the same one collapsed: ['1', '2', '1'] is blue, green, blue."
    return [v for i, v in enumerate(mine) if i == 0 or v != mine[i - 1]]


@contextlib.contextmanager
def blue_green(store: str):
    "Blue serving version 1 and green version 2 of `store`, behind a front door sending traffic to blue; yields (blue, green, switch)."
    from mlops_lab.serve.bluegreen import Switch
    with spawn('--store', store, '--source', 'models:/churn/1') as blue, spawn('--store', store, '--source', 'models:/churn/2') as green:
        sw = Switch(blue.port)
        try: yield blue, green, sw
        finally: sw.close()


def test_blue_green_switches_and_back_without_a_failed_request(store):
    "Two server processes behind the front door; new connections follow each switch; a green that fails its probe never goes live."
    from mlops_lab.serve.bluegreen import cut_over
    with blue_green(store) as (blue, green, sw), clients(f'http://127.0.0.1:{sw.port}') as (seen, failed):
        time.sleep(0.5); assert cut_over(sw, green, OK)['version'] == '2'
        time.sleep(0.5)
        try: cut_over(sw, green, {**OK, 'contract': 'weekly'}); raise AssertionError('a failed probe went live')
        except RuntimeError as e: assert 'failed the probe' in str(e)
        assert sw.live == green.port
        time.sleep(0.5); assert cut_over(sw, blue, OK)['version'] == '1'
        time.sleep(0.5)
    assert failed == [] and sum(map(len, seen)) > 40
    for mine in seen: assert order(mine) == ['1', '2', '1'], mine  # never back and forth (across clients, answers may overlap a switch)


def test_blue_green_fails_over_to_blue_when_green_dies(store):
    "Green killed (SIGKILL) after the cut-over: the front door fails over to blue once, refuses nobody; only requests inside green are lost."
    from mlops_lab.serve.bluegreen import cut_over
    with blue_green(store) as (blue, green, sw), clients(f'http://127.0.0.1:{sw.port}') as (seen, failed):
        time.sleep(0.5); cut_over(sw, green, OK)
        time.sleep(0.5); green.proc.kill(); green.proc.wait()
        time.sleep(0.5)
    assert (sw.live, sw.refused, len(sw.failovers)) == (blue.port, 0, 1)
    assert sw.failovers[0][1:] == (green.port, blue.port)
    assert len(failed) <= 8, failed  # in flight inside green when it died: about one per client (two if one reconnects during its teardown)
    for mine in seen: assert order(mine) == ['1', '2', '1'], mine
