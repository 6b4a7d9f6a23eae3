"""Start-up time of `mlops-lab quiz --help` (target: under half a second), against `python -c pass` in the same run.

    .venv/bin/python benchmarks/quiz_startup.py [-n 20]
"""
import argparse, statistics, subprocess, sys, time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_s(cmd, n):
    ts = []
    for _ in range(n + 1):
        t0 = time.perf_counter(); subprocess.run(cmd, capture_output=True, check=True); ts.append(time.perf_counter() - t0)
    return statistics.median(ts[1:])  # the first run warms the file cache


if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__.split('\n')[0]); a.add_argument('-n', type=int, default=20)
    n = a.parse_args().n
    base = median_s([sys.executable, '-c', 'pass'], n)
    quiz = median_s([str(BIN / 'mlops-lab'), 'quiz', '--help'], n)
    top = median_s([str(BIN / 'mlops-lab'), '--help'], n)
    print(f'python -c pass:        {base * 1e3:6.0f} ms')
    print(f'mlops-lab --help:      {top * 1e3:6.0f} ms')
    print(f'mlops-lab quiz --help: {quiz * 1e3:6.0f} ms ({quiz / base:.1f}x a bare interpreter; target < 500 ms: {"met" if quiz < 0.5 else "NOT met"})')
