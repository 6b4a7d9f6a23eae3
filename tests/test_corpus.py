"""Every file of the bad-input corpus (data/bad/) gives the outcome recorded in data/bad/cases.json."""
import json
from pathlib import Path
import pandas as pd
import pytest
from mlops_lab import catalog, files, validate

BAD = Path(__file__).resolve().parents[1] / 'data' / 'bad'
CASES = {k: v for k, v in json.loads((BAD / 'cases.json').read_text()).items() if not k.startswith('_')}
ERRORS = {'InputError': files.InputError, 'SchemaDrift': catalog.SchemaDrift, 'SchemaMismatch': validate.SchemaMismatch}


def test_corpus_is_complete():
    on_disk = {p.name for p in BAD.iterdir()} - {'cases.json', 'README.md', 'make.py'}
    assert on_disk == set(CASES) and len(CASES) >= 15


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_input(name, tmp_path):
    case, path = CASES[name], BAD / name
    eng = catalog.open_catalog(tmp_path / 'catalog.db')
    if 'error' in case:
        kind, phrase = case['error']
        with pytest.raises(ERRORS[kind]) as e:
            catalog.ingest_file(path, catalog.orders(), tmp_path, eng)
        assert str(path) in str(e.value) and phrase in str(e.value), str(e.value)
        (h,) = catalog.history(eng).itertuples()  # the refusal is recorded, and nothing was written
        assert h.status == 'rejected' and phrase in h.message
        assert not [p for p in tmp_path.rglob('*') if p.is_file() and p.name != 'catalog.db']
        return
    r = catalog.ingest_file(path, catalog.orders(), tmp_path, eng)
    assert (r['accepted'], r['quarantined']) == (case['accepted'], case['quarantined'])
    assert r['rows_read'] == r['accepted'] + r['quarantined']
    good = pd.read_parquet(r['outputs']['data'])
    q = pd.read_csv(r['outputs']['quarantine']) if r['quarantined'] else pd.DataFrame(columns=validate.QUARANTINE)
    assert len(good) == case['accepted'] and len(q) == case['quarantined']
    assert good.order_id.is_unique and good.qty.dtype == 'int64' and good.placed.dtype == 'datetime64[ns]'
    got = [f'{p}: {r}' for p, r in zip(q.position, q.reason)]
    for want in case.get('reasons', []):
        assert any(g.startswith(want) for g in got), (want, got)
    if 'customers' in case:
        assert good.customer.tolist()[:len(case['customers'])] == case['customers']
    assert set(q.source) <= {name}


def test_good_rows_survive_next_to_bad_ones(tmp_path):
    "The good rows of a damaged file are exactly the good file's rows that were not damaged."
    ref = pd.read_parquet(catalog.ingest_file(BAD / 'good.csv', catalog.orders(), tmp_path / 'a')['outputs']['data'])
    for name in ('truncated.csv', 'ragged.csv', 'out_of_range.csv', 'huge_field.csv', 'one_bad_line.jsonl'):
        got = pd.read_parquet(catalog.ingest_file(BAD / name, catalog.orders(), tmp_path / name)['outputs']['data'])
        same = got.merge(ref, how='inner')
        assert len(same) == len(got), name
