"""Sources against real servers: PostgreSQL and SQLite (SQLAlchemy), the CRM API over HTTP on loopback, Mosquitto."""
import json, shutil, tempfile, time
from datetime import timedelta
from pathlib import Path
import pandas as pd
import pytest
import sqlalchemy as sa
from mlops_lab.prepare import api, database, iot


# ---------------------------------------------------------------- database

def _billing(eng):
    with eng.begin() as c:
        c.execute(sa.text('DROP TABLE IF EXISTS billing'))
        ts = 'TEXT' if eng.dialect.name == 'sqlite' else 'TIMESTAMP'  # SQLite has no timestamp type: ISO text sorts right
        c.execute(sa.text(f'CREATE TABLE billing (customer_id VARCHAR(10) PRIMARY KEY, charge TEXT, updated_at {ts})'))
        c.execute(sa.text("INSERT INTO billing VALUES ('C2', '1', '2026-01-01 10:00:00'), ('C1', '2', '2026-01-01 10:00:00'),"
                          "('C3', '3', '2026-01-01 10:00:05'), ('C4', '4', '2026-01-01 10:00:05'), ('C5', '5', '2026-01-01 10:00:07')"))


@pytest.fixture(params=['sqlite', 'postgresql'])
def db(request, tmp_path):
    url = f'sqlite:///{tmp_path}/b.db' if request.param == 'sqlite' else request.getfixturevalue('postgres')
    eng = database.engine(url)
    _billing(eng)
    yield eng
    eng.dispose()


def test_full_pull_streams_in_chunks_ordered_by_watermark_and_key(db):
    parts = list(database.pull(db, 'billing', key='customer_id', watermark='updated_at', rows=2))
    assert [len(p) for p in parts] == [2, 2, 1]
    assert pd.concat(parts).customer_id.tolist() == ['C1', 'C2', 'C3', 'C4', 'C5']


def test_incremental_pull_with_compound_watermark_misses_no_tie(db):
    first = pd.concat(database.pull(db, 'billing', key='customer_id', watermark='updated_at', rows=10)).iloc[:3]
    since = database.watermark_of(first, 'updated_at', 'customer_id')  # stopped after C3 (10:00:05)
    with db.begin() as c:  # a late row with the same timestamp as the watermark, and an update
        c.execute(sa.text("INSERT INTO billing VALUES ('C6', '6', '2026-01-01 10:00:05')"))
        c.execute(sa.text("UPDATE billing SET charge = '9', updated_at = '2026-01-01 10:00:09' WHERE customer_id = 'C1'"))
    new = pd.concat(database.pull(db, 'billing', key='customer_id', watermark='updated_at', since=since))
    assert new.customer_id.tolist() == ['C4', 'C6', 'C5', 'C1']
    assert new.set_index('customer_id').charge['C1'] == '9'
    again = list(database.pull(db, 'billing', key='customer_id', watermark='updated_at', since=database.watermark_of(new, 'updated_at', 'customer_id')))
    assert sum(map(len, again)) == 0


def test_lookback_window_catches_a_row_written_late_with_an_older_watermark(db):
    first = pd.concat(database.pull(db, 'billing', key='customer_id', watermark='updated_at', rows=10))
    since = database.watermark_of(first, 'updated_at', 'customer_id')  # everything pulled, up to C5 (10:00:07)
    with db.begin() as c:  # committed late: a lower key and a timestamp behind the watermark
        c.execute(sa.text("INSERT INTO billing VALUES ('C0', '0', '2026-01-01 10:00:04')"))
    plain = list(database.pull(db, 'billing', key='customer_id', watermark='updated_at', since=since))
    assert sum(map(len, plain)) == 0  # the watermark alone never sees it
    back = pd.concat(database.pull(db, 'billing', key='customer_id', watermark='updated_at', since=since, lookback=timedelta(seconds=5)))
    assert back.customer_id.tolist() == ['C0', 'C3', 'C4', 'C5']  # 10:00:02 onwards: the late row and the window re-read
    seen = set(zip(first.customer_id, first.updated_at.astype(str)))
    assert [k for k, t in zip(back.customer_id, back.updated_at.astype(str)) if (k, t) not in seen] == ['C0']


def test_database_errors_are_clear(db):
    with pytest.raises(LookupError, match="no table 'nope'"):
        next(database.pull(db, 'nope', key='id'))
    with pytest.raises(ValueError, match='needs a watermark'):
        next(database.pull(db, 'billing', key='customer_id', since=('x', 'y')))


def test_unreachable_postgres_names_the_server_not_the_password():
    with pytest.raises(ConnectionError) as e:
        database.engine(f'postgresql+psycopg://lab:hunter2@127.0.0.1:{api.free_port()}/x')
    assert 'cannot connect to postgresql+psycopg://lab:***@127.0.0.1' in str(e.value) and 'hunter2' not in str(e.value)


# ---------------------------------------------------------------- REST API

RECS = [{'customer_id': f'C{i:06d}', 'support_calls': i % 5} for i in range(1, 251)]


def test_api_client_survives_every_fault_and_gets_each_record_once():
    app = api.crm_app(RECS, page_size=50, faults='slow@1,429@2,500@2,drop@3,500@5', slow_s=1.0, retry_after=1)
    with api.serve(app) as url:
        got = api.fetch(url, 'lab-token', api.Policy(read=0.3, base=0.01))
    assert got.items == RECS and len(got.position) == 250 and got.position[50] == 'page 2 #1'
    outcomes = [o for _, _, o in got.attempts if o != 'ok']
    assert outcomes == ['ReadTimeout', 'HTTP 429', 'HTTP 500', 'RemoteProtocolError', 'HTTP 500']
    assert [f for _, f in app.state.log if f != 'ok'] == ['slow', '429', '500', 'drop', '500']
    assert got.waited >= 1.0  # Retry-After: 1 was honoured


def test_api_auth_failure_is_not_retried():
    app = api.crm_app(RECS, page_size=50)
    with api.serve(app) as url:
        with pytest.raises(api.APIError, match='HTTP 401.*not retried'):
            api.fetch(url, 'wrong-token')
    assert app.state.log == []  # rejected before any page was served


def test_api_retry_budget_exhausted_lists_attempts():
    with api.serve(api.crm_app(RECS, faults='500@1,500@1,500@1,500@1')) as url:
        with pytest.raises(api.APIError, match=r'page=1: gave up after 3 attempts: HTTP 500, HTTP 500, HTTP 500'):
            api.fetch(url, 'lab-token', api.Policy(retries=2, base=0.01))


def test_api_unreachable_server_fails_after_retries():
    with pytest.raises(api.APIError, match='ConnectError'):
        api.fetch(f'http://127.0.0.1:{api.free_port()}', 'lab-token', api.Policy(retries=1, base=0.01))


def test_backoff_is_bounded_full_jitter():
    import random
    p, rng = api.Policy(base=0.5, cap=4), random.Random(1)
    waits = [[api.backoff(a, p, rng) for _ in range(2000)] for a in range(6)]
    for a, w in enumerate(waits):
        hi = min(4, 0.5 * 2 ** a)
        assert 0 <= min(w) and max(w) <= hi and abs(sum(w) / len(w) - hi / 2) < 0.1 * hi


def test_bad_fault_spec():
    with pytest.raises(ValueError, match="bad fault 'boom@2'"):
        api.parse_faults('429@1,boom@2')


# ---------------------------------------------------------------- MQTT

def test_mqtt_stream_is_validated_deduplicated_and_windowed(broker, tmp_path):
    payloads = iot.readings(1500, sensors=3, seed=4, bad=0.04, resend=0.03)
    col = iot.Collector(window=60, batch=200)
    sub = iot.subscribe(col, broker.port)
    acked = iot.publish(payloads, broker.port)
    assert iot.drain(col, payloads)
    sub.loop_stop(); sub.disconnect()
    assert len(acked) == len(payloads)
    # the same payloads without a network give the same result
    ref = iot.Collector(window=60, batch=200)
    for p in payloads: ref.add(p)
    c, r = col.counts(), ref.counts()
    assert c == r and c['duplicates'] > 0 and c['quarantined'] > 0
    assert c['read'] == c['accepted'] + c['quarantined'] and c['received'] == len(payloads)
    readings, windows, q = col.tables()
    assert readings.id.is_unique and windows['count'].sum() == c['accepted']
    assert set(q.reason.str.split(':').str[0]) >= {'temp', 'humidity', 'invalid JSON'}
    col.write(tmp_path / 'out')
    assert len(pd.read_parquet(tmp_path / 'out' / 'readings.parquet')) == c['accepted']


def test_watermark_closes_windows_and_quarantines_late_readings(broker):
    # readings shuffled within a few seconds of their event time, plus stragglers far behind: through the real broker
    import random
    rng = random.Random(7)
    mk = lambda i, s, t: json.dumps({'id': f'{s}-{i:06d}', 'sensor': s, 'ts': iot.T0 + t, 'temp': 20.0, 'humidity': 40.0}).encode()
    events = [(t + rng.uniform(0, 3), mk(t, s, t)) for t in range(300) for s in ('s00', 's01')]
    events += [(250.0 + k, mk(1000 + k, 's02', 10 * k)) for k in range(5)]  # sent at ~250 s for event times 0..40 s: far past their windows
    payloads = [p for _, p in sorted(events, key=lambda e: e[0])]
    col = iot.Collector(window=30, batch=50, lateness=10)
    sub = iot.subscribe(col, broker.port)
    assert len(iot.publish(payloads, broker.port)) == len(payloads)
    assert iot.drain(col, payloads)
    sub.loop_stop(); sub.disconnect()
    c = col.counts()
    assert c['received'] == len(payloads) and c['accepted'] + c['quarantined'] == len(payloads)  # every reading accounted for
    readings, windows, q = col.tables()
    late = q[q.reason.str.startswith('late:')]
    assert set(late.position) == {f'msg s02-{1000 + k:06d}' for k in range(5)}  # the stragglers, and only they
    assert windows['count'].sum() == c['accepted'] and windows.closed.sum() >= 15  # closed while the stream ran
    assert [s for s, _, _ in col.closed if s != 's02'] and all(wm >= st + 30 for _, st, wm in col.closed)


def test_broker_restart_loses_no_acknowledged_reading(broker):
    payloads = iot.readings(3000, sensors=4, seed=5, bad=0, resend=0)
    col = iot.Collector(window=60)
    sub = iot.subscribe(col, broker.port)
    acked = iot.publish(payloads, broker.port, on_half=lambda: broker.restart(down=0.5))
    iot.drain(col, payloads, timeout=30)
    sub.loop_stop(); sub.disconnect()
    ids = {iot.reading_id(payloads[i]) for i in acked}
    assert len(acked) == len(payloads) and ids - col.seen == set()
    assert col.counts()['accepted'] == len(payloads)


def test_subscriber_offline_gets_queued_readings_from_its_persistent_session(broker):
    col = iot.Collector()
    sub = iot.subscribe(col, broker.port)
    sub.loop_stop(); sub.disconnect()  # the session stays on the broker
    payloads = iot.readings(300, seed=6, bad=0, resend=0)
    iot.publish(payloads, broker.port)
    broker.restart(down=0.2)  # and survives a broker restart on disk
    sub = iot.subscribe(col, broker.port)
    assert iot.drain(col, payloads, timeout=15)
    sub.loop_stop(); sub.disconnect()
    assert col.counts()['accepted'] == 300


def test_broker_killed_mid_stream_keeps_every_reading_it_had_saved(broker):
    "SIGKILL halfway through a stream: nothing acknowledged 0.5 s or more before the kill is lost (the broker saves after every change)."
    payloads = iot.readings(10_000, sensors=4, seed=7, bad=0, resend=0)
    k = iot.kill_midstream(payloads, broker)
    assert len(k['acked']) == len(payloads) and broker.proc.poll() is None  # every reading acknowledged, by one broker or the next
    assert [i for i in k['lost'] if k['since'][i] < -0.5] == []
    assert sum(k['since'][i] < -0.5 for i in k['acked']) > 1000  # and there were plenty of those to lose


@pytest.mark.parametrize('autosave, lost', [(1, 0), (None, 300)])
def test_queued_readings_survive_sigkill_only_when_saved(autosave, lost):
    """A subscriber offline, 300 readings acknowledged and queued for it, the broker killed: the lab's configuration keeps all;
    Mosquitto saving every 60 s (its default is 30 minutes) keeps none."""
    payloads = iot.readings(300, seed=8, bad=0, resend=0)
    col = iot.Collector()
    with iot.Broker(autosave=autosave) as b:  # its folder in /tmp: the broker runs as user mosquitto
        sub = iot.subscribe(col, b.port); sub.loop_stop(); sub.disconnect()
        assert len(iot.publish(payloads, b.port)) == 300
        time.sleep(0.2); b.restart(down=0.2, kill=True)
        sub = iot.subscribe(col, b.port)
        iot.drain(col, payloads, timeout=3 if lost else 15)
        sub.loop_stop(); sub.disconnect()
    log = (b.dir / 'mosquitto.log').read_text()
    shutil.rmtree(b.dir, ignore_errors=True)
    assert len({iot.reading_id(p) for p in payloads} - col.seen) == lost, log[-2000:]


def test_broker_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(iot, 'mosquitto', lambda: None)
    with pytest.raises(FileNotFoundError, match='apt-get install mosquitto'):
        iot.Broker()
