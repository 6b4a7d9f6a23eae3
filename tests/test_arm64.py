"""The same bundle on a Raspberry Pi's CPU: a Debian bookworm arm64 userland (Python 3.11) under qemu-user.

scripts/arm64-rootfs.sh builds the userland once (a few minutes; kept in $MLOPS_LAB_ARM64_ROOTFS, default
/var/tmp/mlops-lab-arm64) with one venv per runtime: ai-edge-litert (numpy 2) and tflite-runtime 2.14 (numpy 1.26).
"""
import json, os, shutil, subprocess
from pathlib import Path
import numpy as np
import pytest
from mlops_lab import edge
from test_edge import digits, _images  # noqa: F401 (the int8 digits bundle fixture)

ROOT = Path(__file__).resolve().parents[1]
ROOTFS = Path(os.environ.get('MLOPS_LAB_ARM64_ROOTFS', '/var/tmp/mlops-lab-arm64'))


@pytest.fixture(scope='module')
def arm64(digits):
    r = subprocess.run(['bash', ROOT / 'scripts' / 'arm64-rootfs.sh', ROOTFS], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    work = ROOTFS / 'work'
    shutil.rmtree(work, ignore_errors=True); work.mkdir()
    shutil.copytree(ROOT / 'mlops_lab', work / 'mlops_lab', ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copytree(digits[0], work / 'bundle')
    np.save(work / 'x.npy', digits[1][:100])
    _images(digits[1][:10], work / 'imgs')
    subprocess.run(['mount', '-t', 'proc', 'proc', ROOTFS / 'proc'], check=True)
    yield work
    subprocess.run(['umount', ROOTFS / 'proc'])


def chroot(*cmd, timeout=600):
    "Run a command in the arm64 userland (env -i: no host variables leak in); returns the CompletedProcess."
    return subprocess.run(['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'PYTHONPATH=/work', 'chroot', ROOTFS, *map(str, cmd)],
                          capture_output=True, text=True, timeout=timeout)


PROBE = ('import platform, sys, numpy as np; from mlops_lab.edge import Model; '
         'm = Model("/work/bundle", kernels="reference", runtime=sys.argv[1]); '
         'print(platform.machine(), m.runtime, m.raw(np.load("/work/x.npy")).tobytes().hex())')


@pytest.mark.parametrize('venv,runtime', [('/venv-litert', 'ai_edge_litert.interpreter'), ('/venv-tflite', 'tflite_runtime.interpreter')])
def test_int8_outputs_are_byte_identical_on_arm64(arm64, digits, venv, runtime):
    r = chroot(f'{venv}/bin/python', '-c', PROBE, runtime)
    assert r.returncode == 0, r.stderr[-3000:]
    machine, rt, hexed = r.stdout.split()
    host = edge.Model(digits[0], kernels='reference').raw(digits[1][:100]).tobytes().hex()
    assert (machine, rt) == ('aarch64', runtime)
    assert hexed == host  # 100 digits x 10 int8 outputs, the same bytes as on x86_64


def test_edge_cli_classifies_on_arm64_like_the_lab(arm64, digits):
    r = chroot('/venv-litert/bin/python', '-m', 'mlops_lab.edge', 'classify', '--json', '--bundle', '/work/bundle', '/work/imgs')
    assert r.returncode == 0, r.stderr[-3000:]
    got = [json.loads(l)['label'] for l in r.stdout.splitlines()]
    m = edge.Model(digits[0])
    want = [d['label'] for d in m.classify(edge.load_images(sorted((arm64 / 'imgs').iterdir()), m.spec))]
    assert got == want and len(got) == 10
    bad = chroot('/venv-litert/bin/python', '-c', 'import tensorflow')
    assert bad.returncode != 0 and 'No module named' in bad.stderr  # nothing but numpy, the runtime and Pillow
