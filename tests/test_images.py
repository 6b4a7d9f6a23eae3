"""Image data for the vision labs: IDX files read and checked, Fashion-MNIST found offline, stratified splits."""
import gzip, struct
import numpy as np
import pytest
from mlops_lab.data import images


def idx(path, a, code=0x08, gz=True):
    raw = b'\0\0' + bytes([code, a.ndim]) + struct.pack(f'>{a.ndim}I', *a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_fashion(folder, n=(30, 10), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for part, k in zip(('train', 't10k'), n):
        idx(folder / f'{part}-images-idx3-ubyte.gz', rng.integers(0, 256, (k, 28, 28), dtype=np.uint8))
        idx(folder / f'{part}-labels-idx1-ubyte.gz', (np.arange(k) % 10).astype(np.uint8))
    return folder


def test_idx_round_trip_plain_gzip_and_wide_types(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    assert (images.read_idx(idx(tmp_path / 'a.gz', a)) == a).all()
    assert (images.read_idx(idx(tmp_path / 'a.idx', a, gz=False)) == a).all()
    f = np.linspace(-1, 1, 6, dtype='>f4').reshape(2, 3)
    got = images.read_idx(idx(tmp_path / 'f.idx', f, code=0x0D, gz=False))
    assert got.dtype == np.float32 and np.allclose(got, f)


@pytest.mark.parametrize('damage,msg', [
    (lambda b: b[:-3], 'data bytes, the header'),
    (lambda b: b + b'\0', 'data bytes, the header'),
    (lambda b: b'\x01' + b[1:], 'not an IDX file'),
    (lambda b: b[:6], 'truncated header'),
    (lambda b: b'', 'not an IDX file (magic missing)'),
])
def test_damaged_idx_files_are_refused(tmp_path, damage, msg):
    good = idx(tmp_path / 'g.idx', np.zeros((2, 3, 3), np.uint8), gz=False).read_bytes()
    (tmp_path / 'bad.idx').write_bytes(damage(good))
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace(')', r'\)')) as e:
        images.read_idx(tmp_path / 'bad.idx')
    assert 'bad.idx' in str(e.value)


def test_truncated_gzip_is_refused(tmp_path):
    p = idx(tmp_path / 'x.gz', np.zeros((50, 28, 28), np.uint8))
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ValueError, match='cannot read'):
        images.read_idx(p)


def test_debian_fashion_mnist_is_complete_and_balanced():
    d = images.fashion_mnist()
    assert d['x'].shape == (70_000, 28, 28, 1) and d['x'].dtype == np.uint8
    assert np.bincount(d['y']).tolist() == [7000] * 10 and d['source'] == '/usr/share/datasets/fashion-mnist'


def test_a_named_folder_or_the_environment_wins(tmp_path, monkeypatch):
    f = fake_fashion(tmp_path / 'mine')
    assert len(images.fashion_mnist(f)['y']) == 40
    monkeypatch.setenv('MLOPS_LAB_FASHION_MNIST', str(f))
    assert images.dataset('auto')['source'] == str(f)
    with pytest.raises(FileNotFoundError, match='does not hold'):
        images.fashion_mnist(tmp_path)


def test_auto_falls_back_to_digits_and_says_so(monkeypatch):
    monkeypatch.delenv('MLOPS_LAB_FASHION_MNIST', raising=False)
    monkeypatch.setattr(images, 'FASHION_DIRS', ())  # a machine without the Debian package
    d = images.dataset('auto')
    assert d['name'] == 'digits' and 'sklearn' in d['source'] and d['x'].shape == (1797, 8, 8, 1)
    with pytest.raises(FileNotFoundError, match='dataset-fashion-mnist'):
        images.dataset('fashion')


def test_mismatched_labels_are_refused(tmp_path):
    f = fake_fashion(tmp_path / 'f')
    idx(f / 'train-labels-idx1-ubyte.gz', np.zeros(29, np.uint8))
    with pytest.raises(ValueError, match='30 images but 29 labels'):
        images.fashion_mnist(f)


def test_split_is_stratified_and_complete():
    d = images.digits()
    s = images.split_images(d, test=0.2, val=0.1, seed=3)
    assert sum(len(v[1]) for v in s.values()) == len(d['y'])
    for x, y in s.values():
        share = np.bincount(y, minlength=10) / len(y)
        assert np.abs(share - np.bincount(d['y']) / len(d['y'])).max() < 0.02 and x.shape[1:] == (8, 8, 1)
    small = images.split_images(images.fashion_mnist(), limit=2000, seed=0)
    assert sum(len(v[1]) for v in small.values()) == 2000 and np.bincount(small['train'][1]).tolist() == [140] * 10
