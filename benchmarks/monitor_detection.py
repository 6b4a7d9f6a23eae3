"""Drift detection over a year of production (mlops_lab.monitor.timeline): per detector and drift form, the delay from the
change to the first alarm and the false alarms before it, at several weekly batch sizes; the lab's answer to "drift detection
rate" among the system metrics.

    .venv/bin/python benchmarks/monitor_detection.py [--n 500,2000] [--weeks 52] [--delay 4]

The floor of every detector that needs outcomes is the label delay: a delay is printed in weeks and as a multiple of it.
The baseline is the data drift test (`80_drift`, evidently's choice of test), the only detector that needs no outcomes.
"""
import argparse, time
import pandas as pd
from mlops_lab.monitor.timeline import SCENARIOS, SIGNALS, detection, fit, reference, watch


def table(n: int, weeks: int, delay: int) -> pd.DataFrame:
    model = fit(reference())
    return pd.concat([detection(watch(s, model, weeks, n, delay=delay), s) for s in SCENARIOS]).reset_index().set_index(['scenario', 'detector'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', default='500,2000', help='customers a week, comma-separated')
    ap.add_argument('--weeks', type=int, default=52)
    ap.add_argument('--delay', type=int, default=4)
    a = ap.parse_args()
    pd.set_option('display.width', 160)
    for n in map(int, a.n.split(',')):
        t0 = time.perf_counter()
        t = table(n, a.weeks, a.delay)
        s = time.perf_counter() - t0
        delays = t.delay_weeks.unstack()[list(SIGNALS)].loc[list(SCENARIOS)]
        print(f'\n{n} customers a week, {a.weeks} weeks, outcomes {a.delay} weeks late ({s:.1f}s for {len(SCENARIOS)} scenarios)')
        print('delay from the change to the first alarm, weeks (blank: not detected; control: nothing to detect)')
        print(delays.fillna('').to_string())
        print('the same delay / label delay (the floor of performance, ADWIN and Page-Hinkley)')
        print((delays.drop(index='control').astype(float) / a.delay).round(2).fillna('').to_string())
        fa = t.false_alarms.unstack()[list(SIGNALS)]
        print('false alarms (before the change; on the control, all):', fa.sum().to_dict())
        changed = [x for x in SCENARIOS if x != 'control']
        print('detected drift forms, of', len(changed), ':', t.detected.unstack().loc[changed].sum()[list(SIGNALS)].to_dict())


if __name__ == '__main__':
    main()
