"""Monitoring (8_monitor/81_timeline, 82_retrain, 83_dashboard): what the detectors see on each drift form, how the retraining
policies behave, and `mlops-lab monitor` as a user runs it, its dashboard served by the command and checked in headless Chromium."""
import os, re, signal, subprocess, sys, time
from urllib.parse import urljoin
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from mlops_lab.monitor import retrain, timeline as tl

ARTIFACTS = ROOT / 'test-artifacts' / 'monitor'
CHROMIUM = '/usr/bin/chromium'
SCENARIOS = ['control', 'concept', 'sudden', 'gradual']


def test_batches_are_reproducible_and_scenarios_share_their_draws():
    a, b = tl.batch('gradual', 30, 300, seed=7), tl.batch('gradual', 30, 300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(tl.batch('gradual', 30, 300, seed=8))
    before = [tl.batch(s, 10, 300, seed=7).drop(columns=['churn', 'p_churn']) for s in ('control', 'covariate', 'concept', 'gradual')]
    assert all(f.equals(before[0]) for f in before)  # before the change every scenario is the same world
    c, k = tl.batch('control', 40, 300, seed=7), tl.batch('concept', 40, 300, seed=7)
    assert c.drop(columns=['churn', 'p_churn']).equals(k.drop(columns=['churn', 'p_churn']))  # a concept shift moves no input
    assert not np.allclose(c.p_churn, k.p_churn)
    with pytest.raises(ValueError, match='scenario must be one of'): tl.batch('seasonal', 1)


@pytest.fixture(scope='module')
def model():
    return tl.fit(tl.reference())


def test_what_each_detector_sees(model):
    "No false data drift alarm on the control; data drift blind to a pure concept shift; performance as late as the labels, whatever the delay."
    control = tl.detection(tl.watch('control', model, weeks=36), 'control')
    assert control.loc['data_drift', 'alarms'] == 0 and control.loc['performance_drop', 'alarms'] == 0 and control.loc['adwin', 'alarms'] == 0
    for delay in (2, 5):
        t = tl.watch('concept', model, weeks=36, delay=delay)
        d = tl.detection(t, 'concept')
        assert not d.loc['data_drift', 'detected']
        assert d.loc['performance_drop', 'delay_weeks'] == delay  # the labels of the first new week arrive `delay` weeks later
        assert t.labelled_week.dropna().astype(int).tolist() == list(range(0, 36 - delay))
    sudden = tl.detection(tl.watch('sudden', model, weeks=36), 'sudden')
    assert sudden.loc['data_drift', 'delay_weeks'] == 0 and sudden.loc['data_drift', 'false_alarms'] == 0


def test_policies_retrain_as_they_say(model):
    frames = [tl.batch('concept', w) for w in range(52)]
    never = retrain.simulate('concept', 'never', model=model, frames=frames)
    assert never.version.unique().tolist() == ['1'] and not never.retrained.any()
    perf = retrain.simulate('concept', 'performance', model=model, frames=frames)
    weeks = perf.index[perf.retrained].tolist()
    assert weeks and all(b - a >= retrain.POLICIES['performance'].cooldown for a, b in zip(weeks, weeks[1:]))  # the cooldown holds
    assert perf.loc[44:, 'served_auc'].mean() > never.loc[44:, 'served_auc'].mean() + 0.1  # the retrained model serves the new world
    assert (perf.served_auc < 0.75).sum() < (never.served_auc < 0.75).sum()
    for w in perf.index[perf.promoted.eq(True)]: assert perf.loc[w + 1, 'version'] != perf.loc[w, 'version']  # a promotion swaps the model
    few = retrain.simulate('concept', retrain.Policy('p', signals=('performance_drop',), min_labels=10_000), model=model, frames=frames)
    assert not few.retrained.any() and few.alert.dropna().str.contains('no retrain: 4000 labelled rows, 10000 needed').all()
    with pytest.raises(ValueError, match="unknown signal 'vibes'"):
        retrain.simulate('concept', retrain.Policy('x', signals=('vibes',)), weeks=2, model=model)


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    "`mlops-lab monitor` as a user runs it, left serving its dashboard on a free loopback port; stopped whatever happens."
    out = tmp_path_factory.mktemp('monitoring')
    err = open(out.parent / f'{out.name}.stderr', 'w+')  # a file, not a pipe: nobody drains a pipe while the server runs, and a full one blocks its exit
    p = subprocess.Popen([sys.executable, '-m', 'mlops_lab', 'monitor', '--scenarios', ','.join(SCENARIOS), '--weeks', '40', '--n', '300',
                          '--evidently', '20', '--out', str(out), '--serve', '--port', '0'], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=err, text=True, env={**os.environ, 'COLUMNS': '140'}, start_new_session=True)
    try:
        lines, url, t0 = [], None, time.time()
        while url is None and time.time() - t0 < 600:
            line = p.stdout.readline()
            if not line and p.poll() is not None: break
            lines.append(line)
            if m := re.search(r'at (http://127\.0\.0\.1:\d+/)', line): url = m[1]
        assert url, ''.join(lines) + (err.seek(0) or err.read())
        yield out, url, ''.join(lines)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGINT)
        try: p.wait(30)
        except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait()
        err.close()


def test_monitor_command_writes_the_folder(served):
    out, _, text = served
    table = pd.read_csv(out / 'policies.csv')
    assert table[['scenario', 'policy']].drop_duplicates().shape == (len(SCENARIOS) * 4, 2)
    assert all(f'│ {s} ' in text for s in SCENARIOS) and 'dashboard:' in text
    det = pd.read_csv(out / 'detection.csv').set_index(['scenario', 'detector'])
    assert not det.loc[('concept', 'data_drift'), 'detected'] and det.loc[('sudden', 'data_drift'), 'delay_weeks'] == 0
    assert det.loc['control', 'false_alarms'].loc[['data_drift', 'performance_drop']].sum() == 0
    alerts = pd.read_csv(out / 'alerts.csv')
    assert set(alerts.policy) <= {'periodic', 'drift', 'performance'} and (alerts.policy == 'periodic').sum() == len(SCENARIOS) * 3
    ev = pd.read_csv(out / 'evidently.csv')
    assert len(ev) == len(SCENARIOS) * 2 and ev.agree.all()  # evidently's verdicts equal the lab's, window by window
    assert all((out / 'evidently' / r).stat().st_size > 100_000 for r in ev.report)
    assert 'evidently: 8 of 8 windows with the lab' in text
    w = pd.read_csv(out / 'weeks' / 'concept-performance.csv')
    assert len(w) == 40 and {'data_drift', 'roc_auc', 'adwin', 'served_auc', 'alert'} <= set(w.columns)


def test_dashboard_in_headless_chromium(served):
    "The page the command serves loads, every panel draws, the policy buttons work, every linked file is there, the console stays empty."
    from playwright.sync_api import sync_playwright
    out, url, _ = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--no-first-run',
                                     '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.on('console', lambda m: errors.append(m.text) if m.type in ('error', 'warning') else None)
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.on('requestfailed', lambda r: errors.append(f'request failed: {r.url}'))
            resp = page.goto(url, wait_until='networkidle')
            assert resp.status == 200 and page.title() == 'mlops-lab monitoring'
            panels = page.locator('section.scenario')
            assert panels.count() == len(SCENARIOS)
            for i in range(len(SCENARIOS)):
                box = panels.nth(i).locator('svg').first.bounding_box()
                assert box and box['width'] > 400 and box['height'] > 100, box
                assert panels.nth(i).locator('g[data-policy]').count() >= 8  # each policy's line and its retrains
            assert page.locator('#policies table tbody tr').count() == len(SCENARIOS) * 4
            page.screenshot(path=str(ARTIFACTS / 'dashboard.png'), full_page=False)
            page.click('nav button[data-policy="performance"]')
            dim = page.eval_on_selector_all('g[data-policy]', "gs => gs.map(g => [g.dataset.policy, g.classList.contains('dim')])")
            assert dim and all(d == (p != 'performance') for p, d in dim)
            assert page.locator('body').get_attribute('data-policy') == 'performance'
            page.locator('#scenario-concept').screenshot(path=str(ARTIFACTS / 'concept-performance.png'))
            page.click('nav button[data-policy="all"]')
            assert page.locator('g.dim').count() == 0
            for href in page.eval_on_selector_all('#files a', 'as => as.map(a => a.getAttribute("href"))'):
                assert page.request.get(urljoin(url, href)).status == 200, href
        finally: browser.close()
    assert errors == []


def test_monitor_command_refuses_bad_requests(tmp_path):
    from conftest import cli
    for args, why in [(['--scenarios', 'seasonal'], "unknown scenario or policy ['seasonal']"), (['--policies', 'hourly'], "['hourly']"),
                      (['--weeks', '0'], 'weeks must be at least 1')]:
        r = cli('monitor', *args, '--out', tmp_path / 'm')
        assert r.returncode == 2 and why in r.stderr and not (tmp_path / 'm').exists(), r.stderr
