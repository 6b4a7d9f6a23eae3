"""The server's container image for real: Debian's dockerd started by the test on its own socket, a bookworm base made
with mmdebstrap (no registry is reachable), the project's Dockerfile built through `mlops-lab image`'s functions, and
the container asked on loopback. One daemon and one image for the module: the build is the slow part (about a minute)."""
import re, subprocess, sys, time
from pathlib import Path
import httpx
import numpy as np
import pytest
from conftest import cli
from mlops_lab.serve import container
from mlops_lab.serve.server import EXAMPLE, load_model, score

OK = EXAMPLE
TAG = 'churn-server:test'


@pytest.fixture(scope='module')
def docker():
    with container.daemon() as d: yield d


@pytest.fixture(scope='module')
def image(docker, smoke, tmp_path_factory):
    "The server image with the smoke run's model baked in, built on a local bookworm base; (tag, run, seconds to build)."
    run, _ = smoke
    t0 = time.monotonic()
    base = container.debian_base(docker)
    t1 = time.monotonic()
    container.build(docker, container.context(run, tmp_path_factory.mktemp('context')), TAG, base, run.name)
    print(f'\nbase {t1 - t0:.0f}s, build {time.monotonic() - t1:.0f}s', file=sys.stderr)
    return TAG, run


def test_container_answers_like_the_server_outside_it(docker, image):
    "Started from the image alone: ready on loopback, names its model, predicts what the same model predicts here, refuses bad input."
    tag, run = image
    cid, url, cold = container.start(docker, tag)
    print(f'\ncold start (docker run to /ready): {cold:.2f}s', file=sys.stderr)
    assert httpx.get(f'{url}/ready').json() == {'ready': True, 'version': f'run:{run.name}'}
    batch = [OK, {**OK, 'customer_id': 'C2', 'tenure_months': 60, 'contract': 'two-year', 'monthly_charges': 20.0}]
    got = httpx.post(f'{url}/predict', json={'records': batch}).json()
    here = score(load_model(str(run)), batch)
    np.testing.assert_allclose([g['churn_probability'] for g in got['predictions']], [h['churn_probability'] for h in here], atol=1e-6)
    assert {g['version'] for g in got['predictions']} == {f'run:{run.name}'}
    bad = httpx.post(f'{url}/predict', json={**OK, 'contract': 'weekly'})
    assert bad.status_code == 422 and 'contract' in bad.text
    assert 'mlops_requests_total' in httpx.get(f'{url}/metrics').text


def test_container_runs_unprivileged_with_a_health_check(docker, image):
    "The server process is user 10001, cannot write its code or model, and Docker's own health check turns healthy."
    tag, _ = image
    cid, url, _ = container.start(docker, tag)
    assert docker('exec', cid, 'id', '-u') == '10001'
    assert docker('exec', cid, 'sh', '-c', 'cat /proc/1/status | grep ^Uid').split()[1] == '10001'  # PID 1 is the server, as 10001
    for target in ('/opt/venv/lib', '/srv/models'):
        r = subprocess.run(['/usr/bin/docker', '-H', docker.host, 'exec', cid, 'touch', f'{target}/x'], capture_output=True, text=True)
        assert r.returncode != 0 and 'Permission denied' in r.stderr
    end = time.monotonic() + 40
    while (health := docker('inspect', '-f', '{{.State.Health.Status}}', cid)) == 'starting' and time.monotonic() < end: time.sleep(0.5)
    assert health == 'healthy'
    t0 = time.monotonic(); docker('stop', '-t', '20', cid)
    assert time.monotonic() - t0 < 15 and docker('inspect', '-f', '{{.State.ExitCode}}', cid) == '0'  # SIGTERM reaches uvicorn: a clean exit


def test_mounted_model_replaces_the_baked_one_and_a_corrupt_one_is_not_ready(docker, image, tmp_path):
    "A run folder mounted read-only with MLOPS_LAB_MODEL is served instead; a corrupt model keeps the container alive but not ready."
    tag, run = image
    mine = container.context(run, tmp_path, wheels=False) / 'model'  # the run's model files, readable by the image's user
    _, url, _ = container.start(docker, tag, env={'MLOPS_LAB_MODEL': '/srv/models/mounted'}, volumes={mine: '/srv/models/mounted'})
    assert httpx.post(f'{url}/predict', json=OK).json()['version'] == 'run:mounted'
    (mine / 'model.onnx').write_bytes(b'not a model')
    with pytest.raises(TimeoutError) as never:
        container.start(docker, tag, env={'MLOPS_LAB_MODEL': '/srv/models/mounted'}, volumes={mine: '/srv/models/mounted'}, timeout=8)
    url = re.search(r'http://127\.0\.0\.1:\d+', str(never.value)).group(0)  # start names the address it waited on
    r = httpx.get(f'{url}/ready')
    assert r.status_code == 503 and 'ONNX' in r.json()['error'] and httpx.get(f'{url}/health').status_code == 200


def test_image_command_refuses_what_is_not_a_run(tmp_path):
    "`mlops-lab image` on a folder without a model: exit 1 and which files are missing"
    r = cli('image', str(tmp_path))
    assert r.returncode == 1 and 'not a finished run folder' in r.stderr and 'model.joblib' in r.stderr


def test_a_second_private_daemon_coexists_and_leaves_nothing_behind(docker):
    "Another private daemon beside the module's (own socket, containerd namespace, no bridge) answers; on exit its folder and mounts are gone."
    with container.daemon() as other:
        root = Path(other.host.removeprefix('unix://')).parent
        assert other('version', '--format', '{{.Server.Version}}') and docker('version', '--format', '{{.Server.Version}}')
        assert other.host != docker.host and root.is_dir()
    assert not root.exists() and str(root) not in Path('/proc/self/mounts').read_text()
    assert docker('info', '--format', '{{.ServerVersion}}')  # the module's daemon still serves
