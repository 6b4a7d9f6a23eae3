"""Ray against one process and against joblib on this machine's cores, for the two jobs issue 17 puts on a cluster:
batch scoring of a large Parquet file and a hyperparameter sweep. One run, one machine, the same code paths as the lab.

Run: .venv/bin/python benchmarks/ray_scale.py [--rows 2000000,10000000] [--trials 40] [--small 50000]

Scoring (the shipped model of runs/dev, ONNX; N customers as a folder of 500k-row Parquet files in 100k-row
groups, the shape a distributed job reads):
- single: `inference.score_file` on each file in turn, in this process, 100k-row chunks;
- joblib: the files split between `os.cpu_count()` loky processes, each `score_file` on its share;
- ray:    `scale.score_dataset` on the folder, on a local cluster started here (a head and a worker, one CPU each);
- floor:  plain pyarrow, every row group read and written back with no model: what the I/O alone costs.
Memory is the peak growth, over the job, of the summed proportional set size (PSS: shared pages counted once) of every process of the job (this one, loky's workers, every process
of the cluster), sampled every 0.2 s; flat across sizes means bounded by the blocks, not by the file.

Sweep (the `hgb` search space of 42_tuning on the dev run's training split, 3-fold ROC-AUC per trial, each fit on one
thread so that the engines compete on processes, not on OpenMP threads):
- single: `OptunaSearch`, one trial after another;
- joblib: optuna's ask-and-tell, `os.cpu_count()` trials at a time in loky processes (`tuning.cv_auc` each);
- ray:    `scale.TuneSearch` on the same cluster.
Prints wall time, rows or trials per second, the best score, and each engine as a ratio to single and to the floor.
The `--small` size shows Ray's fixed cost where the work is small.
"""
import argparse, os, shutil, sys, tempfile, threading, time
from pathlib import Path
import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
CPUS = os.cpu_count() or 2


class Peak:
    "The peak of the summed PSS of some processes (a callable returning them), sampled in a thread."
    def __init__(self, procs): self.procs, self.mb, self.base, self._stop = procs, 0.0, None, threading.Event()
    def _run(self):
        while not self._stop.is_set():
            total = 0
            for p in self.procs():
                try: total += p.memory_full_info().pss  # shared memory (the object store) counted once
                except psutil.Error: pass
            if self.base is None: self.base = total / 2**20  # what the processes held when the job started
            self.mb = max(self.mb, total / 2**20 - self.base); time.sleep(0.2)
    def __enter__(self): self._t = threading.Thread(target=self._run, daemon=True); self._t.start(); return self
    def __exit__(self, *a): self._stop.set(); self._t.join()


def procs(cluster, ray: bool):
    "This process and its children: with `ray`, every process of the cluster too (they are its children); without, none of them."
    groups = {n.pid for n in cluster.procs}
    def pgid(p):
        try: return os.getpgid(p.pid)
        except ProcessLookupError: return None
    def get():
        me = psutil.Process()
        return [me, *(c for c in me.children(recursive=True) if ray or pgid(c) not in groups)]
    return get


def make(folder: Path, n: int, customers: pd.DataFrame, per_file: int = 500_000):
    "n customers (the test split resampled, new ids) as a folder of Parquet files of `per_file` rows in 100k-row groups."
    import pyarrow as pa, pyarrow.parquet as pq
    rng = np.random.default_rng(0); folder.mkdir()
    for f, start in enumerate(range(0, n, per_file)):
        with pq.ParquetWriter(folder / f'part{f:03d}.parquet', pa.Schema.from_pandas(customers, preserve_index=False)) as w:
            for s in range(start, min(start + per_file, n), 100_000):
                m = min(100_000, n - s, start + per_file - s)
                part = customers.iloc[rng.integers(0, len(customers), m)].assign(customer_id=[f'B{i:09d}' for i in range(s, s + m)])
                w.write_table(pa.Table.from_pandas(part, preserve_index=False))


def score_files(run, files, out):
    "One process: `inference.score_file` on each file in turn."
    from mlops_lab.serve.inference import score_file
    out.mkdir(exist_ok=True)
    for f in files: score_file(str(run), f, out / f.name, 100_000)


def score_joblib(run, src, out):
    "The files split between `CPUS` loky processes, each `score_files` on its share."
    from joblib import Parallel, delayed
    files = sorted(src.glob('*.parquet'))
    Parallel(n_jobs=CPUS)(delayed(score_files)(run, files[i::CPUS], out) for i in range(CPUS))


def floor(src, out):
    "Plain pyarrow: every row group of every file read and written back, no model."
    import pyarrow.parquet as pq
    out.mkdir(exist_ok=True)
    for p in sorted(src.glob('*.parquet')):
        f = pq.ParquetFile(p)
        with pq.ParquetWriter(out / p.name, f.schema_arrow) as w:
            for g in range(f.num_row_groups): w.write_table(f.read_row_group(g))


def timed(fn, procs):
    with Peak(procs) as p:
        t = time.perf_counter(); r = fn(); s = time.perf_counter() - t
    return s, p.mb, r


def _trial_joblib(pipe, params, X, y, seed):
    from threadpoolctl import threadpool_limits
    from mlops_lab.modeling.tuning import cv_auc
    with threadpool_limits(1): return cv_auc(pipe, params, X, y, 3, seed)


def sweep_joblib(pipe, X, y, trials, seed=42):
    import optuna
    from joblib import Parallel, delayed
    from mlops_lab.modeling.tuning import suggest
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction='maximize', sampler=optuna.samplers.TPESampler(seed=seed))
    with Parallel(n_jobs=CPUS) as par:
        while len(study.trials) < trials:
            batch = [study.ask() for _ in range(min(CPUS, trials - len(study.trials)))]
            scores = par(delayed(_trial_joblib)(pipe, suggest(t, 'hgb'), X, y, seed) for t in batch)
            for t, s in zip(batch, scores): study.tell(t, s)
    return study.best_value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', default='2000000,10000000', help='sizes of the scoring file (comma-separated)')
    ap.add_argument('--small', type=int, default=50_000, help='a small size, where Ray only costs')
    ap.add_argument('--trials', type=int, default=40, help='trials of the sweep')
    a = ap.parse_args()
    import joblib
    from threadpoolctl import threadpool_limits
    from mlops_lab import scale
    from mlops_lab.core import dev_run_dir
    from mlops_lab.modeling.train import candidates, model_pipeline
    from mlops_lab.modeling.tuning import OptunaSearch
    from mlops_lab.prepare.features import xy
    from mlops_lab.stages import need
    run = dev_run_dir(); need(run, 'model.onnx'); need(run, 'metrics.json')
    customers = pd.read_parquet(need(run, 'test.parquet')).drop(columns=['churn'])
    tmp = Path(tempfile.mkdtemp(prefix='ray-bench-'))
    print(f'{CPUS} cores; model: {run}; files in {tmp}', flush=True)
    with scale.Cluster(workers=1, cpus=1, store_mb=1024) as cluster:
        rows = []
        for n in [a.small, *map(int, a.rows.split(','))]:
            src = tmp / f'c{n}'; make(src, n, customers)
            res = {}
            res['floor'] = timed(lambda: floor(src, tmp / f'floor{n}'), procs(cluster, False))
            res['single'] = timed(lambda: score_files(run, sorted(src.glob('*.parquet')), tmp / f'single{n}'), procs(cluster, False))
            res['joblib'] = timed(lambda: score_joblib(run, src, tmp / f'joblib{n}'), procs(cluster, False))
            res['ray'] = timed(lambda: scale.score_dataset(str(run), src, tmp / 'ray', rows=100_000), procs(cluster, True))
            for k, (s, mb, _) in res.items():
                rows.append({'rows': n, 'engine': k, 'seconds': round(s, 2), 'rows/s': round(n / s), 'peak MB': round(mb),
                             'x single': round(s / res['single'][0], 2), 'x floor': round(s / res['floor'][0], 1)})
            print(pd.DataFrame(rows[-4:]).to_string(index=False), flush=True)
            for d in tmp.iterdir(): shutil.rmtree(d)
        X, y = xy(pd.read_parquet(need(run, 'train.parquet')))
        pipe = model_pipeline(joblib.load(need(run, 'features.joblib')), candidates(42)['hgb'])
        sw = {}
        def single():
            with threadpool_limits(1): return OptunaSearch(pipe, 'hgb', a.trials, 3, 42).fit(X, y).best_score_
        sw['single'] = timed(single, procs(cluster, False))
        sw['joblib'] = timed(lambda: sweep_joblib(pipe, X, y, a.trials), procs(cluster, False))
        sw['ray'] = timed(lambda: scale.TuneSearch(pipe, 'hgb', a.trials, 3, 42).fit(X, y).best_score_, procs(cluster, True))
    print('\nscoring'); print(pd.DataFrame(rows).to_string(index=False))
    print(f'\nsweep: {a.trials} trials of hgb on {len(X):,} rows, 3-fold ROC-AUC')
    print(pd.DataFrame([{'engine': k, 'seconds': round(s, 1), 'trials/s': round(a.trials / s, 2), 'best ROC-AUC': round(r, 4),
                         'peak MB': round(mb), 'x single': round(s / sw['single'][0], 2)} for k, (s, mb, r) in sw.items()]).to_string(index=False))


if __name__ == '__main__':
    sys.exit(main())
