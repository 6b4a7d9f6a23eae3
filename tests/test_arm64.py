"""The same bundle on a Raspberry Pi's CPU: a Debian bookworm arm64 userland (Python 3.11) under qemu-user.

scripts/arm64-rootfs.sh builds the userland once (a few minutes; kept in $MLOPS_LAB_ARM64_ROOTFS, default
/var/tmp/mlops-lab-arm64) with one venv per runtime: ai-edge-litert (numpy 2) and tflite-runtime 2.14 (numpy 1.26).
"""
import json, os, shutil, subprocess
from pathlib import Path
import numpy as np
import pytest
from mlops_lab import edge
from test_edge import ATTACKS, digits, _images, _rehash  # noqa: F401 (the int8 digits bundle fixture, the attacks)

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
    shutil.copytree(edge.keys_dir() / 'trusted', work / 'keys' / 'trusted')  # the device gets the public keys only
    tampered = shutil.copytree(digits[0], work / 'tampered')
    (tampered / 'labels.json').write_text(json.dumps(list('abcdefghij'))); _rehash(tampered)
    mallory = work / 'mallory-keys'; edge.keygen(mallory, name='mallory')
    expired = work / 'expired-keys'; (expired / 'trusted').mkdir(parents=True)
    for rec in edge.trusted().values():
        rec.pop('file'); (expired / 'trusted' / f"{rec['keyid']}.json").write_text(json.dumps({**rec, 'expires': '2021-06-30'}))
    (work / 'no-keys').mkdir()
    for i, (edit, _, _) in enumerate(ATTACKS.values()):  # each attack on a newer, properly signed copy, as in test_edge
        b = shutil.copytree(digits[0], work / 'attacks' / str(i))
        meta = json.loads((b / 'metadata.json').read_text()); (b / 'metadata.json').write_text(json.dumps({**meta, 'name': 'evil'}))
        _rehash(b); edge.sign(b)
        edit(b, {'mallory': mallory})
    np.save(work / 'x.npy', digits[1][:100])
    _images(digits[1][:10], work / 'imgs')
    subprocess.run(['mount', '-t', 'proc', 'proc', ROOTFS / 'proc'], check=True)
    yield work
    subprocess.run(['umount', ROOTFS / 'proc'])


def chroot(*cmd, timeout=600):
    "Run a command in the arm64 userland (env -i: no host variables leak in; the device trusts /work/keys); returns the CompletedProcess."
    return subprocess.run(['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'PYTHONPATH=/work', 'MLOPS_LAB_KEYS=/work/keys', 'chroot', ROOTFS, *map(str, cmd)],
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


SIGCHECK = ('import sys, json; from pathlib import Path; from mlops_lab.edge import BundleError, verify\n'
            'print(verify("/work/bundle", "/work/keys")["signed_by"])\n'
            'try: verify("/work/tampered", "/work/keys"); print("ACCEPTED")\n'
            'except BundleError as e: print("refused:", e)\n')


@pytest.mark.parametrize('venv', ['/venv-litert', '/venv-tflite'])
def test_signature_check_on_arm64(arm64, venv):
    "The device's own cryptography wheel (aarch64) accepts the lab's signature and refuses a re-hashed bundle."
    r = chroot(f'{venv}/bin/python', '-c', SIGCHECK)
    assert r.returncode == 0, r.stderr[-3000:]
    signer, verdict = r.stdout.splitlines()
    assert signer == next(iter(edge.trusted()))
    assert verdict.startswith('refused:') and 'the signature does not match manifest.json' in verdict
    bad = chroot(f'{venv}/bin/python', '-m', 'mlops_lab.edge', 'info', '--bundle', '/work/tampered', '--keys', '/work/keys')
    assert bad.returncode == 1 and 'signature does not match' in bad.stderr


ATTACK_RUN = '''
import json, sys
from mlops_lab import edge
keys = {None: "/work/keys", "expired": "/work/expired-keys", "empty": "/work/no-keys"}
edge.install("/work/bundle", "/work/dev", keys="/work/keys")
out = []
for i, k in enumerate(json.loads(sys.argv[1])):
    try: edge.install(f"/work/attacks/{i}", "/work/dev", keys=keys[k]); out.append("INSTALLED")
    except edge.BundleError as e: out.append(str(e))
m = edge.Model("/work/dev/current", keys="/work/keys")
print(json.dumps({"refusals": out, "serving": m.meta["name"], "previous": __import__("os").path.exists("/work/dev/previous")}))
'''


def test_every_attack_is_refused_on_arm64_and_the_old_bundle_keeps_serving(arm64):
    "The attacks of test_edge, installed on the device's CPU: each refused with its reason; the good bundle stays current."
    r = chroot('/venv-litert/bin/python', '-c', ATTACK_RUN, json.dumps([k for _, k, _ in ATTACKS.values()]))
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    for (name, (_, _, msg)), refusal in zip(ATTACKS.items(), got['refusals']):
        assert msg in refusal, (name, refusal)
    assert got['serving'] == 'digits-test' and got['previous'] is False
