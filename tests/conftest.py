"""Fixtures for tests/ (the session-wide set-up is in the root conftest.py)."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def cli(*args, cwd=ROOT, env=None, timeout=600):
    "Run `python -m mlops_lab ARGS` as a user would; return the CompletedProcess."
    return subprocess.run([sys.executable, '-m', 'mlops_lab', *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, 'COLUMNS': '120', **(env or {})})


@pytest.fixture(scope='session')
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('runs')


@pytest.fixture(scope='session')
def smoke(runs_dir):
    "One smoke-profile pipeline run through the real CLI, shared by the tests that inspect it."
    r = cli('run', '--profile', 'smoke', '--runs', runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = [p for p in runs_dir.iterdir() if p.name.endswith('-smoke')]
    return run, r


@pytest.fixture
def project_copy(tmp_path):
    "A copy of the project (pipeline.yaml, settings.ini, data/, nbs/) that a test may break."
    for f in ('pipeline.yaml', 'settings.ini'): shutil.copy(ROOT / f, tmp_path / f)
    shutil.copytree(ROOT / 'data', tmp_path / 'data')
    shutil.copytree(ROOT / 'nbs', tmp_path / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', 'runs'))
    return tmp_path


@pytest.fixture(scope='session')
def postgres():
    "A real PostgreSQL server on a loopback port for this test session (Debian's server binaries; `make setup` installs them)."
    import glob, socket
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    assert found, 'PostgreSQL server binaries not found: run `make setup` (installs Debian package postgresql)'
    bindir = Path(found[-1]).parent
    import tempfile
    d = Path(tempfile.mkdtemp(prefix='mlops-lab-pg-'))  # not under pytest's 0700 tmp: the server runs as user postgres
    as_pg = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(d, 'postgres'); as_pg = ['runuser', '-u', 'postgres', '--']
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    def run(*a):
        r = subprocess.run([*as_pg, *map(str, a)], capture_output=True, text=True)
        assert r.returncode == 0, f'{a[0]} failed: {r.stdout}{r.stderr}'
    run(bindir / 'initdb', '-D', d / 'data', '-U', 'lab', '--auth=trust', '-E', 'UTF8')
    run(bindir / 'pg_ctl', '-D', d / 'data', '-l', d / 'log', '-w', '-o',
        f'-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off', 'start')
    yield f'postgresql+psycopg://lab@127.0.0.1:{port}/postgres'
    run(bindir / 'pg_ctl', '-D', d / 'data', '-m', 'fast', '-w', 'stop')
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def broker():
    "A real Mosquitto broker with persistence on a loopback port (its folder in /tmp: the broker runs as user mosquitto)."
    from mlops_lab.prepare.iot import Broker
    with Broker() as b:
        yield b
    shutil.rmtree(b.dir, ignore_errors=True)
