"""ONNX Runtime vs scikit-learn, same fitted pipeline, same rows, one thread: single-row p50/p99 latency
and 10k-row batch throughput, plus the ratio ONNX / scikit-learn measured in the same run.

Run: .venv/bin/python benchmarks/onnx_latency.py [--models logreg,hgb] [--n-customers 20000]
"""
import argparse, os, tempfile
os.environ.setdefault('OMP_NUM_THREADS', '1')
import joblib
import pandas as pd
from mlops_lab.business import framing
from mlops_lab.data import churn
from mlops_lab.deploy import onnx as onnx_export
from mlops_lab.modeling import train
from mlops_lab.prepare import features, ingest

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', default='logreg,rf,hgb')
    ap.add_argument('--n-customers', type=int, default=20000)
    ap.add_argument('--single', type=int, default=1000)
    a = ap.parse_args()
    d = tempfile.mkdtemp()
    framing.stage(d); churn.stage(d, n_customers=a.n_customers); ingest.stage(d); features.stage(d)
    train.stage(d, models=a.models, cv_folds=2)
    test = pd.read_parquet(f'{d}/test.parquet')
    for name in a.models.split(','):
        pipe = joblib.load(f'{d}/models/{name}.joblib')
        sess = onnx_export.session(onnx_export.to_onnx(pipe))
        t = onnx_export.latency(pipe, sess, test, n_single=a.single, batch=10_000)
        sk, ox = t.loc['scikit-learn'], t.loc['ONNX Runtime']
        print(f'\n{name}: agreement {onnx_export.agreement(pipe, sess, test, 0.09)}')
        print(t.to_string())
        print(f"ONNX speed-up: single-row p50 {sk.single_p50_ms / ox.single_p50_ms:.1f}x, "
              f"p99 {sk.single_p99_ms / ox.single_p99_ms:.1f}x, batch {ox.batch_rows_per_s / sk.batch_rows_per_s:.1f}x")
