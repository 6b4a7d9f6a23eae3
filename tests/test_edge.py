"""The edge runtime: bundles verified, served with numpy + LiteRT only, installed atomically, rolled back."""
import json, os, shutil, subprocess, sys, venv
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
