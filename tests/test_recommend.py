"""The real-time recommender (2_data/23_interactions, 4_modeling/46_recommend, 7_serve/77_recommend) through the real model
server on loopback, a real Mosquitto broker and a real MLflow registry: fold-in within the next request, bad input named and
counted, a broker that goes away, retraining that reaches a running server, and the pipeline stage's figures."""
import json, time
from collections import Counter
import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import cli
from mlops_lab.data.interactions import generate
from mlops_lab.modeling.recommend import Factors, fit_factors
from mlops_lab.serve.server import spawn


@pytest.fixture(scope='module')
def recs(tmp_path_factory):
    "Small interactions, the factors fitted on them, and their file."
    items, events, truth = generate(n_users=300, n_items=200, n_events=12_000, seed=3)
    f = fit_factors(events, items, iterations=8)
    path = f.save(tmp_path_factory.mktemp('recs') / 'recommender.npz')
    return f, path


def now() -> str: return pd.Timestamp.now('UTC').isoformat()


def light_users(f: Factors):
    "Users with 5 to 15 items (a few purchases move them), and each item's number of users."
    n_seen, pop = np.diff(f.X.indptr), np.asarray((f.X > 0).sum(0)).ravel()
    return [str(u) for i, u in enumerate(f.users) if 5 <= n_seen[i] <= 15], pop


def test_an_event_changes_the_next_list_and_the_cache_serves_it_again(recs):
    f, path = recs
    light, pop = light_users(f)
    with spawn('--source', 'none', '--recommender', path) as url:
        assert httpx.get(f'{url}/ready').json()['recommender'] == 'file:recommender.npz'
        moved = 0
        for user in light[:5]:
            assert httpx.get(f'{url}/recommend/{user}?k=10').json()['basis'] == 'model'
            top50 = httpx.get(f'{url}/recommend/{user}?k=50').json()['items']
            shown = Counter(i['category'] for i in top50)
            cat = min(sorted(set(f.categories)), key=lambda c: shown[c])  # the category the user sees least
            idx = np.flatnonzero(f.categories == cat)
            picks = [str(i) for i in f.items[idx[np.argsort(-pop[idx], kind='stable')[:3]]]]
            r = httpx.post(f'{url}/events', json={'events': [{'event_id': f'{user}-{n}', 'user_id': user, 'item_id': i, 'type': 'purchase',
                                                              'ts': now()} for n, i in enumerate(picks)]})
            assert r.status_code == 200 and r.json()['accepted'] == 3
            after = httpx.get(f'{url}/recommend/{user}?k=50')
            a = after.json()
            assert (a['basis'], a['cache']) == ('fold-in', 'miss') and after.headers['x-model-version'] == 'recommender:file:recommender.npz'
            assert not set(picks) & {i['item_id'] for i in a['items']}  # bought: never recommended again
            moved += sum(i['category'] == cat for i in a['items']) > shown[cat]
            again = httpx.get(f'{url}/recommend/{user}?k=50').json()
            assert again['cache'] == 'hit' and again['items'] == a['items']
        assert moved >= 4, f'three purchases in a category should raise its share of the next list for most users ({moved} of 5)'
        cold = httpx.get(f'{url}/recommend/nobody-yet?k=5&category=c03').json()
        assert cold['basis'] == 'cold-start' and {i['category'] for i in cold['items']} == {'c03'}


def test_bad_input_gets_a_clear_error_and_every_event_is_accounted(recs, tmp_path):
    f, path = recs
    from mlops_lab.serve.server import add_token
    token = add_token(tmp_path / 'tokens', 'tester')
    user, item = str(f.users[0]), str(f.items[0])
    ok = {'event_id': 'e-ok', 'user_id': user, 'item_id': item, 'type': 'click', 'ts': now()}
    with spawn('--source', 'none', '--recommender', path, '--tokens', tmp_path / 'tokens') as url:
        r = httpx.post(f'{url}/events', content=b'{"events": [', headers={'content-type': 'application/json'})
        assert r.status_code == 400 and 'not valid JSON' in r.json()['detail']
        assert httpx.post(f'{url}/events', json={'events': []}).status_code == 422
        assert httpx.post(f'{url}/events', json={'events': [ok] * 1001}).status_code == 422
        r = httpx.post(f'{url}/events', content=b'[' * 5000 + b']' * 5000, headers={'content-type': 'application/json'})
        assert r.status_code == 400 and 'RecursionError' in r.json()['detail']  # nested too deep: refused, the server lives on
        batch = [ok, ok, {**ok, 'event_id': 'e-item', 'item_id': 'nope'}, {**ok, 'event_id': 'e-type', 'type': 'like'},
                 {**ok, 'event_id': 'e-future', 'ts': '2099-01-01T00:00:00'}, {k: v for k, v in ok.items() if k != 'ts'}, 'text', None,
                 {**ok, 'event_id': 'e late', 'ts': '2026-01-01T00:00:00Z'}, {**ok, 'event_id': 'e-late', 'ts': '2026-01-01T00:00:00Z'},
                 {**ok, 'event_id': {'nested': 1}}]
        out = httpx.post(f'{url}/events', json={'events': batch}).json()
        assert [e['outcome'] for e in out['events']] == ['accepted', 'duplicate'] + ['quarantined'] * 7 + ['accepted', 'quarantined']
        reasons = [e.get('reason', '') for e in out['events']]
        assert 'not in the catalogue' in reasons[2] and 'type' in reasons[3] and 'in the future' in reasons[4]
        assert reasons[5] == 'ts: missing' and reasons[6] == reasons[7] == 'not a JSON object' and reasons[8].startswith('event_id')
        assert out['events'][9]['late'] is True
        counts = httpx.get(f'{url}/events').json()
        assert counts['received'] == len(batch) == counts['accepted'] + counts['duplicate'] + counts['quarantined']
        assert {q['position'] for q in counts['quarantine']} == {f'api event {n}' for n in (3, 4, 5, 6, 7, 8, 9, 11)}
        listed = httpx.post(f'{url}/events', json=[{**ok, 'event_id': 'as-list'}]).json()  # a bare JSON list is a batch too
        assert listed['accepted'] == 1
        for bad in ('k=0', 'k=51', 'k=ten', 'category=c99'):
            assert httpx.get(f'{url}/recommend/{user}?{bad}').status_code == 422, bad
        assert httpx.get(f'{url}/recommend/a%20b').status_code == 422
        auth = {'authorization': f'Bearer {token}'}
        assert httpx.post(f'{url}/items', json={'item_id': 'new-1', 'category': 'c01'}).status_code == 401
        assert httpx.post(f'{url}/items', json={'item_id': 'new-1'}, headers=auth).status_code == 422
        assert httpx.post(f'{url}/items', json={'item_id': 'new-1', 'category': 'c99'}, headers=auth).status_code == 422
        assert httpx.post(f'{url}/items', json={'item_id': item, 'category': 'c01'}, headers=auth).status_code == 409
        r = httpx.post(f'{url}/items', json={'item_id': 'new-1', 'category': 'c01'}, headers=auth)
        assert r.status_code == 201 and r.json()['by'] == 'tester'
        listed = httpx.get(f'{url}/recommend/{user}?k=50&category=c01').json()['items']
        assert any(i['item_id'] == 'new-1' and i['new'] for i in listed)
        ev = httpx.post(f'{url}/events', json={**ok, 'event_id': 'e-new', 'item_id': 'new-1'}).json()
        assert ev['accepted'] == 1  # a new item takes events at once
        metrics = httpx.get(f'{url}/metrics').text
        assert 'mlops_events_total{outcome="quarantined",source="api"} 8.0' in metrics
        assert 'mlops_requests_total{route="/recommend",status="422",version=""}' in metrics


def test_mqtt_events_reach_the_lists_and_a_broker_that_goes_away_stops_nothing(recs, broker):
    f, path = recs
    from mlops_lab.prepare.iot import publish
    item = str(f.items[np.argmax(np.asarray((f.X > 0).sum(0)).ravel())])
    def msg(n, user='mqtt-user'): return json.dumps({'event_id': f'm{n}', 'user_id': user, 'item_id': item, 'type': 'click', 'ts': now()}).encode()
    def wait(url, n):
        end = time.monotonic() + 30
        while httpx.get(f'{url}/events').json()['received'] < n:
            assert time.monotonic() < end, httpx.get(f'{url}/events').json()
            time.sleep(0.1)
    with spawn('--source', 'none', '--recommender', path, '--events-mqtt', broker.port) as url:
        publish([b'[' * 5000, msg(1), msg(1), b'not json'], broker.port, topic='lab/events')  # nested too deep first: the client must live on
        wait(url, 4)
        c = httpx.get(f'{url}/events').json()
        assert (c['accepted'], c['duplicate'], c['quarantined']) == (1, 1, 2)
        assert httpx.get(f'{url}/recommend/mqtt-user').json()['basis'] == 'fold-in'  # a user the model never saw
        broker.stop()
        assert httpx.get(f'{url}/recommend/mqtt-user').status_code == 200  # the API does not depend on the broker
        assert httpx.post(f'{url}/events', json={'event_id': 'h1', 'user_id': 'u-http', 'item_id': item, 'type': 'view', 'ts': now()}).json()['accepted'] == 1
        broker.start()
        publish([msg(2, 'back-user')], broker.port, topic='lab/events')  # the server's client reconnects by itself
        wait(url, 6)
        assert httpx.get(f'{url}/recommend/back-user').json()['basis'] == 'fold-in'


def test_a_retrain_reaches_a_server_that_follows_the_alias(recs):
    import logging
    from mlops_lab.serve.recommend import Live, register_factors, retrain, RECOMMENDER
    from mlops_lab.serve.registry import aliases, scratch_store
    logging.getLogger('mlflow').setLevel(logging.ERROR)
    f, _ = recs
    uri = scratch_store()
    v1 = register_factors(f, uri)
    with spawn('--source', 'none', '--recommender', f'models:/{RECOMMENDER}@champion', '--store', uri, '--poll', '0.2') as url:
        assert httpx.get(f'{url}/ready').json()['recommender'] == v1
        live = Live(f, v1, precompute=0)
        user, item = 'brand-new-user', str(f.items[0])
        live.add_events([{'event_id': 'r1', 'user_id': user, 'item_id': item, 'type': 'purchase', 'ts': now()}])
        with pytest.raises(ValueError, match='no events to learn from'): retrain(live, uri, since=time.time() + 3600)
        v2 = retrain(live, uri, iterations=5)
        assert aliases(uri, RECOMMENDER) == {'champion': v2, 'previous': v1}
        end = time.monotonic() + 30
        while httpx.get(f'{url}/ready').json()['recommender'] != v2:
            assert time.monotonic() < end, 'the server did not follow the champion alias'
            time.sleep(0.2)
        r = httpx.get(f'{url}/recommend/{user}')
        assert r.json()['basis'] == 'model' and r.headers['x-model-version'] == f'recommender:{v2}'  # the retrain learnt the new user


def test_the_periodic_retrain_learns_what_came_over_http(recs, tmp_path):
    import logging
    from mlops_lab.serve.recommend import RECOMMENDER, register_factors
    from mlops_lab.serve.registry import aliases, scratch_store
    logging.getLogger('mlflow').setLevel(logging.ERROR)
    f, path = recs
    uri = scratch_store()
    v1 = register_factors(f, uri)
    with spawn('--source', 'none', '--recommender', f'models:/{RECOMMENDER}@champion', '--store', uri, '--poll', '0.2',
               '--retrain-every', '0.5') as url:
        time.sleep(1.5)
        assert httpx.get(f'{url}/ready').json()['recommender'] == v1  # no event, no retrain
        r = httpx.post(f'{url}/events', json={'event_id': 'p1', 'user_id': 'late-comer', 'item_id': str(f.items[0]), 'type': 'purchase', 'ts': now()})
        assert r.json()['accepted'] == 1
        assert httpx.get(f'{url}/recommend/late-comer').json()['basis'] == 'fold-in'
        end = time.monotonic() + 60
        while httpx.get(f'{url}/ready').json()['recommender'] == v1:
            assert time.monotonic() < end, 'no periodic retrain reached the server'
            time.sleep(0.2)
        assert httpx.get(f'{url}/recommend/late-comer').json()['basis'] == 'model'  # learnt by the retrain
        assert aliases(uri, RECOMMENDER)['previous'] == v1
    r = cli('serve', '--source', 'none', '--recommender', path, '--retrain-every', '5', timeout=120)
    assert r.returncode != 0 and 'a periodic retrain registers versions' in r.stderr, r.stderr


def test_a_recommender_that_cannot_be_loaded_is_a_clear_error(tmp_path):
    bad = tmp_path / 'recommender.npz'
    bad.write_bytes(b'PK\x03\x04 truncated')
    r = cli('serve', '--source', 'none', '--recommender', bad, '--port', '0', timeout=120)
    assert r.returncode != 0 and f'{bad}: not a recommender file' in r.stderr, r.stderr
    r = cli('serve', '--source', 'none', '--recommender', 'models:/churn@champion', '--store', f'sqlite:///{tmp_path}/m.db', timeout=120)
    assert r.returncode != 0 and "registered as 'recommender'" in r.stderr, r.stderr


def test_the_pipeline_stage_ranks_models_against_the_oracle(smoke):
    run, _ = smoke
    res = json.loads((run / 'recommend.json').read_text())
    ndcg = {m: r['ndcg']['value'] for m, r in res['models'].items()}
    assert ndcg['oracle'] > ndcg['als'] > ndcg['popularity'] and ndcg['item-cosine'] > ndcg['popularity'], ndcg
    for r in res['models'].values():
        for name in ('precision', 'recall', 'ndcg', 'map', 'novelty'):
            lo, hi = r[name]['interval']
            assert lo <= r[name]['value'] <= hi, (name, r[name])
    f = Factors.load(run / 'recommender.npz')
    assert f.X.shape == (len(f.users), len(pd.read_parquet(run / 'items.parquet')))
