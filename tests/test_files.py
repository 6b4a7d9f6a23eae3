"""File reading and validation: formats, encodings, chunk positions; property-based tests (hypothesis)."""
import csv, io, json
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from mlops_lab.prepare import catalog, files, validate

FAST = settings(max_examples=150, deadline=None, derandomize=True,  # the same examples every run: CI cannot flake
                suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(st.characters(blacklist_categories=('Cs', 'Cc')), max_size=20)


@FAST
@given(rows=st.lists(st.lists(text, min_size=3, max_size=3), max_size=30), chunk=st.integers(1, 7))
def test_csv_round_trip_keeps_values_and_positions(tmp_path_factory, rows, chunk):
    "Any table of strings written by the csv module reads back identically, in any chunk size, with record numbers."
    p = tmp_path_factory.mktemp('rt') / 'x.csv'
    with open(p, 'w', newline='', encoding='utf-8') as f:
        csv.writer(f).writerows([['a', 'b', 'c'], *rows])
    got = list(files.chunks(p, rows=chunk, repair=False))
    df = pd.concat([c.df for _, c in got], ignore_index=True)
    pos = pd.concat([c.position for _, c in got], ignore_index=True)
    assert df.values.tolist() == [[v for v in r] for r in rows] or (not rows and df.empty)
    # a record's number counts the header as 1; csv writes one line per record unless a value holds a newline
    assert pos.tolist() == [f'record {i}' for i in range(2, len(rows) + 2)]
    assert all(c.bad.empty for _, c in got)


word = st.text(st.sampled_from('abcdefghijklmnopqrstuvwxyz äöüéèàçñøåß'), min_size=2, max_size=25)
words = st.lists(st.one_of(word, word.map(str.upper), st.sampled_from([',', '1', '.', '-'])), min_size=1, max_size=8).map(' '.join)


@FAST
@given(s=words, enc=st.sampled_from(['utf-8', 'utf-8-sig', 'utf-16', 'latin-1']))
def test_encoding_detection_decodes_back(s, enc):
    """Words in any of these encodings decode back.

    (Latin-1 bytes that happen to be valid UTF-8, like `Â` + no-break space, are read as UTF-8; words made of letters
    never do, because no letter's Latin-1 byte is a UTF-8 continuation byte.)"""
    b = s.encode(enc)
    assert b.decode(files.encoding(b)).lstrip('\ufeff') == s


@FAST
@given(word.filter(lambda w: any(ord(ch) > 127 for ch in w)).map(lambda w: 'a' + w))
def test_mojibake_is_repaired(s):
    """Words with common accented letters, decoded as cp1252 once by mistake, are restored.

    (ftfy weighs evidence: a string that *starts* with `Ã¥` could be a capital `Ã` and a yen sign, so it is left
    alone; hence the leading letter.)"""
    fixed, n = files.demojibake(pd.Series([s.encode('utf-8').decode('cp1252')]))
    assert fixed[0] == s and n == 1


@FAST
@given(word)
def test_clean_text_is_left_alone(s):
    fixed, n = files.demojibake(pd.Series([s, s.upper()]))
    assert fixed.tolist() == [s, s.upper()] and n == 0


SCHEMA = pa.DataFrameSchema({'k': pa.Column(str, unique=True, report_duplicates='exclude_first'),
                             'x': pa.Column(float, [pa.Check.in_range(0, 100), pa.Check(np.isfinite, name='finite')]),
                             'c': pa.Column(str, pa.Check.isin(['a', 'b']))}, coerce=True, strict=True, name='t')
cell = st.one_of(st.integers(-50, 150).map(str), st.sampled_from(['', 'NaN', 'inf', 'x', ' 7 ', '1e2', 'null']))


@FAST
@given(rows=st.lists(st.tuples(st.sampled_from(['k1', 'k2', 'k3', 'k4', '']), cell, st.sampled_from(['a', 'b', 'c', ' a', ''])), max_size=40))
def test_validate_accounts_for_every_row_and_accepts_only_valid_ones(rows):
    raw = pd.DataFrame(rows, columns=['k', 'x', 'c'], dtype=object)
    good, q = validate.validate(raw, SCHEMA, 'src', pd.Series([f'line {i}' for i in range(len(raw))], dtype=object))
    assert len(good) + len(q) == len(raw)
    assert good.k.is_unique and good.x.between(0, 100).all() and good.c.isin(['a', 'b']).all()
    assert set(good.index).isdisjoint(q.position.str[5:].astype(int))
    # a row is accepted exactly when it is valid on its own and its key was not accepted before
    seen = set()
    for i, (k, x, c) in enumerate(rows):
        try: v = float(x.strip())
        except ValueError: v = None
        ok = v is not None and np.isfinite(v) and 0 <= v <= 100 and c.strip() in ('a', 'b') and k not in seen
        if ok: seen.add(k)
        assert (i in good.index) == ok, (i, rows[i])


def test_formats_are_sniffed_from_content(tmp_path):
    (tmp_path / 'a.txt').write_text('id;v\n1;2\n')
    (tmp_path / 'b.log').write_text('{"id": 1}\n{"id": 2}\n')
    (tmp_path / 'c.dat').write_text('[{"id": 1}]')
    (tmp_path / 'd.csv').write_text('{"rows": [{"id": {"x": 1}}]}')
    pd.DataFrame({'id': [1]}).to_parquet(tmp_path / 'e.csv')
    got = {p.name: files.sniff(p).format for p in sorted(tmp_path.iterdir())}
    assert got == {'a.txt': 'csv', 'b.log': 'jsonl', 'c.dat': 'json', 'd.csv': 'json', 'e.csv': 'parquet'}
    assert list(files.json_chunks(files.sniff(tmp_path / 'd.csv')))[0].df.columns.tolist() == ['id.x']


def test_folder_and_glob_sources(tmp_path):
    for i in range(3): (tmp_path / f'p{i}.csv').write_text(f'id\n{i}\n')
    (tmp_path / '.hidden').write_text('x')
    assert [p.name for p in files.paths(tmp_path)] == ['p0.csv', 'p1.csv', 'p2.csv']
    assert [p.name for p in files.paths(tmp_path / 'p[12].csv')] == ['p1.csv', 'p2.csv']
    with pytest.raises(files.InputError, match='no files found'):
        files.paths(tmp_path / '*.parquet')


def test_chunks_bound_memory_and_keep_positions_across_chunks(tmp_path):
    p = tmp_path / 'big.csv'
    p.write_text('id,v\n' + ''.join(f'{i},{i % 7}\n' if i % 1000 else f'{i}\n' for i in range(1, 20_001)))
    got = list(files.chunks(p, rows=3000))
    assert max(len(c.df) for _, c in got) < 3000 * 2 and len(got) >= 6
    pos = pd.concat([c.position for _, c in got], ignore_index=True)
    bad = pd.concat([c.bad for _, c in got], ignore_index=True)
    assert len(pos) + len(bad) == 20_000 and bad.position.tolist() == [f'record {i + 1}' for i in range(1000, 20_001, 1000)]
    df = pd.concat([c.df for _, c in got], ignore_index=True)
    assert (pos.str[7:].astype(int) - 1).tolist() == df.id.astype(int).tolist()  # record n holds id n-1


def test_json_documents(tmp_path):
    (tmp_path / 'x.json').write_text(json.dumps({'meta': 1, 'items': [{'a': 1, 'b': {'c': 2}}, 5, {'a': 3}]}))
    (c,) = [c for _, c in files.chunks(tmp_path / 'x.json')]
    assert c.df.to_dict('list') == {'a': [1, 3], 'b.c': [2, None]} and c.position.tolist() == ['record 1', 'record 3']
    assert c.bad.reason.tolist() == ['not an object: 5']


def test_json_document_is_streamed_not_loaded(tmp_path):
    "Records come out before the parser reaches the end: a document broken at its end still yields its first chunks, then says where."
    recs = ',\n'.join(json.dumps({'id': i, 'v': i / 2}) for i in range(1, 1001))
    (tmp_path / 'cut.json').write_text('{"count": 1000, "rows": [' + recs + ', {"id": 1001, "v": ')
    got, err = [], None
    try:
        for _, c in files.chunks(tmp_path / 'cut.json', rows=100): got.append(c)
    except files.InputError as e: err = str(e)
    assert len(got) >= 9 and got[0].df.id.tolist() == list(range(1, 101)) and got[0].position[0] == 'record 1'
    assert 'invalid JSON: Expecting value: line 1000 column 45' in err and 'after record 1000' in err


def test_json_records_with_a_repeated_key_are_quarantined_one_by_one(tmp_path):
    (tmp_path / 'd.json').write_text('[{"id": 1}, {"id": 2, "x": {"a": 1, "a": 2}}, {"id": 3, "id": 4}, {"id": 5}]')
    (c,) = [c for _, c in files.chunks(tmp_path / 'd.json')]
    assert c.df.id.tolist() == [1, 5] and c.bad.position.tolist() == ['record 2', 'record 3']
    assert c.bad.reason.tolist() == ["invalid JSON: duplicate key(s) ['a']", "invalid JSON: duplicate key(s) ['id']"]


def test_undecodable_utf16_half(tmp_path):
    p = tmp_path / 'x.csv'
    p.write_bytes('a,b\n1,2\n'.encode('utf-16') + b'\x00')
    with pytest.raises(files.InputError):
        list(files.chunks(p))


def test_catalog_idempotent_and_records_lineage(tmp_path):
    src = tmp_path / 'in' / 'o.csv'; src.parent.mkdir()
    src.write_text('order_id,placed,customer,qty,price,country\nO0001,2026-01-01,A,1,2.5,AT\nO0002,2026-01-01,B,x,2.5,AT\n')
    eng = catalog.open_catalog(tmp_path / 'out' / 'catalog.db')
    r1 = catalog.ingest_file(src, catalog.orders(), tmp_path / 'out', eng)
    r2 = catalog.ingest_file(src, catalog.orders(), tmp_path / 'out', eng)
    assert r1['status'] == 'done' and r2['status'] == 'skipped' and r2['id'] == r1['id']
    src.write_text(src.read_text() + 'O0003,2026-01-02,C,2,1.0,DE\n')  # new bytes: a new ingestion
    r3 = catalog.ingest_file(src, catalog.orders(), tmp_path / 'out', eng)
    h = catalog.history(eng)
    assert h.status.tolist() == ['done', 'done'] and h.rows_read.tolist() == [2, 3] and r3['accepted'] == 2
    assert h.sha256.is_unique and (h.schema == 'orders_v1').all()
    assert {p.name for p in (tmp_path / 'out' / 'orders_v1').iterdir()} == {f'o-{r1["sha256"][:12]}.parquet', f'o-{r3["sha256"][:12]}.parquet'}


def test_drift_report():
    s = catalog.orders()
    df = pd.DataFrame({'order_id': ['O0001'] * 6, 'placed': ['2026-01-01'] * 6, 'customer': ['A'] * 6,
                       'qty': ['1', '2', 'three', '4', '5', '6'], 'price': ['a', 'b', 'c', 'd', '1', '2'], 'extra': [1] * 6})
    assert catalog.drift(df, s) == {'new': ['extra'], 'missing': ['country'],
                                    'retyped': {'price': "67% of values are not float64 (e.g. 'a')"}}
    assert catalog.drift(df.drop(columns='extra').assign(country='AT', price='1'), s) == {}
