"""Ingest: every row accepted or quarantined with a reason and its position; counts reconcile per source."""
import numpy as np
import pandas as pd
import pytest
from mlops_lab.data import churn
from mlops_lab.prepare import ingest

HEADER = ','.join(churn.COLUMNS)
GOOD = 'C000001,2024-01-01,24,One year,DSL,Mailed check,50.00,1200.00,0,0,No'


def write(tmp_path, *lines, name='x.csv'):
    p = tmp_path / name
    p.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return p


def row(**kw):
    vals = dict(zip(churn.COLUMNS, GOOD.split(',')))
    vals.update(kw)
    return ','.join(vals[c] for c in churn.COLUMNS)


def test_generated_data_quarantines_exactly_the_fatal_rows(tmp_path):
    raw, truth = churn.make_churn(3000, seed=7, dirty=0.08)
    raw.to_csv(tmp_path / 'raw.csv', index=False)
    clean, q, rep = ingest.ingest(tmp_path / 'raw.csv')
    fatal = truth.dirt.map(lambda k: churn.DIRT[k][0] if k else False)
    assert rep['reconciled'] and rep['rows_read'] == len(raw) == rep['accepted'] + rep['quarantined']
    assert rep['quarantined'] == fatal.sum()  # each duplicated customer: one quarantined copy
    kept = set(truth.customer_id[~fatal | (truth.dirt == 'duplicate')])
    assert set(clean.customer_id) == kept and clean.customer_id.is_unique
    # cosmetic problems were repaired, not rejected
    assert set(clean.contract) == set(churn.CONTRACTS)
    assert set(clean.internet_service.dropna()) <= set(churn.INTERNET)
    # quarantine positions point at the right source records (header is record 1)
    lines = raw.to_csv(index=False).splitlines()
    for src, pos, reason, rawtxt in q.itertuples(index=False):
        assert src == 'raw.csv' and lines[int(pos.split()[1]) - 1] == rawtxt, (pos, reason)


def test_types_of_clean_table(tmp_path):
    clean, _, _ = ingest.ingest(write(tmp_path, HEADER, GOOD))
    assert clean.dtypes['tenure_months'] == np.int64 and clean.dtypes['churn'] == np.int64
    assert clean.dtypes['signup_date'] == 'datetime64[ns]'
    assert clean.iloc[0].contract == 'one-year' and clean.iloc[0].churn == 0


@pytest.mark.parametrize('field,value,expect', [
    ('monthly_charges', '-5', 'monthly_charges: fails greater_than'),
    ('monthly_charges', 'inf', 'monthly_charges: fails less_than_or_equal_to(500) (inf)'),
    ('total_charges', 'inf', 'total_charges: fails finite'),
    ('monthly_charges', 'abc', 'monthly_charges: not a number'),
    ('monthly_charges', '', 'monthly_charges: missing'),
    ('tenure_months', '2.5', 'tenure_months: fails whole number'),
    ('contract', 'Weekly', 'contract: fails isin'),
    ('churn', 'maybe', 'churn: not yes/no'),
    ('signup_date', '2024-13-01', 'signup_date: not a YYYY-MM-DD date'),
    ('signup_date', '2030-01-01', 'signup_date: fails less_than_or_equal_to'),
    ('customer_id', 'X1', 'customer_id: fails str_matches'),
])
def test_bad_values_are_quarantined_with_reason(tmp_path, field, value, expect):
    p = write(tmp_path, HEADER, GOOD, row(**{'customer_id': 'C000002', field: value}))
    clean, q, rep = ingest.ingest(p)
    assert len(clean) == 1 and rep['reconciled']
    assert q.position.tolist() == ['record 3'] and expect in q.reason[0], q.reason[0]


def test_optional_blanks_accepted(tmp_path):
    p = write(tmp_path, HEADER, row(internet_service='', payment_method='', total_charges='', support_calls='NA'))
    clean, q, _ = ingest.ingest(p)
    assert len(q) == 0 and clean.internet_service.isna().all() and clean.support_calls.isna().all()


def test_several_problems_in_one_row_all_reported(tmp_path):
    _, q, _ = ingest.ingest(write(tmp_path, HEADER, row(monthly_charges='-1', churn='?', contract='Weekly')))
    assert all(k in q.reason[0] for k in ('monthly_charges', 'churn', 'contract'))


def test_ragged_and_blank_lines(tmp_path):
    p = write(tmp_path, HEADER, GOOD, 'C000002,2024-01-01', '', row(customer_id='C000003'), GOOD + ',extra')
    clean, q, rep = ingest.ingest(p)
    assert rep['rows_read'] == 4 and len(clean) == 2
    assert q.position.tolist() == ['record 3', 'record 5'] and all('ragged row' in r for r in q.reason)


def test_duplicates_keep_first(tmp_path):
    clean, q, _ = ingest.ingest(write(tmp_path, HEADER, GOOD, row(customer_id='C000002'), GOOD))
    assert clean.customer_id.tolist() == ['C000001', 'C000002']
    assert q.reason.tolist() == ['customer_id: duplicate of record 2']


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    p = write(tmp_path, HEADER, row(payment_method='"Bank transfer, (automatic)"'), row(customer_id='C000002'))
    clean, q, _ = ingest.ingest(p)
    assert len(clean) == 2 and clean.payment_method[0] == 'bank-transfer'


@pytest.mark.parametrize('content,msg', [(b'', 'empty file'), (b'customer_id,churn\nC000001,No\n', 'header lacks'),
                                         ('customer_id\nC\xe9\n'.encode('latin-1'), 'header lacks'),
                                         (b'\x00\x01\x02\xff\xfe', 'binary data')])
def test_unreadable_files_give_clear_errors(tmp_path, content, msg):
    p = tmp_path / 'bad.csv'
    p.write_bytes(content)
    with pytest.raises(ValueError, match=msg) as e:
        ingest.ingest(p)
    assert str(p) in str(e.value)


def test_slug_and_synonyms():
    assert ingest.slug('  Credit card (automatic) ') == 'credit-card'
    assert ingest.SYNONYMS[ingest.slug('MONTH TO MONTH')] == 'month-to-month'


def test_stage_joins_three_sources_and_records_lineage(tmp_path):
    from mlops_lab.prepare.catalog import history, open_catalog
    churn.stage(tmp_path, n_customers=2500, dirty=0.05)
    rep = ingest.stage(tmp_path, api_faults='429@1,500@2,drop@3')
    assert rep['source'] == 'raw.csv' and rep['reconciled']
    assert [s['source'] for s in rep['sources']] == ['raw.csv', 'billing.db', 'support API']
    assert all(s['read'] == s['accepted'] + s['quarantined'] for s in rep['sources'])
    assert rep['api']['retried'] == ['page 1: HTTP 429', 'page 2: HTTP 500', 'page 3: RemoteProtocolError']
    assert len(pd.read_parquet(tmp_path / 'clean.parquet')) == rep['accepted']
    assert len(pd.read_csv(tmp_path / 'quarantine.csv')) == sum(s['quarantined'] for s in rep['sources'])
    h = history(open_catalog(tmp_path / 'catalog.db'))
    assert h.source.tolist() == ['raw.csv', 'billing.db', 'support API'] and (h.status == 'done').all()
    assert h.rows_read.tolist() == [s['read'] for s in rep['sources']]


def test_joined_sources_give_the_same_table_as_one_wide_export(tmp_path):
    raw, _ = churn.make_churn(1500, seed=11, dirty=0.06)
    raw.to_csv(tmp_path / 'wide.csv', index=False)
    churn.write_sources(raw, tmp_path)
    wide, qw, _ = ingest.ingest(tmp_path / 'wide.csv')
    support, _ = ingest.pull_support(tmp_path / 'support.json', faults='drop@1')
    joined, qj, rep = ingest.ingest(tmp_path / 'raw.csv', ingest.pull_billing(tmp_path / 'billing.db'), support)
    pd.testing.assert_frame_equal(wide, joined)
    assert qw.reason.tolist() == qj.reason.tolist()


def test_orphans_and_missing_billing_rows_are_accounted(tmp_path):
    import sqlite3
    raw, _ = churn.make_churn(300, seed=2, dirty=0)
    churn.write_sources(raw, tmp_path)
    with sqlite3.connect(tmp_path / 'billing.db') as con:
        con.execute("DELETE FROM billing WHERE customer_id = 'C000007'")
        con.execute("INSERT INTO billing VALUES ('C999999', '1.00', '2.00', '2026-01-01 00:00:00')")
    con.close()
    support, _ = ingest.pull_support(tmp_path / 'support.json')
    clean, q, rep = ingest.ingest(tmp_path / 'raw.csv', ingest.pull_billing(tmp_path / 'billing.db'), support)
    by = {s['source']: s for s in rep['sources']}
    assert by['billing.db'] == {'source': 'billing.db', 'read': 300, 'accepted': 299, 'quarantined': 1}
    assert by['raw.csv']['quarantined'] == 1 and len(clean) == 299
    reasons = dict(zip(q.position, q.reason))
    assert reasons['billing customer_id=C999999'] == 'customer_id: no such customer in raw.csv'
    assert 'monthly_charges: missing' in reasons[q.position[q.raw.str.startswith('C000007')].iloc[0]]
