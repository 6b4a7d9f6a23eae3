"""The Arrow validation path (`validate_table`) against the pandera one (`validate`): the same accepted rows, typed the
same, and the same quarantine, on generated batches full of values that are almost right."""
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as A
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from mlops_lab.prepare import validate as V

FAST = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

SCHEMA = pa.DataFrameSchema({
    'key': pa.Column(str, pa.Check.str_matches(r'^K\d{2}$'), unique=True),
    'name': pa.Column(str, pa.Check.str_length(1, 8)),
    'cat': pa.Column(str, pa.Check.isin(['a', 'b', 'c'])),
    'x': pa.Column(float, [pa.Check.in_range(-5, 5), pa.Check(np.isfinite, name='finite')], nullable=True),
    'n': pa.Column('int64', pa.Check.ge(0)),
    'd': pa.Column('datetime64[ns]', pa.Check.le(pd.Timestamp('2026-06-01')), nullable=True),
}, coerce=True, strict=True, name='almost_v1')

# values that are right, and values that are almost right: padding, other whitespace, signs, other spellings
POOLS = {
    'key': ['K01', 'K02', 'K03', ' K04', 'K5', 'k06', 'K07\xa0', '', 'K01 '],
    'name': ['ab', ' ab ', 'abcdefghi', '', 'é', '\u2003x', 'x\x1c', 'naïve', 'NA', 'a\tb'],
    'cat': ['a', 'b', 'c', ' a', 'A', 'd', '', 'none', '\xa0b', 'c\n'],
    'x': ['1.5', '-4.99', '5', '5.0001', '+2', '.5', '1.', '1e0', '1e400', 'inf', 'NaN', 'nan', 'n/a', '', ' 3 ',
          '1_0', '٣', '0x10', '1,5', '-0', 'None', '-inf', '2E-1'],
    'n': ['0', '7', '-1', '007', '+3', '3.0', '', 'n/a', '99999999999999999999', ' 4', '1e3', '٣', '-0'],
    'd': ['2026-01-02', '2026-01-02 10:30:00', '2026-01-02T10:30', '2026-02-30', '01/02/2026', '', 'NA', '2027-01-01',
          '2026-01-02Z', '2026-01-02T10', '2026-1-2', ' 2026-01-05 ', '2026-01-02 10'],
}
row = st.fixed_dictionaries({c: st.sampled_from(v) for c, v in POOLS.items()})
clean = st.fixed_dictionaries({c: st.sampled_from(v[:3]) for c, v in POOLS.items()})


def both(rows):
    raw = pd.DataFrame(rows, columns=list(POOLS), dtype=object)
    nums = np.arange(2, 2 + len(raw))
    good, q = V.validate(raw, SCHEMA, 'f.csv', pd.Series([f'record {k}' for k in nums], dtype=object))
    fast, fq, kept = V.validate_table(A.Table.from_pandas(raw, preserve_index=False), SCHEMA, 'f.csv', nums)
    return raw, (good, q), (fast, fq, kept), nums


@FAST
@given(st.lists(st.one_of(row, clean), max_size=30))
def test_arrow_path_gives_what_pandera_gives(rows):
    raw, (good, q), (fast, fq, kept), nums = both(rows)
    pd.testing.assert_frame_equal(fast.to_pandas(), good.reset_index(drop=True))
    assert fq[['position', 'reason', 'raw']].values.tolist() == q[['position', 'reason', 'raw']].values.tolist()
    assert kept.tolist() == nums[good.index.values].tolist()
    assert fast.num_rows + len(fq) == len(raw)


def test_kernels_accept_only_what_pandera_accepts():
    "Vetting alone: a row the kernels accept is one pandera accepts with the same values (checked over every pool value)."
    rows = [{**{c: v[0] for c, v in POOLS.items()}, c: val} for c, vals in POOLS.items() for val in vals]
    rows = [{**r, 'key': f'K{i % 100:02d}'} if r['key'] == 'K01' else r for i, r in enumerate(rows)]
    raw = pd.DataFrame(rows, dtype=object)
    doubt, typed = V.vet(A.Table.from_pandas(raw, preserve_index=False), V.Plan(SCHEMA))
    ok = ~np.logical_or.reduce(list(doubt.values()))
    good, _ = V.validate(raw, SCHEMA.update_columns({'key': {'unique': False}}), 'f', pd.Series(range(len(raw))).astype(str))
    assert set(np.flatnonzero(ok)) <= set(good.index)  # the kernels never accept a row pandera refuses
    fast = A.table({c: typed[c].filter(A.array(ok)) for c in SCHEMA.columns}).to_pandas()
    pd.testing.assert_frame_equal(fast, good.loc[np.flatnonzero(ok)].reset_index(drop=True), check_dtype=False)
    assert ok.sum() >= 20  # and they do accept the plain values, or there is no fast path


def test_a_batch_that_does_not_fit_gets_pandera_error():
    raw = pd.DataFrame([{c: v[0] for c, v in POOLS.items()} | {'extra': '1'}], dtype=object)
    with pytest.raises(V.SchemaMismatch, match="column 'extra' not in the schema"):
        V.validate_table(A.Table.from_pandas(raw, preserve_index=False), SCHEMA, 'f.csv', np.array([2]))
    with pytest.raises(V.SchemaMismatch, match="missing column 'd'"):
        V.validate_table(A.Table.from_pandas(raw.drop(columns=['extra', 'd']), preserve_index=False), SCHEMA, 'f.csv', np.array([2]))


def test_typed_input_and_schemas_without_kernels_go_through_pandera():
    "A Parquet-typed column, or a bool column the kernels do not cast: the same answer, all of it from pandera."
    s = pa.DataFrameSchema({'ok': pa.Column(bool), 'v': pa.Column(float, pa.Check.gt(0))}, coerce=True)
    assert V.Plan(s).why == 'ok: no Arrow path for bool'
    t = A.table({'ok': [True, False, True], 'v': [1.0, -2.0, 3.0]})
    good, q, kept = V.validate_table(t, s, 'p.parquet', np.array([1, 2, 3]), 'row')
    assert good.column('v').to_pylist() == [1.0, 3.0] and kept.tolist() == [1, 3]
    assert q.position.tolist() == ['row 2'] and q.reason.tolist() == ['v: fails greater_than(0) (-2.0)']


def test_iso_dates_do_not_depend_on_the_first_row():
    "pandas alone infers one date format from a batch's first value; the lab reads each value as ISO 8601."
    s = pa.DataFrameSchema({'d': pa.Column('datetime64[ns]')}, coerce=True)
    for vals in (['2026-01-02', '01/02/2026'], ['01/02/2026', '2026-01-02']):
        good, why = V.check_rows(pd.DataFrame({'d': vals}), s)
        assert good.d.tolist() == [pd.Timestamp('2026-01-02')]
        assert [r for rs in why for r in rs] == ["d: not datetime64ns ('01/02/2026')"]
