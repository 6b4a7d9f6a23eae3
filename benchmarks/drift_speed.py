"""Drift check of a large table: the lab's detectors (mlops_lab.monitor.drift) against evidently 0.7's DataDriftPreset, on the
same data in the same run: time, peak memory (each in a fresh process) and verdict agreement.

    .venv/bin/python benchmarks/drift_speed.py [--rows 1000000] [--cols 20]

Reference and current have `--rows` rows each, half numeric (normal, log-normal, integer counts) and half categorical
(3 to 12 levels); a quarter of the columns are shifted in the current data. The floor is reading the two Parquet files
into pandas in a fresh process (what both have to pay before any test). Targets (issue 13): at least 10x faster than
evidently, the same verdicts, memory well under evidently's.
"""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
from mlops_lab.measure import fresh


def make(rows: int, cols: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = {}
    for j in range(cols):
        moved = shift and j % 4 == 0
        if j % 2 == 0:
            kind = (j // 2) % 3
            if kind == 0: out[f'n{j}'] = rng.normal(0.15 if moved else 0, 1, rows)
            elif kind == 1: out[f'n{j}'] = rng.lognormal(0.2 if moved else 0, 0.5, rows)
            else: out[f'n{j}'] = rng.poisson(7 if moved else 6, rows).astype(float)
        else:
            k = 3 + j % 10
            p = np.linspace(1, 2, k); p = (p[::-1] if moved else p) / p.sum()
            out[f'c{j}'] = pd.Categorical.from_codes(rng.choice(k, rows, p=p), [f'v{i}' for i in range(k)]).astype(str)
    return pd.DataFrame(out)


def read_only(ref: str, cur: str) -> dict:
    t = time.perf_counter(); pd.read_parquet(ref); pd.read_parquet(cur)
    return {'seconds': time.perf_counter() - t}


def lab(ref: str, cur: str) -> dict:
    from mlops_lab.monitor.drift import drift
    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    t = time.perf_counter(); res = drift(r, c)
    return {'seconds': time.perf_counter() - t, 'verdicts': res['table'].drifted.dropna().astype(bool).to_dict()}


def evidently(ref: str, cur: str) -> dict:
    from mlops_lab.monitor.drift import evidently_report
    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    t = time.perf_counter(); v = evidently_report(r, c)
    return {'seconds': time.perf_counter() - t, 'verdicts': v}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rows', type=int, default=1_000_000)
    ap.add_argument('--cols', type=int, default=20)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp())
    make(a.rows, a.cols, 0, False).to_parquet(d / 'ref.parquet'); make(a.rows, a.cols, 1, True).to_parquet(d / 'cur.parquet')
    args = (d / 'ref.parquet', d / 'cur.parquet')
    here = {'PYTHONPATH': str(Path(__file__).parent)}  # this script's functions, imported in the fresh processes
    floor = fresh('drift_speed:read_only', *args, env=here)
    ours = fresh('drift_speed:lab', *args, env=here)
    theirs = fresh('drift_speed:evidently', *args, env=here)
    agree = sum(ours['verdicts'][k] == theirs['verdicts'].get(k) for k in ours['verdicts'])
    print(f"{a.rows:,} rows x {a.cols} columns, reference and current; {sum(ours['verdicts'].values())} columns drifted by the lab's verdict")
    print(f"floor (read both Parquet files): peak {floor['peak_mb']:,.0f} MB, {floor['seconds']:.2f} s")
    print(f"lab detectors:      {ours['seconds']:7.2f} s, peak {ours['peak_mb']:,.0f} MB")
    print(f"evidently 0.7:      {theirs['seconds']:7.2f} s, peak {theirs['peak_mb']:,.0f} MB")
    print(f"lab vs evidently: {theirs['seconds'] / ours['seconds']:.1f}x faster (target >= 10x), peak memory {theirs['peak_mb'] / ours['peak_mb']:.1f}x less; "
          f"verdicts agree on {agree} of {len(ours['verdicts'])} columns")
