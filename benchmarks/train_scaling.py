"""How the churn training cost grows with data: fit time of each candidate pipeline at 10k, 100k and 1M rows.

Run: .venv/bin/python benchmarks/train_scaling.py [--sizes 10000,100000,1000000]
Prints one row per (rows, model): fit seconds, and the ratio to the 10k fit of the same model (measured
in the same run), so the growth rate can be read off directly (linear growth: 10x rows -> ~10x time).
"""
import argparse, time
import numpy as np
from mlops_lab.data import churn
from mlops_lab.modeling import train
from mlops_lab.prepare import features

def customers(n: int, seed: int = 0):
    "n clean customers with churn drawn from the generator's ground truth (no export/ingest round trip)."
    rng = np.random.default_rng(seed)
    df = churn.make_customers(n, rng)
    p = churn.sigmoid(churn.intercept(0.2) + churn.churn_logit(df))
    return df.assign(churn=(rng.uniform(size=n) < p).astype(int))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='10000,100000,1000000')
    ap.add_argument('--models', default='logreg,rf,hgb')
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(',')]
    base = {}
    print(f"{'rows':>9} {'model':>7} {'fit s':>8} {'x vs first size':>16}")
    for n in sizes:
        X, y = features.xy(customers(n))
        for name in a.models.split(','):
            pipe = train.model_pipeline(features.preprocessor(), train.candidates()[name])
            t0 = time.perf_counter(); pipe.fit(X, y); secs = time.perf_counter() - t0
            base.setdefault(name, secs)
            print(f'{n:>9,} {name:>7} {secs:>8.2f} {secs / base[name]:>16.1f}', flush=True)
