import numpy as np
import pandas as pd
import pytest
from mlops_lab.data import churn


def test_deterministic_and_seeded():
    a, ta = churn.make_churn(500, seed=3)
    b, tb = churn.make_churn(500, seed=3)
    c, _ = churn.make_churn(500, seed=4)
    assert a.equals(b) and ta.equals(tb) and not a.equals(c)


def test_churn_rate_matches_target():
    _, t = churn.make_churn(20_000, seed=1, dirty=0)
    assert abs(t.churn.mean() - 0.2) < 0.015
    assert abs(t.p_churn.mean() - 0.2) < 0.01
    _, t = churn.make_churn(20_000, seed=1, churn_rate=0.05, dirty=0)
    assert abs(t.churn.mean() - 0.05) < 0.01


def test_missing_share():
    raw, _ = churn.make_churn(20_000, seed=2, missing=0.1, dirty=0)
    assert abs((raw.payment_method == '').mean() - 0.1) < 0.01
    assert (raw.contract == '').sum() == 0 and (raw.monthly_charges == '').sum() == 0  # required fields stay


def test_ground_truth_effects_visible():
    raw, t = churn.make_churn(20_000, seed=5, dirty=0)
    by = t.churn.groupby(raw.contract.iloc[:len(t)].values).mean()
    assert by['Month-to-month'] > by['One year'] > by['Two year']
    # the true probability ranks customers far better than chance
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(t.churn, t.p_churn) > 0.8


def test_drift_shifts_mix_and_raises_churn():
    r0, t0 = churn.make_churn(10_000, seed=1, dirty=0)
    r1, t1 = churn.make_churn(10_000, seed=1, drift=1.0, dirty=0)
    assert (r1.contract == 'Month-to-month').mean() > (r0.contract == 'Month-to-month').mean() + 0.15
    assert r1.monthly_charges.astype(float).mean() > r0.monthly_charges.astype(float).mean() + 10
    assert t1.churn.mean() > t0.churn.mean() + 0.1


def test_dirt_recorded_per_row():
    raw, t = churn.make_churn(2000, seed=0, dirty=0.1)
    assert (t.dirt != '').sum() == 200
    dups = (t.dirt == 'duplicate').sum()
    assert len(raw) == 2000 + dups
    i = t.index[t.dirt == 'tenure'][0]
    assert raw.at[i, 'tenure_months'] == '999'


@pytest.mark.parametrize('kw,msg', [({'drift': 1.5}, 'drift'), ({'missing': 0.9}, 'missing'),
                                    ({'churn_rate': 1.0}, 'churn_rate'), ({'n_customers': 0}, 'n must be')])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        churn.make_churn(**{'n_customers': 100, **kw})


def test_stage_writes_three_sources_and_the_truth(tmp_path):
    import json, sqlite3
    r = churn.stage(tmp_path, n_customers=300, dirty=0.05)
    raw = pd.read_csv(tmp_path / 'raw.csv', dtype=str, keep_default_na=False)
    assert list(raw.columns) == churn.SOURCES['raw.csv'] and len(raw) == r['rows']
    with sqlite3.connect(tmp_path / 'billing.db') as con:
        billing = pd.read_sql('SELECT * FROM billing', con)
    con.close()
    support = pd.DataFrame(json.loads((tmp_path / 'support.json').read_text()))
    assert len(billing) == len(support) == 300 and billing.customer_id.is_unique
    # the three sources hold every column of the wide export exactly once, and join back to it
    wide, _ = churn.make_churn(300, dirty=0.05)
    once = wide.drop_duplicates('customer_id')
    back = raw.drop_duplicates('customer_id').merge(billing.drop(columns='updated_at'), on='customer_id').merge(
        support.assign(support_calls=support.support_calls.map(lambda v: '' if pd.isna(v) else str(int(v)) if not isinstance(v, str) else v)), on='customer_id')
    pd.testing.assert_frame_equal(back[churn.COLUMNS].reset_index(drop=True), once[churn.COLUMNS].reset_index(drop=True))
    for cols in churn.SOURCES.values(): assert 'p_churn' not in cols  # the truth never reaches the model's input
    assert len(pd.read_csv(tmp_path / 'truth.csv')) == 300


def test_committed_sample_is_reproducible():
    from pathlib import Path
    sample = Path(__file__).parents[1] / 'data' / 'churn_sample.csv'
    raw, _ = churn.make_churn(1000, seed=42)
    assert sample.read_text() == raw.to_csv(index=False)
