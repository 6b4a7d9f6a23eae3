"""Continual learning strategies (mlops_lab.monitor.continual): average accuracy, forgetting, forward transfer, time, examples
processed and memory kept, on the class- and domain-incremental streams, at the notebook's settings or larger ones.

    .venv/bin/python benchmarks/continual.py [--images 200] [--epochs 5] [--seed 42]

At the defaults these are the figures `84_continual` stores (the same stage function, the same seed). The baseline is
naive fine-tuning (the floor: no protection, nothing kept); the ceiling is full retraining on every task seen. Each
strategy's accuracy is printed as the share of the gap from the floor to the ceiling it closes, and its time and
examples as ratios to the ceiling's.
"""
import argparse, os, tempfile, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import pandas as pd
from mlops_lab.monitor.continual import stage, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=200, help='training images per class')
    ap.add_argument('--epochs', type=int, default=5, help='epochs on each task')
    ap.add_argument('--seed', type=int, default=42)
    a = ap.parse_args()
    pd.set_option('display.width', 200)
    with tempfile.TemporaryDirectory() as run:
        t0 = time.perf_counter()
        r = stage(run, a.images, a.epochs, seed=a.seed)
        total = time.perf_counter() - t0
    print(f"{r['data']}, {a.images} training images per class, {a.epochs} epochs per task, seed {a.seed} ({total:.1f}s in all)")
    for s, res in r['streams'].items():
        t = table(res)
        floor, ceil = t.loc['fine-tuning', 'average'], t.loc['full retraining', 'average']
        t['gap closed'] = ((t.average - floor) / (ceil - floor)).round(2)
        t['time / retraining'] = (t.seconds / t.loc['full retraining', 'seconds']).round(2)
        t['examples / retraining'] = (t.examples / t.loc['full retraining', 'examples']).round(2)
        cols = ['average', 'backward', 'forward', 'told the task', 'told, backward']
        print(f'\n{s}: ' + ', '.join(r['tasks'][s]))
        print(t.assign(**{c: t[c].round(3) for c in cols}, seconds=t.seconds.round(2), kept_kB=t.kept_kB.round(1)).to_string())
    w = pd.DataFrame(r['churn']['weekly'])
    after = w.week >= 26
    print(f"\nchurn model, scenario {r['churn']['scenario']}: ROC-AUC before and after the change, rows fitted and kept, fit seconds")
    print(pd.DataFrame({'before': w[~after].groupby('way', sort=False).roc_auc.mean().round(3),
                        'after': w[after].groupby('way', sort=False).roc_auc.mean().round(3),
                        'rows fitted': w.groupby('way', sort=False).rows_fitted.sum(),
                        'rows kept': w.groupby('way', sort=False).rows_kept.max(),
                        'fit seconds': w.groupby('way', sort=False).fit_seconds.sum().round(2)}).to_string())


if __name__ == '__main__':
    main()
