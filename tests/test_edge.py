"""The edge runtime: bundles verified, served with numpy + LiteRT only, installed atomically, rolled back."""
import json, os, re, shutil, subprocess, sys, time, venv
from pathlib import Path
import numpy as np
import pytest
from mlops_lab import edge
from mlops_lab.deploy.bundle import write_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "An int8 TFLite bundle of a softmax regression on scikit-learn's digits (the lab's converter), and its held-out data."
    os.environ.update(TF_CPP_MIN_LOG_LEVEL='3', TF_ENABLE_ONEDNN_OPTS='0')
    from sklearn.datasets import load_digits
    from mlops_lab.deploy.bundle import grid_softmax, quiet
    from mlops_lab.deploy.quantize import convert
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8, 1).astype(np.float32)
    with quiet(): net = grid_softmax(X[:1300], y[:1300])
    d = tmp_path_factory.mktemp('edge')
    b = write_bundle(d / 'digits', convert(net, 'int8', X[:300]), [str(i) for i in range(10)],
                          {'shape': [8, 8, 1], 'color': 'L', 'pixel_scale': 16 / 255, 'scale': 1.0}, {'name': 'digits-test'})
    Xte, yte = X[1300:], y[1300:]
    return b, Xte, yte, net.predict(Xte, verbose=0).argmax(1)


def test_int8_bundle_agrees_with_the_float_model(digits):
    b, X, y, ref = digits
    m = edge.Model(b)
    pred = np.array([int(r['label']) for r in m.classify(X)])
    assert m.inp['dtype'] == np.int8 and m.runtime == 'ai_edge_litert.interpreter'
    assert (pred == ref).mean() > 0.97 and (pred == y).mean() > 0.9
    s = m.scores(X[:5])
    assert s.shape == (5, 10) and np.allclose(s.sum(1), 1, atol=0.05)


@pytest.mark.parametrize('damage,msg', [
    (lambda b: (b / 'labels.json').write_text('["x"]'), 'labels.json: sha256 mismatch'),
    (lambda b: (b / 'model.tflite').write_bytes((b / 'model.tflite').read_bytes()[:-1] + b'\0'), 'model.tflite: sha256 mismatch'),
    (lambda b: (b / 'metadata.json').unlink(), 'metadata.json: missing'),
    (lambda b: (b / 'manifest.json').unlink(), 'not a bundle (no manifest.json)'),
    (lambda b: (b / 'manifest.json').write_text('{"format": 1, "files": '), 'manifest.json: corrupt'),
    (lambda b: (b / 'manifest.json').write_text(json.dumps({**json.loads((b / 'manifest.json').read_text()), 'format': 9})), 'bundle format 9'),
])
def test_damaged_bundles_are_refused(digits, tmp_path, damage, msg):
    b = Path(shutil.copytree(digits[0], tmp_path / 'b'))
    damage(b)
    with pytest.raises(edge.BundleError, match=msg.replace('(', r'\(').replace(')', r'\)')):
        edge.Model(b)


def test_a_consistent_but_broken_model_is_refused(digits, tmp_path):
    b = tmp_path / 'junk'
    write_bundle(b, b'not a flatbuffer at all', [str(i) for i in range(10)], {'shape': [8, 8, 1]}, {})
    with pytest.raises(edge.BundleError, match='cannot be loaded'):
        edge.Model(b)
    write_bundle(b, (digits[0] / 'model.tflite').read_bytes(), ['a', 'b'], {'shape': [8, 8, 1]}, {})
    with pytest.raises(edge.BundleError, match='2 labels for 10 model outputs'):
        edge.Model(b)


def test_wrong_input_shape(digits):
    with pytest.raises(ValueError, match=r'input shape \(28, 28, 1\) does not match'):
        edge.Model(digits[0]).classify(np.zeros((2, 28, 28, 1)))


def test_install_is_atomic_and_rolls_back(digits, tmp_path):
    root, b1 = tmp_path / 'device', digits[0]
    b2 = write_bundle(tmp_path / 'digits2', (b1 / 'model.tflite').read_bytes(), json.loads((b1 / 'labels.json').read_text()),
                           json.loads((b1 / 'preprocess.json').read_text()), {'name': 'v2'})
    edge.install(b1, root)
    edge.install(b2, root)
    assert edge.Model(root / 'current').meta['name'] == 'v2' and edge.Model(root / 'previous').meta['name'] == 'digits-test'
    broken = Path(shutil.copytree(b2, tmp_path / 'broken'))
    write_bundle(broken, b'garbage', ['x'] * 10, {'shape': [8, 8, 1]}, {'name': 'broken'})  # consistent manifest, bad model
    with pytest.raises(edge.BundleError, match='cannot be loaded'):
        edge.install(broken, root)
    assert edge.Model(root / 'current').meta['name'] == 'v2'  # still serving
    assert not [p for p in (root / 'releases').iterdir() if p.name.startswith('.')]  # no half-installed leftovers
    edge.rollback(root)
    assert edge.Model(root / 'current').meta['name'] == 'digits-test' and edge.Model(root / 'previous').meta['name'] == 'v2'
    with pytest.raises(edge.BundleError, match='no previous bundle'):
        edge.rollback(tmp_path / 'empty')


def _images(X, folder):
    from PIL import Image
    folder.mkdir()
    for i, x in enumerate(X):
        Image.fromarray((x[:, :, 0] * 255 / 16).round().astype(np.uint8)).resize((24, 24)).save(folder / f'{i:03d}.png')
    return folder


def test_edge_import_is_light():
    code = 'import mlops_lab.edge, sys; print(" ".join(sorted(sys.modules)))'
    mods = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    assert not {'tensorflow', 'sklearn', 'pandas', 'PIL', 'ai_edge_litert'} & set(mods)


def test_edge_cli_in_a_fresh_venv_with_only_the_edge_install(digits, tmp_path):
    """`pip install mlops-lab[edge]` into a new venv: classify works while TensorFlow, scikit-learn and pandas
    are not importable, and its labels are the lab's own for the same bundle."""
    b, X, y, _ = digits
    env_dir = tmp_path / 'venv'
    venv.create(env_dir, with_pip=True)
    py = env_dir / 'bin' / 'python'
    r = subprocess.run([py, '-m', 'pip', 'install', '-q', f'{ROOT}[edge]'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    missing = subprocess.run([py, '-c', 'import importlib.util as u; print([m for m in ("tensorflow", "sklearn", "pandas") if u.find_spec(m)])'],
                             capture_output=True, text=True)
    assert missing.stdout.strip() == '[]'
    imgs = _images(X[:40], tmp_path / 'imgs')
    r = subprocess.run([env_dir / 'bin' / 'mlops-lab-edge', 'classify', '--json', '--bundle', b, imgs], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = [json.loads(l)['label'] for l in r.stdout.splitlines()]
    lab = edge.Model(b).classify(edge.load_images(sorted(imgs.iterdir()), edge.Model(b).spec))
    assert got == [d['label'] for d in lab] and len(got) == 40
    info = subprocess.run([env_dir / 'bin' / 'mlops-lab-edge', 'info', '--bundle', b], capture_output=True, text=True)
    assert info.returncode == 0 and json.loads(info.stdout)['runtime'] == 'ai_edge_litert.interpreter'
    bench = subprocess.run([env_dir / 'bin' / 'mlops-lab-edge', 'bench', '-n', '50', '--bundle', b], capture_output=True, text=True)
    assert bench.returncode == 0 and json.loads(bench.stdout)['p50_ms'] > 0
    (b.parent / 'tampered').mkdir()
    for f in b.iterdir(): shutil.copy(f, b.parent / 'tampered' / f.name)
    (b.parent / 'tampered' / 'labels.json').write_text('[]')
    bad = subprocess.run([env_dir / 'bin' / 'mlops-lab-edge', 'info', '--bundle', b.parent / 'tampered'], capture_output=True, text=True)
    assert bad.returncode == 1 and 'labels.json: sha256 mismatch' in bad.stderr
    _rehash(b.parent / 'tampered')  # re-hashed: only the signature tells, and the device's runtime (cryptography) checks it
    bad = subprocess.run([env_dir / 'bin' / 'mlops-lab-edge', 'info', '--bundle', b.parent / 'tampered'], capture_output=True, text=True)
    assert bad.returncode == 1 and 'the signature does not match manifest.json' in bad.stderr


def test_watch_serves_new_images_and_follows_install_and_rollback(digits, tmp_path):
    b1 = digits[0]
    b2 = write_bundle(tmp_path / 'v2', (b1 / 'model.tflite').read_bytes(), json.loads((b1 / 'labels.json').read_text()),
                           json.loads((b1 / 'preprocess.json').read_text()), {'name': 'v2'})
    root, inbox, res = tmp_path / 'dev', _images(digits[1][:3], tmp_path / 'inbox'), tmp_path / 'r.jsonl'
    edge.install(b1, root)
    r = subprocess.run([sys.executable, '-m', 'mlops_lab.edge', 'watch', inbox, '--bundle', root / 'current', '--results', res, '--once'],
                       capture_output=True, text=True)
    assert r.returncode == 0 and '3 images classified' in r.stdout, r.stderr
    edge.install(b2, root)
    (inbox / 'x.png').write_bytes((inbox / '000.png').read_bytes())
    (inbox / 'bad.jpg').write_bytes(b'garbage')
    assert edge.watch(inbox, root / 'current', res, once=True, log=lambda s: None) == 2
    rows = [json.loads(l) for l in res.read_text().splitlines()]
    assert [r['file'] for r in rows] == ['000.png', '001.png', '002.png', 'bad.jpg', 'x.png']
    assert {r['bundle'] for r in rows[:3]} == {(root / 'releases').glob('digits-*').__next__().name}
    assert 'bad.jpg: not a readable image' in rows[3]['error']
    assert rows[4]['bundle'].startswith('v2-') and rows[4]['label'] == rows[0]['label']


def _rehash(b):
    "Recompute every sum in the manifest after an edit, as an attacker who can write the bundle would."
    m = json.loads((b / 'manifest.json').read_text())
    m['files'] = {f: edge.sha256(b / f) for f in edge.FILES}
    (b / 'manifest.json').write_text(json.dumps(m))


def _truncate(b):
    s = json.loads((b / 'signature.json').read_text())
    (b / 'signature.json').write_text(json.dumps({**s, 'signature': s['signature'][:-8]}))


@pytest.fixture
def mallory(tmp_path):
    "A key pair that no device was given."
    d = tmp_path / 'mallory'
    edge.keygen(d, name='mallory')
    return d


@pytest.fixture
def expired(tmp_path):
    "A device key folder that trusts the lab's key, but with an expiry date in the past."
    d = tmp_path / 'expired'
    (d / 'trusted').mkdir(parents=True)
    for rec in edge.trusted().values():
        rec.pop('file'); (d / 'trusted' / f"{rec['keyid']}.json").write_text(json.dumps({**rec, 'expires': '2021-06-30'}))
    return d


ATTACKS = {  # name: (what the attacker does to a copy of a good bundle, which keys the device uses, the refusal)
    're-hashed labels': (lambda b, k: ((b / 'labels.json').write_text(json.dumps(list('abcdefghij'))), _rehash(b)), None,
                         'signature does not match manifest.json'),
    're-hashed model': (lambda b, k: ((b / 'model.tflite').write_bytes((b / 'model.tflite').read_bytes() + b'\0'), _rehash(b)), None,
                        'signature does not match manifest.json'),
    'signed by another key': (lambda b, k: (_rehash(b), edge.sign(b, k['mallory'])), None, 'which this device does not trust'),
    'truncated signature': (lambda b, k: _truncate(b), None, 'signature does not match manifest.json'),
    'unsigned': (lambda b, k: (b / 'signature.json').unlink(), None, 'unsigned (no signature.json)'),
    'garbage signature file': (lambda b, k: (b / 'signature.json').write_text('{"keyid": '), None, 'signature.json: corrupt'),
    'expired key': (lambda b, k: None, 'expired', 'which expired on 2021-06-30'),
    'removed key': (lambda b, k: None, 'empty', 'which this device does not trust (trusted in'),
}


@pytest.mark.parametrize('attack', ATTACKS)
def test_attacks_are_refused_and_the_old_bundle_keeps_serving(digits, tmp_path, mallory, expired, attack):
    edit, keyname, msg = ATTACKS[attack]
    keys = {'mallory': mallory, 'expired': expired, 'empty': tmp_path / 'no-keys', None: None}
    root = tmp_path / 'device'
    edge.install(digits[0], root)  # the good bundle, signed by the session's lab key
    good = edge.Model(root / 'current').classify(digits[1][:5])
    b = Path(shutil.copytree(digits[0], tmp_path / 'evil'))
    meta = json.loads((b / 'metadata.json').read_text()); (b / 'metadata.json').write_text(json.dumps({**meta, 'name': 'evil'}))
    _rehash(b); edge.sign(b)  # a newer bundle, properly signed, then attacked
    edit(b, keys)
    with pytest.raises(edge.BundleError, match=re.escape(msg)):
        edge.Model(b, keys=keys[keyname])
    r = subprocess.run([sys.executable, '-m', 'mlops_lab.edge', 'install', b, '--root', root, *(['--keys', keys[keyname]] if keyname else [])],
                       capture_output=True, text=True)
    assert r.returncode == 1 and msg in r.stderr, r.stderr
    assert edge.Model(root / 'current').classify(digits[1][:5]) == good and edge.Model(root / 'current').meta['name'] == 'digits-test'
    assert not (root / 'previous').exists()  # nothing moved


def test_development_flag_accepts_unsigned_loudly_but_never_a_bad_signature(digits, tmp_path):
    b = Path(shutil.copytree(digits[0], tmp_path / 'u')); (b / 'signature.json').unlink()
    r = subprocess.run([sys.executable, '-m', 'mlops_lab.edge', 'info', '--bundle', b, '--allow-unsigned'], capture_output=True, text=True)
    assert r.returncode == 0 and 'UNSIGNED' in r.stderr and json.loads(r.stdout)['signed_by'] is None
    env = {**os.environ, 'MLOPS_LAB_ALLOW_UNSIGNED': '1'}
    r = subprocess.run([sys.executable, '-m', 'mlops_lab.edge', 'info', '--bundle', b], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and 'UNSIGNED' in r.stderr
    t = Path(shutil.copytree(digits[0], tmp_path / 't')); _truncate(t)
    r = subprocess.run([sys.executable, '-m', 'mlops_lab.edge', 'info', '--bundle', t], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and 'signature does not match' in r.stderr


def test_key_rotation_through_the_cli(digits, tmp_path):
    "keygen, rotate, a device trusting both keys, then only the new one; `info` says which key signed."
    lab, dev = tmp_path / 'lab', tmp_path / 'dev'
    def edge_cli(*a): return subprocess.run([sys.executable, '-m', 'mlops_lab.edge', *map(str, a)], capture_output=True, text=True)
    r = edge_cli('keygen', '--keys', lab, '--name', 'lab-2026'); assert r.returncode == 0, r.stderr
    assert oct((lab / 'signing.key').stat().st_mode & 0o777) == '0o600'
    assert edge_cli('keygen', '--keys', lab).returncode == 1  # never overwrites a key by accident
    (old,) = edge.trusted(lab)
    b1 = Path(shutil.copytree(digits[0], tmp_path / 'b1')); assert edge_cli('sign', b1, '--keys', lab).returncode == 0
    assert edge_cli('keygen', '--keys', lab, '--name', 'lab-2027', '--rotate').returncode == 0
    new = next(k for k in edge.trusted(lab) if k != old)
    b2 = Path(shutil.copytree(digits[0], tmp_path / 'b2')); assert edge_cli('sign', b2, '--keys', lab).returncode == 0
    (dev / 'trusted').mkdir(parents=True)
    for k in (old, new): shutil.copy(lab / 'trusted' / f'{k}.json', dev / 'trusted')
    assert [json.loads(edge_cli('info', '--bundle', b, '--keys', dev).stdout)['signed_by'] for b in (b1, b2)] == [old, new]
    (dev / 'trusted' / f'{old}.json').unlink()
    r = edge_cli('info', '--bundle', b1, '--keys', dev)
    assert r.returncode == 1 and f'signed by key {old}, which this device does not trust' in r.stderr
    assert edge_cli('info', '--bundle', b2, '--keys', dev).returncode == 0


def test_an_older_bundle_is_not_installed_over_a_newer_one(digits, tmp_path):
    "A replayed old (validly signed) bundle is refused; `rollback`, or --downgrade, goes back on purpose."
    b1 = digits[0]
    b2 = write_bundle(tmp_path / 'v2', (b1 / 'model.tflite').read_bytes(), json.loads((b1 / 'labels.json').read_text()),
                      json.loads((b1 / 'preprocess.json').read_text()), {'name': 'v2'})
    root = tmp_path / 'dev'
    edge.install(b2, root)
    with pytest.raises(edge.BundleError, match='before the bundle being served'):
        edge.install(b1, root)
    assert edge.Model(root / 'current').meta['name'] == 'v2'
    edge.install(b1, root, downgrade=True)
    assert edge.Model(root / 'current').meta['name'] == 'digits-test'


def test_watch_refuses_a_tampered_bundle_and_keeps_serving(digits, tmp_path):
    "The device service (a real `mlops-lab-edge watch` process): `current` repointed at a re-hashed bundle is refused, the old one answers."
    root, inbox, res, log = tmp_path / 'dev', _images(digits[1][:2], tmp_path / 'inbox'), tmp_path / 'r.jsonl', tmp_path / 'watch.log'
    edge.install(digits[0], root)
    evil = Path(shutil.copytree(digits[0], root / 'releases' / 'evil'))
    (evil / 'labels.json').write_text(json.dumps(list('abcdefghij'))); _rehash(evil)
    def wait(cond, what):
        deadline = time.time() + 30
        while not cond():
            assert time.time() < deadline and proc.poll() is None, f'{what}; service log: {log.read_text()}'
            time.sleep(0.05)
    with open(log, 'w') as err:
        proc = subprocess.Popen([sys.executable, '-m', 'mlops_lab.edge', 'watch', inbox, '--bundle', root / 'current', '--results', res,
                                 '--interval', '0.1'], stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait(lambda: res.exists() and len(res.read_text().splitlines()) == 2, 'the first two images were not classified')
        edge._link(root, 'current', evil)  # someone with write access repoints the link at a tampered bundle
        wait(lambda: 'refused evil' in log.read_text(), 'the tampered bundle was not refused')
        (inbox / 'late.png').write_bytes((inbox / '000.png').read_bytes())
        wait(lambda: 'late.png' in res.read_text(), 'the service stopped serving')
    finally:
        proc.terminate(); proc.wait(timeout=10)
    assert 'signature does not match manifest.json' in log.read_text() and 'still serving digits-' in log.read_text()
    rows = {r['file']: r for r in map(json.loads, res.read_text().splitlines())}
    assert rows['late.png']['bundle'].startswith('digits-') and rows['late.png']['label'] == rows['000.png']['label']
