"""Every file of the bad-input corpus (data/bad/) gives the outcome recorded in data/bad/cases.json."""
import json
from pathlib import Path
import pandas as pd
import pytest
from mlops_lab.prepare import catalog, files, validate

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


def test_cli_ingest_folder_reports_every_file_and_is_idempotent(tmp_path):
    from conftest import cli
    out = tmp_path / 'out'
    r = cli('ingest', BAD, '--out', out, '--rows', 2)
    assert r.returncode == 1, r.stderr  # some files are rejected
    for name, case in CASES.items():
        line = next(l for l in r.stdout.splitlines() if f' {name} ' in l)
        assert ('rejected' in line) == ('error' in case), line
    assert 'cases.json' in r.stdout and 'README.md' in r.stdout  # not orders files: refused with a reason, not skipped silently
    again = cli('ingest', BAD / 'good.csv', '--out', out)
    assert again.returncode == 0 and 'skipped' in again.stdout and 'already ingested' in again.stdout


def test_cli_ingest_with_a_yaml_schema(tmp_path):
    from conftest import cli
    import pandera.pandas as pa
    s = pa.DataFrameSchema({'id': pa.Column(int, pa.Check.ge(1)), 'name': pa.Column(str, pa.Check.str_length(1, 5))},
                           coerce=True, strict=True, name='people_v1')
    (tmp_path / 'people.yaml').write_text(s.to_yaml())
    (tmp_path / 'p.csv').write_text('id,name\n1,Ann\n0,Bo\n3,Christopher\n')
    r = cli('ingest', tmp_path / 'p.csv', '--schema', tmp_path / 'people.yaml', '--out', tmp_path / 'o')
    assert r.returncode == 0, r.stdout + r.stderr
    assert pd.read_parquet(next((tmp_path / 'o' / 'people_v1').glob('*.parquet'))).id.tolist() == [1]
    q = pd.read_csv(next((tmp_path / 'o' / 'quarantine').glob('*.csv')))
    assert q.position.tolist() == ['record 3', 'record 4']
    bad = cli('ingest', tmp_path / 'p.csv', '--schema', tmp_path / 'nope.yaml', '--out', tmp_path / 'o')
    assert bad.returncode == 1 and 'no schema file' in bad.stderr


def test_duplicate_keys_across_chunks_are_caught(tmp_path):
    r = catalog.ingest_file(BAD / 'duplicate_keys.csv', catalog.orders(), tmp_path, rows=2)  # 4 chunks of 2 records
    q = pd.read_csv(r['outputs']['quarantine'])
    assert (r['accepted'], r['quarantined']) == (5, 2)
    assert q.position.tolist() == ['record 7', 'record 8'] and q.reason.str.contains('duplicate').all()
