"""End-to-end ingest of a large CSV (20 columns) into validated Parquet: the lab's streaming ingest against a naive
pandas baseline and against the floor, a plain pyarrow conversion with no validation at all.

Run: .venv/bin/python benchmarks/ingest_scaling.py [--sizes 1000000,5000000] [--chunk 200000]

For each size, writes a CSV of N rows x 20 columns (0.05% of rows carry a bad value), then converts it three
times, each in a fresh process whose peak memory is its VmHWM (`mlops_lab.measure.fresh`):
- stream: `mlops_lab.prepare.catalog.ingest_file` (pyarrow's streaming CSV reader, Arrow kernels and pandera for the
          doubtful rows in 2 threads, ParquetWriter in a third, all overlapping);
- naive:  `pandas.read_csv` of the whole file, the lab's pandera validation on the whole frame, one `to_parquet`;
- floor:  `pyarrow.csv.read_csv` (its own type inference, every thread) and `pyarrow.parquet.write_table`: what
          reading and writing alone cost.
Prints rows/s, peak MB and CPU use (CPU seconds / wall seconds: 2.0 is both cores busy), then the lab's ingest as
ratios to the naive baseline and to the floor, measured in the same run. The schema has no cross-chunk `unique` key
(that would keep a set of every key in memory).
"""
import argparse, os, tempfile, time
from pathlib import Path
import numpy as np

def schema():
    import pandera.pandas as pa
    fin = pa.Check(np.isfinite, name='finite')
    cols = {'id': pa.Column(str, pa.Check.str_matches(r'^R\d{8}$'))}
    for i in range(5): cols[f'f{i}'] = pa.Column(float, [pa.Check.in_range(-1e6, 1e6), fin])
    for i in range(5): cols[f'n{i}'] = pa.Column('int64', pa.Check.in_range(0, 10_000))
    for i in range(4): cols[f'c{i}'] = pa.Column(str, pa.Check.isin(['alpha', 'beta', 'gamma', 'delta']))
    for i in range(3): cols[f'd{i}'] = pa.Column('datetime64[ns]')
    for i in range(2): cols[f't{i}'] = pa.Column(str, nullable=True)
    return pa.DataFrameSchema(cols, coerce=True, strict=True, name='bench_v1')

def make(path: Path, n: int, seed: int = 0, block: int = 500_000):
    "Write n rows x 20 columns of CSV in blocks (bounded memory)."
    import pyarrow as pa, pyarrow.csv as pcsv
    rng = np.random.default_rng(seed)
    with pcsv.CSVWriter(path, pa.schema([(c, pa.string()) for c in schema().columns])) as w:
        for start in range(0, n, block):
            m = min(block, n - start)
            t = {'id': [f'R{i:08d}' for i in range(start, start + m)]}
            for i in range(5): t[f'f{i}'] = np.round(rng.normal(0, 100, m), 3).astype(str)
            for i in range(5): t[f'n{i}'] = rng.integers(0, 10_000, m).astype(str)
            for i in range(4): t[f'c{i}'] = rng.choice(['alpha', 'beta', 'gamma', 'delta'], m)
            days = np.datetime64('2020-01-01') + rng.integers(0, 2000, (3, m)).astype('timedelta64[D]')
            for i in range(3): t[f'd{i}'] = days[i].astype(str)
            for i in range(2): t[f't{i}'] = rng.choice(['ok', 'late delivery', 'call back', ''], m)
            bad = rng.uniform(size=m) < 0.0005
            t['n0'] = np.where(bad, 'n/a?', t['n0']); t['c0'] = np.where(rng.uniform(size=m) < 0.0005, 'omega', t['c0'])
            w.write_table(pa.table({k: pa.array(np.asarray(v, dtype=object), pa.string()) for k, v in t.items()}))

WORKERS = int(os.environ.get('INGEST_WORKERS', '2'))

def _cpu() -> float:
    t = os.times(); return t.user + t.system

def stream(path, out, chunk) -> dict:
    from mlops_lab.prepare.catalog import ingest_file
    t, c = time.perf_counter(), _cpu()
    r = ingest_file(path, schema(), out, rows=chunk, workers=WORKERS)
    s = time.perf_counter() - t
    return {'seconds': s, 'cpu': (_cpu() - c) / s, 'counts': [r['rows_read'], r['accepted'], r['quarantined']]}

def naive(path, out, chunk) -> dict:
    import pandas as pd
    from mlops_lab.prepare.validate import tidy, check_rows
    t, c = time.perf_counter(), _cpu()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    df, _ = tidy(raw, schema())
    good, why = check_rows(df, schema())
    good.to_parquet(Path(out) / 'naive.parquet', index=False)
    s = time.perf_counter() - t
    return {'seconds': s, 'cpu': (_cpu() - c) / s, 'counts': [len(raw), len(good), len(why)]}

def floor(path, out, chunk) -> dict:
    import pyarrow.csv as pcsv, pyarrow.parquet as pq
    t, c = time.perf_counter(), _cpu()
    table = pcsv.read_csv(path)
    pq.write_table(table, Path(out) / 'plain.parquet')
    s = time.perf_counter() - t
    return {'seconds': s, 'cpu': (_cpu() - c) / s, 'counts': [table.num_rows, table.num_rows, 0]}

def measure(mode, path, chunk):
    "Run one mode in a fresh process; return (seconds, peak memory in MB, counts)."
    from mlops_lab.measure import fresh
    out = tempfile.mkdtemp(dir=Path(path).parent)
    r = fresh(f'ingest_scaling:{mode}', path, out, chunk, env={'PYTHONPATH': str(Path(__file__).parent)})
    return r['seconds'], r['peak_mb'], r['cpu'], r['counts']

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='1000000,5000000')
    ap.add_argument('--chunk', type=int, default=200_000)
    ap.add_argument('--dir', default=None, help='scratch folder (default: a temp folder)')
    ap.add_argument('--modes', default='stream,naive,floor')
    a = ap.parse_args()
    print(f"{'rows':>9} {'CSV MB':>7} {'mode':>6} {'seconds':>8} {'rows/s':>9} {'peak MB':>8} {'CPU':>5} {'accepted':>9} {'quarant.':>8}")
    peaks = {}
    for n in map(int, a.sizes.split(',')):
        d = Path(tempfile.mkdtemp(dir=a.dir))
        path = d / f'bench-{n}.csv'
        make(path, n)
        res = {}
        for mode in a.modes.split(','):
            secs, mb, cpu, (read, acc, q) = measure(mode, path, a.chunk)
            assert read == n and acc + q == read, (mode, read, acc, q)
            res[mode] = (secs, mb)
            print(f'{n:>9} {path.stat().st_size / 2**20:>7.0f} {mode:>6} {secs:>8.1f} {n / secs:>9,.0f} {mb:>8.0f} {cpu:>5.2f} {acc:>9} {q:>8}', flush=True)
        if 'stream' not in res: continue
        s, sm = res['stream']; peaks[n] = sm
        if 'naive' in res:
            b, bm = res['naive']
            print(f'{n:>9} {"":>7} {"ratio":>6} stream is {b / s:.2f}x the naive speed with {sm / bm:.2f}x its peak memory', flush=True)
        if 'floor' in res:
            f, fm = res['floor']
            print(f'{n:>9} {"":>7} {"ratio":>6} stream takes {s / f:.2f}x the time of the plain conversion (no validation), '
                  f'with {sm / fm:.2f}x its peak memory', flush=True)
        import shutil; shutil.rmtree(d)
    if len(peaks) > 1:
        lo, hi = min(peaks), max(peaks)
        print(f'stream peak memory: {peaks[hi]:.0f} MB at {hi:,} rows vs {peaks[lo]:.0f} MB at {lo:,} rows '
              f'({peaks[hi] / peaks[lo] - 1:+.0%} for {hi / lo:.0f}x the rows)')
