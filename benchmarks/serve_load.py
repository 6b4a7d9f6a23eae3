"""The model server under load from a separate process (wrk), on loopback: requests/s and p50/p99 at concurrency
1, 8 and 32, one record and 100-record batches, ONNX Runtime vs scikit-learn backends, against a bare FastAPI
endpoint that returns a constant (the framework's ceiling) measured in the same run; what shadow and canary
routing cost per request; green killed under load behind the blue-green front door (requests lost, failover); and
batch scoring rows/s and peak memory at 1M and 10M rows.

Run: .venv/bin/python benchmarks/serve_load.py [--run runs/<id>] [--seconds 10] [--rows 1000000,10000000]
Needs wrk (Debian package wrk; `make setup` installs it). Without --run it uses the newest run folder that has
model.onnx, or makes one with `mlops-lab run onnx --profile smoke`.
"""
import argparse, contextlib, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import httpx
from mlops_lab.prepare.api import free_port
from mlops_lab.serve.server import EXAMPLE as RECORD, spawn
from mlops_lab.serve.targets import load

ROOT = Path(__file__).resolve().parents[1]
BARE = '''from fastapi import FastAPI
app = FastAPI()
@app.post('/predict')
async def predict(): return {'churn_probability': 0.5, 'act': True, 'version': 'constant'}
'''


@contextlib.contextmanager
def bare(tmp: Path, source: str = BARE):
    "The ceiling: a FastAPI app (`source`, an endpoint returning a constant) under uvicorn on a free loopback port; yields its base URL."
    (tmp / 'bare.py').write_text(source)
    port = free_port()
    p = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'bare:app', '--app-dir', str(tmp), '--port', str(port), '--log-level', 'warning'],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f'http://127.0.0.1:{port}/docs').status_code == 200: break
            except httpx.HTTPError: pass
            if p.poll() is not None or time.monotonic() > end: raise RuntimeError('the bare FastAPI endpoint did not start')
            time.sleep(0.1)
        yield f'http://127.0.0.1:{port}'
    finally: p.terminate(); p.wait(10)


def run_folder(arg: str | None) -> Path:
    if arg: return Path(arg)
    found = sorted((p.parent for p in (ROOT / 'runs').glob('*/model.onnx') if p.parent.name != 'dev'), key=lambda p: p.name)
    if found: return found[-1]
    subprocess.run([sys.executable, '-m', 'mlops_lab', 'run', 'onnx', '--profile', 'smoke'], cwd=ROOT, check=True)
    return run_folder(None)


def batch_file(run: Path, rows: int, path: Path):
    "A Parquet file of `rows` customers (the run's test split repeated under new ids), written in chunks."
    import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
    base = pd.read_parquet(run / 'test.parquet').drop(columns=['churn'])
    chunk, writer, n = 500_000, None, 0
    while n < rows:
        k = min(chunk, rows - n)
        df = base.sample(k, replace=True, random_state=n).assign(customer_id=[f'B{i:09d}' for i in range(n, n + k)])
        t = pa.Table.from_pandas(df, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, t.schema)
        writer.write_table(t); n += k
    writer.close()


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', help='a run folder with model.joblib, model.onnx and metrics.json')
    ap.add_argument('--seconds', type=int, default=10, help='seconds of load per measurement')
    ap.add_argument('--conns', default='1,8,32')
    ap.add_argument('--rows', default='1000000,10000000', help='batch scoring sizes')
    a = ap.parse_args()
    if not shutil.which('wrk'): sys.exit('wrk is not installed: apt-get install wrk (make setup does this)')
    run, tmp = run_folder(a.run).resolve(), Path(tempfile.mkdtemp())
    print(f'model: {run}')
    conns = [int(c) for c in a.conns.split(',')]
    rows = []
    with contextlib.ExitStack() as up:
        urls = {'bare': up.enter_context(bare(tmp)), **{k: up.enter_context(spawn('--source', run, '--backend', k)) for k in ('onnx', 'sklearn')}}
        for body_name, body in (('1 record', RECORD), ('100 records', {'records': [RECORD] * 100})):
            for c in conns:
                r = {k: load(urls[k], body, c, a.seconds) for k in ('bare', 'onnx', 'sklearn')}
                rows.append((body_name, c, r))
                print(f"{body_name:>11}, {c:2d} connections: bare FastAPI {r['bare']['rps']:8.0f} req/s | "
                      f"ONNX {r['onnx']['rps']:7.0f} req/s ({r['onnx']['rps'] / r['bare']['rps']:.0%} of bare), p50 {r['onnx']['p50_ms']:.2f} ms, "
                      f"p99 {r['onnx']['p99_ms']:.2f} ms | scikit-learn {r['sklearn']['rps']:7.0f} req/s, p50 {r['sklearn']['p50_ms']:.2f} ms, "
                      f"p99 {r['sklearn']['p99_ms']:.2f} ms | non-2xx: {sum(x['errors'] for x in r.values())}", flush=True)

    # what the rollout router costs per request: the same champion, off vs shadow vs canary (registry-backed)
    import logging, warnings
    warnings.filterwarnings('ignore')
    from mlops_lab.serve import registry as reg, rollout
    logging.getLogger('mlflow').setLevel(logging.ERROR)
    cost = {}
    for mode in ('off', 'shadow', 'canary'):
        uri = reg.scratch_store()
        for _ in range(2): reg.register(run, reg.track(run, uri))
        reg.promote(uri, '1', 'benchmark'); reg.set_challenger(uri, '2', 'benchmark')
        if mode != 'off': rollout.start(uri, mode, 'benchmark', guardrails=rollout.Guardrails(min_sample=10**9))  # never ends
        with spawn('--store', uri, '--poll', '0.5') as url:
            end = time.monotonic() + 30
            while mode != 'off' and httpx.get(f'{url}/rollout').json()['mode'] != mode and time.monotonic() < end: time.sleep(0.2)
            cost[mode] = load(url, RECORD, 8, a.seconds)
    for mode in ('shadow', 'canary'):
        print(f"{mode} routing: p50 {cost[mode]['p50_ms']:.2f} ms vs {cost['off']['p50_ms']:.2f} ms without "
              f"({cost[mode]['p50_ms'] / cost['off']['p50_ms'] - 1:+.0%}), {cost[mode]['rps']:.0f} vs {cost['off']['rps']:.0f} req/s at 8 connections")

    # a fault under load: blue-green, green killed (SIGKILL) halfway through; the front door fails over to blue
    import threading
    from mlops_lab.serve.bluegreen import Switch, cut_over
    with spawn('--source', run) as blue, spawn('--source', run) as green:
        sw = Switch(blue.port); cut_over(sw, green, RECORD)
        calm = load(f'http://127.0.0.1:{sw.port}', RECORD, 8, a.seconds)
        threading.Timer(a.seconds / 2, green.proc.kill).start()
        hit = load(f'http://127.0.0.1:{sw.port}', RECORD, 8, a.seconds)
        sw.close()
    print(f"blue-green through the front door, 8 connections: {calm['rps']:.0f} req/s, p99 {calm['p99_ms']:.1f} ms; green killed halfway: "
          f"{hit['rps']:.0f} req/s, p99 {hit['p99_ms']:.1f} ms, {len(sw.failovers)} failover, requests lost "
          f"{hit['socket_errors'] + hit['errors']} of {hit['rps'] * a.seconds:.0f} (those in flight inside green), {sw.refused} connections refused", flush=True)

    # batch scoring: rows/s and peak memory, each size in a fresh process
    from mlops_lab.measure import fresh
    for n in (int(x) for x in a.rows.split(',')):
        f = tmp / f'customers-{n}.parquet'
        batch_file(run, n, f)
        r = fresh('mlops_lab.serve.inference:score_file', str(run), str(f), str(tmp / 'scores.parquet'), 100_000, timeout=3600)
        print(f"batch scoring {n:>10,} rows: {r['rows_per_s']:,} rows/s, peak memory {r['peak_mb']:.0f} MB ({f.stat().st_size / 1e6:.0f} MB of Parquet)", flush=True)
        f.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
