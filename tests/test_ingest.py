"""Ingest: every row accepted or quarantined with a reason and its line; counts reconcile."""
import numpy as np
import pandas as pd
import pytest
from mlops_lab import data, ingest

HEADER = ','.join(data.COLUMNS)
GOOD = 'C000001,2024-01-01,24,One year,DSL,Mailed check,50.00,1200.00,0,0,No'


def write(tmp_path, *lines, name='x.csv'):
    p = tmp_path / name
    p.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return p


def row(**kw):
    vals = dict(zip(data.COLUMNS, GOOD.split(',')))
    vals.update(kw)
    return ','.join(vals[c] for c in data.COLUMNS)


def test_generated_data_quarantines_exactly_the_fatal_rows(tmp_path):
    raw, truth = data.make_churn(3000, seed=7, dirty=0.08)
    raw.to_csv(tmp_path / 'raw.csv', index=False)
    clean, q, rep = ingest.ingest(tmp_path / 'raw.csv')
    fatal = truth.dirt.map(lambda k: data.DIRT[k][0] if k else False)
    assert rep['reconciled'] and rep['rows_read'] == len(raw) == rep['accepted'] + rep['quarantined']
    assert rep['quarantined'] == fatal.sum()  # each duplicated customer: one quarantined copy
    kept = set(truth.customer_id[~fatal | (truth.dirt == 'duplicate')])
    assert set(clean.customer_id) == kept and clean.customer_id.is_unique
    # cosmetic problems were repaired, not rejected
    assert set(clean.contract) == set(data.CONTRACTS)
    assert set(clean.internet_service.dropna()) <= set(data.INTERNET)
    # quarantine lines point at the right source lines (header is line 1)
    lines = raw.to_csv(index=False).splitlines()
    for line, reason, rawtxt in q.itertuples(index=False):
        assert lines[line - 1] == rawtxt, (line, reason)


def test_types_of_clean_table(tmp_path):
    clean, _, _ = ingest.ingest(write(tmp_path, HEADER, GOOD))
    assert clean.dtypes['tenure_months'] == np.int64 and clean.dtypes['churn'] == np.int64
    assert clean.dtypes['signup_date'] == 'datetime64[ns]'
    assert clean.iloc[0].contract == 'one-year' and clean.iloc[0].churn == 0


@pytest.mark.parametrize('field,value,expect', [
    ('monthly_charges', '-5', 'monthly_charges: fails greater_than'),
    ('monthly_charges', 'inf', 'monthly_charges'),
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
    assert q.line.tolist() == [3] and expect in q.reason[0], q.reason[0]


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
    assert q.line.tolist() == [3, 6] and all('ragged row' in r for r in q.reason)


def test_duplicates_keep_first(tmp_path):
    clean, q, _ = ingest.ingest(write(tmp_path, HEADER, GOOD, row(customer_id='C000002'), GOOD))
    assert clean.customer_id.tolist() == ['C000001', 'C000002']
    assert q.reason.tolist() == ['customer_id: duplicate of line 2']


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    p = write(tmp_path, HEADER, row(payment_method='"Bank transfer, (automatic)"'), row(customer_id='C000002'))
    clean, q, _ = ingest.ingest(p)
    assert len(clean) == 2 and clean.payment_method[0] == 'bank-transfer'


@pytest.mark.parametrize('content,msg', [(b'', 'empty file'), (b'customer_id,churn\nC000001,No\n', 'header lacks'),
                                         ('customer_id\nC\xe9\n'.encode('latin-1'), 'not UTF-8'),
                                         (b'\x00\x01\x02\xff\xfe', 'not UTF-8')])
def test_unreadable_files_give_clear_errors(tmp_path, content, msg):
    p = tmp_path / 'bad.csv'
    p.write_bytes(content)
    with pytest.raises(ValueError, match=msg) as e:
        ingest.ingest(p)
    assert str(p) in str(e.value)


def test_slug_and_synonyms():
    assert ingest.slug('  Credit card (automatic) ') == 'credit-card'
    assert ingest.SYNONYMS[ingest.slug('MONTH TO MONTH')] == 'month-to-month'


def test_stage_files(tmp_path):
    data.stage(tmp_path, n_customers=500, dirty=0.05)
    rep = ingest.stage(tmp_path)
    assert rep['source'] == 'raw.csv' and rep['reconciled']
    assert len(pd.read_parquet(tmp_path / 'clean.parquet')) == rep['accepted']
    assert len(pd.read_csv(tmp_path / 'quarantine.csv')) == rep['quarantined']
