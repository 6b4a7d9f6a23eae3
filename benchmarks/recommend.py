"""The recommender's costs on this machine: fit time of ALS and item-item cosine as the interactions grow (100k, 1M, 5M
events over 20,000 items); `GET /recommend` of the real model server under wrk at concurrency 8, cache hits against cache
misses, against a bare FastAPI GET that returns a constant (the framework's ceiling) measured in the same run; the time from
an event posted to the changed list; and each model's ranking quality against popularity and against the oracle.

Run: .venv/bin/python benchmarks/recommend.py [--sizes 100000,1000000,5000000] [--items 20000] [--seconds 5] [--parts quality,fit,serve]
Needs wrk (Debian package wrk; `make setup` installs it). Targets (issue 15): p99 under 20 ms for a miss, 5 ms for a hit.
"""
import argparse, tempfile, time
from pathlib import Path
import httpx
import numpy as np
import pandas as pd
from mlops_lab.data.interactions import generate
from mlops_lab.measure import timing
from mlops_lab.modeling.recommend import ALS, ItemCosine, compare, fit_factors, matrix
from mlops_lab.serve.server import spawn
from mlops_lab.serve.targets import load
from serve_load import bare  # the ceiling, started as serve_load.py starts it

BARE = '''from fastapi import FastAPI
from fastapi.responses import JSONResponse
app = FastAPI()
LIST = {'user_id': 'u', 'items': [{'item_id': f'i{n:05d}', 'score': 0.5, 'category': 'c00', 'new': False} for n in range(10)],
        'basis': 'model', 'cache': 'hit', 'version': 'constant'}
@app.get('/recommend/{user_id}')
async def recommend(user_id: str, k: int = 10): return JSONResponse(LIST)
'''


def fit_times(sizes, n_items):
    "Seconds to fit ALS (15 sweeps, 32 factors) and item-item cosine at each number of events."
    print(f'\n== fit time over {n_items:,} items (users: events / 20) ==')
    print(f'{"events":>10} {"users":>8} {"item-item s":>12} {"ALS s":>8} {"ALS / item-item":>16}')
    rows = []
    for n in sizes:
        items, events, _ = generate(n_users=max(n // 20, 100), n_items=n_items, n_events=n, seed=1)
        X = matrix(events, pd.Index(events.user_id.cat.categories), pd.Index(items.item_id))
        del events
        t0 = time.perf_counter(); ItemCosine().fit(X); ii = time.perf_counter() - t0
        t0 = time.perf_counter(); ALS().fit(X); als = time.perf_counter() - t0
        rows.append((n, ii, als))
        print(f'{n:>10,} {X.shape[0]:>8,} {ii:>12.2f} {als:>8.2f} {als / ii:>16.2f}')
    if len(rows) > 1:
        (n0, i0, a0), (n1, i1, a1) = rows[0], rows[-1]
        k = np.log(n1 / n0)
        print(f'growth exponent (time ~ events^b) from {n0:,} to {n1:,}: item-item b = {np.log(i1 / i0) / k:.2f}, ALS b = {np.log(a1 / a0) / k:.2f}')


def serving(n_items, seconds, tmp):
    "wrk against /recommend: cache hits, cache misses, and the bare ceiling; then event-to-new-list latency."
    items, events, _ = generate(n_users=50_000, n_items=n_items, n_events=1_000_000, seed=2)
    f = fit_factors(events, items)
    path = f.save(tmp / 'recommender.npz')
    users = [str(u) for u in f.users]
    active = [str(u) for u in f.users[np.argsort(-np.diff(f.X.indptr), kind='stable')[:1000]]]  # precomputed at load
    rng = np.random.default_rng(0)
    cold = [u for u in rng.permutation(users) if u not in set(active)]
    print(f'\n== GET /recommend/USER?k=10 at concurrency 8, {n_items:,} items, {len(users):,} users, {seconds} s each ==')
    with bare(tmp, BARE) as b:
        ceiling = load(b, None, 8, seconds, '/recommend/x?k=10')
    with spawn('--source', 'none', '--recommender', path, timeout=300) as url:
        hit = load(url, None, 8, seconds, paths=[f'/recommend/{u}?k=10' for u in active])
        before = httpx.get(f'{url}/events').json()
        miss = load(url, None, 8, seconds, paths=[f'/recommend/{u}?k=10' for u in cold])
        after = httpx.get(f'{url}/events').json()
        misses = after['cache_miss'] - before['cache_miss']
        share = misses / max(after['cache_miss'] + after['cache_hit'] - before['cache_miss'] - before['cache_hit'], 1)
        print(f'{"":18} {"req/s":>8} {"p50 ms":>8} {"p99 ms":>8} {"errors":>7} {"vs ceiling":>11}')
        for name, r in (('bare FastAPI', ceiling), ('cache hit', hit), (f'miss ({share:.0%} misses)', miss)):
            print(f'{name:18} {r["rps"]:>8.0f} {r["p50_ms"]:>8.2f} {r["p99_ms"]:>8.2f} {r["errors"]:>7} {r["rps"] / ceiling["rps"]:>10.2f}x')
        print(f'targets: miss p99 {miss["p99_ms"]:.1f} ms (< 20: {"met" if miss["p99_ms"] < 20 else "NOT met"}), '
              f'hit p99 {hit["p99_ms"]:.1f} ms (< 5: {"met" if hit["p99_ms"] < 5 else "NOT met"})')
        print('\n== from an event posted to the changed list (one client, sequential) ==')
        item = str(f.items[0])
        with httpx.Client(base_url=url) as c:
            def event_then_list(n):
                u = active[n % len(active)]
                c.post('/events', json={'event_id': f'bench-{n}', 'user_id': u, 'item_id': item, 'type': 'click',
                                        'ts': pd.Timestamp.now('UTC').isoformat()})
                return c.get(f'/recommend/{u}?k=10').json()['basis']
            t = timing(event_then_list, range(300), warmup=10)
            get = timing(lambda u: c.get(f'/recommend/{u}?k=10'), cold[:300], warmup=10)
        print(f'POST /events then GET /recommend: p50 {t["p50_ms"]:.2f} ms, p99 {t["p99_ms"]:.2f} ms '
              f'({t["p50_ms"] / get["p50_ms"]:.2f}x a GET alone, p50 {get["p50_ms"]:.2f} ms)')


def quality(draws):
    "Ranking quality of each model on the default data, as ratios to popularity and to the oracle."
    items, events, truth = generate()
    res = compare(events, items, truth, draws=draws)['models']
    print('\n== ranking quality, default data (2,000 users, 1,000 items, 60,000 events), k = 10 ==')
    print(f'{"model":12} {"NDCG@10":>16} {"vs popularity":>14} {"of oracle":>10} {"recall@10":>10} {"coverage":>9} {"fit s":>7}')
    for m, r in res.items():
        n, lo, hi = r['ndcg']['value'], *r['ndcg']['interval']
        print(f'{m:12} {n:.3f} [{lo:.3f},{hi:.3f}] {n / res["popularity"]["ndcg"]["value"]:>13.2f}x '
              f'{n / res["oracle"]["ndcg"]["value"]:>9.0%} {r["recall"]["value"]:>10.3f} {r["coverage"]["value"]:>9.3f} {r["fit_s"]:>7.2f}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--sizes', default='100000,1000000,5000000', help='events for the fit-time table')
    ap.add_argument('--items', type=int, default=20_000, help='catalogue size')
    ap.add_argument('--seconds', type=int, default=5, help='wrk duration per measurement')
    ap.add_argument('--draws', type=int, default=300, help='bootstrap resamples for the quality table')
    ap.add_argument('--parts', default='quality,fit,serve', help='which tables: quality, fit, serve')
    a = ap.parse_args()
    parts = a.parts.split(',')
    if 'quality' in parts: quality(a.draws)
    if 'fit' in parts: fit_times([int(s) for s in a.sizes.split(',')], a.items)
    if 'serve' in parts:
        with tempfile.TemporaryDirectory() as d: serving(a.items, a.seconds, Path(d))


if __name__ == '__main__':
    main()
