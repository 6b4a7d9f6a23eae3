"""Drift detection (8_monitor/80_drift) against evidently 0.7: the same statistics, the same per-column verdicts, bad input judged
column by column, and `mlops-lab drift` on files as a user runs it."""
import json
import numpy as np
import pandas as pd
import pytest
from conftest import cli
from mlops_lab.data.churn import make_customers
from mlops_lab.monitor import drift as dr


def test_statistics_equal_evidently_s():
    "Each test's p-value or distance is evidently's own stattest's, on numeric, categorical and binary columns."
    from evidently.legacy.calculations import stattests as ev
    from evidently.legacy.core import ColumnType
    rng = np.random.default_rng(3)
    num = pd.Series(rng.normal(0, 1, 900)), pd.Series(rng.normal(0.2, 1.2, 700))
    cat = pd.Series(rng.choice(list('abcd'), 900, p=[.4, .3, .2, .1])), pd.Series(rng.choice(list('abcde'), 700, p=[.3, .3, .2, .1, .1]))
    few = pd.Series(rng.integers(0, 4, 900).astype(float)), pd.Series(rng.integers(0, 4, 700).astype(float))  # numeric, few values: binned as categories
    binary = pd.Series(rng.choice(['no', 'yes'], 900, p=[.8, .2])), pd.Series(rng.choice(['no', 'yes'], 700, p=[.7, .3]))
    N, C = ColumnType.Numerical, ColumnType.Categorical
    cases = [(dr.ks, ev.ks_stat_test, num, N), (dr.wasserstein, ev.wasserstein_stat_test, num, N), (dr.chi2, ev.chi_stat_test, cat, C),
             (dr.ztest, ev.z_stat_test, binary, C), (dr.jensen_shannon, ev.jensenshannon_stat_test, cat, C),
             (dr.jensen_shannon, ev.jensenshannon_stat_test, num, N), (dr.psi, ev.psi_stat_test, cat, C), (dr.psi, ev.psi_stat_test, num, N),
             (dr.psi, ev.psi_stat_test, few, N)]
    for ours, theirs, (r, c), t in cases:
        args = (r.to_numpy(), c.to_numpy()) if ours in (dr.ks, dr.wasserstein) else (r, c)
        got = ours(*args, t == N)[1] if ours in (dr.jensen_shannon, dr.psi) else ours(*args)[1]
        want = theirs.func(r, c, t, 0.1)[0]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (ours.__name__, t)


SCENARIOS = {  # name: (reference, current)
    'no drift': lambda: (make_customers(5000, np.random.default_rng(0)), make_customers(2000, np.random.default_rng(1))),
    'covariate drift': lambda: (make_customers(5000, np.random.default_rng(0)), make_customers(2000, np.random.default_rng(2), drift=1.0)),
    'half drift': lambda: (make_customers(5000, np.random.default_rng(0)), make_customers(2000, np.random.default_rng(2), drift=0.5)),
    'small reference, tests': lambda: (make_customers(800, np.random.default_rng(4)), make_customers(600, np.random.default_rng(5), drift=0.3)),
    'small, no drift': lambda: (make_customers(800, np.random.default_rng(4)), make_customers(600, np.random.default_rng(6))),
}


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_verdicts_equal_evidently_s(scenario, tmp_path):
    ref, cur = SCENARIOS[scenario]()
    ours = dr.drift(ref, cur)['table'].drifted.dropna().astype(bool).to_dict()
    theirs = dr.evidently_report(ref, cur, tmp_path / 'report.html')
    assert ours == theirs and len(ours) == 8
    assert (tmp_path / 'report.html').stat().st_size > 100_000  # evidently's HTML, saved for a person
    if scenario == 'no drift': assert not any(ours.values())
    if scenario == 'covariate drift': assert sum(ours.values()) >= 5


def test_bad_input_is_judged_column_by_column():
    "Different columns, an all-missing and a constant column, unseen categories, mismatched dtypes: a note each, the rest judged."
    ref = make_customers(1500, np.random.default_rng(0))
    cur = make_customers(1500, np.random.default_rng(1))
    cur = cur.drop(columns=['senior']).assign(extra=1.0, support_calls=np.nan, tenure_months=cur.tenure_months.astype(str) + ' months',
                                              monthly_charges=42.0)
    cur.loc[:99, 'payment_method'] = 'crypto'
    res = dr.drift(ref, cur)
    t = res['table']
    assert t.note['senior'] == 'missing from the current data: not judged' and t.note['extra'] == 'missing from the reference: not judged'
    assert t.note['support_calls'] == 'no values in the current data'
    assert 'not comparable' in t.note['tenure_months']
    assert bool(t.drifted['monthly_charges'])  # a constant is judged (and has drifted)
    assert 'not in the reference: crypto' in t.note['payment_method'] and bool(t.drifted['payment_method'])
    assert res['judged'] == 5 and set(res['problems']) == {'customer_id', 'signup_date', 'senior', 'extra', 'support_calls', 'tenure_months'}
    empty = dr.drift(ref, cur.head(0))
    assert empty['judged'] == 0 and empty['drifted'] is None and all('no values' in n or 'not' in n for n in empty['table'].note)
    const = dr.drift(ref.assign(k=1.0), ref.assign(k=1.0))
    assert not const['table'].drifted['k'] and const['drifted'] is False


def test_drift_command_on_files(tmp_path):
    ref, cur = SCENARIOS['covariate drift']()
    ref.to_parquet(tmp_path / 'ref.parquet'); cur.to_parquet(tmp_path / 'cur.parquet'); ref.sample(2000, random_state=1).to_csv(tmp_path / 'same.csv', index=False)
    ref.to_csv(tmp_path / 'ref.csv', index=False)
    r = cli('drift', tmp_path / 'ref.parquet', tmp_path / 'cur.parquet', '--json', '--out', tmp_path / 'out')
    assert r.returncode == 1, r.stderr  # dataset drift
    out = json.loads(r.stdout)
    assert out['drifted'] is True and out['judged'] == 8 and {c['column'] for c in out['columns']} == set(ref.columns)
    assert json.loads((tmp_path / 'out' / 'drift.json').read_text()) == out and (tmp_path / 'out' / 'evidently.html').exists()
    r = cli('drift', tmp_path / 'ref.csv', tmp_path / 'same.csv')
    assert r.returncode == 0 and 'dataset: no drift' in r.stdout, r.stdout + r.stderr
    (tmp_path / 'broken.parquet').write_bytes(b'PAR1 not really')
    r = cli('drift', tmp_path / 'ref.csv', tmp_path / 'broken.parquet')
    assert r.returncode == 2 and 'broken.parquet: cannot be read' in r.stderr
    r = cli('drift', tmp_path / 'ref.csv', tmp_path / 'missing.csv')
    assert r.returncode == 2 and 'missing.csv: no such file' in r.stderr
    pd.DataFrame({'other': ['a', 'b']}).to_csv(tmp_path / 'other.csv', index=False)
    r = cli('drift', tmp_path / 'ref.csv', tmp_path / 'other.csv')
    assert r.returncode == 2 and 'no column could be judged' in r.stderr
