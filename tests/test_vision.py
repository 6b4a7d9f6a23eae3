"""Transfer learning, the edge bundle, quantization, distillation and LoRA helpers: the offline weights, the fallback, the losses and adapters."""
import os
from pathlib import Path
import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
from mlops_lab.deploy import bundle, distil, lora, quantize  # noqa: E402
from mlops_lab.modeling import transfer  # noqa: E402


def test_weights_file_lookup(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match='nope.h5: no such weights file'): transfer.weights_file(tmp_path / 'nope.h5')
    f = tmp_path / 'w.h5'; f.write_bytes(b'x')
    monkeypatch.setenv('MLOPS_LAB_WEIGHTS', str(f))
    assert transfer.weights_file() == f


def test_bad_weights_files_give_clear_errors(tmp_path):
    junk = tmp_path / 'junk.h5'; junk.write_bytes(os.urandom(2048))
    with pytest.raises(ValueError, match='junk.h5: not a loadable Keras model'): transfer.mobilenet(32, junk)
    import keras
    other = tmp_path / 'other.keras'
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(other)
    with pytest.raises(ValueError, match='other.keras: holds no MobileNetV2'): transfer.mobilenet(32, other)


@pytest.mark.skipif(not transfer.weights_file(), reason='make setup extracts the pretrained file')
def test_pretrained_weights_load_at_any_size():
    import keras
    src = [l for l in keras.models.load_model(transfer.weights_file(), compile=False).layers if l.name.startswith('mobilenetv2')][0]
    for size in (32, 96):
        net = transfer.mobilenet(size, transfer.weights_file())
        assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), src.get_weights()))


def test_source_task_fallback_says_so():
    net, how = transfer.backbone(32, 'source', seed=0)
    assert 'source task' in how and 'no pretrained file' in how
    fresh = transfer.mobilenet(32, seed=0)
    assert net.output.shape[1:] == (1, 1, 1280)
    assert sum(not np.array_equal(a, b) for a, b in zip(net.get_weights(), fresh.get_weights())) > len(fresh.get_weights()) // 2


def test_distill_loss_matches_keras_kl_and_ce():
    import keras
    rng = np.random.default_rng(1)
    t, s, y = rng.normal(size=(6, 10)).astype('float32'), rng.normal(size=(6, 10)).astype('float32'), rng.integers(0, 10, 6)
    T, a = 3.0, 0.3
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(y, s)
    kl = keras.losses.KLDivergence(reduction=None)(keras.ops.softmax(t / T), keras.ops.softmax(s / T))
    got = distil.distill_loss(T, a)(np.c_[y, t].astype('float32'), s)
    np.testing.assert_allclose(np.asarray(got), a * np.asarray(ce) + (1 - a) * T * T * np.asarray(kl), rtol=1e-4, atol=1e-5)


def test_lora_dense_starts_at_base_trains_few_and_merges():
    import keras
    LoRADense = lora.lora_dense()
    base = keras.layers.Dense(7); base.build((None, 12))
    lo = LoRADense(base, rank=3, activation='relu'); lo.build((None, 12))
    x = np.random.default_rng(2).normal(size=(5, 12)).astype('float32')
    np.testing.assert_allclose(np.asarray(lo(x)), np.maximum(np.asarray(base(x)), 0), atol=1e-6)
    assert sum(int(np.prod(w.shape)) for w in lo.trainable_weights) == 3 * (12 + 7)
    m = keras.Sequential([keras.Input((12,)), lo]); m.compile('adam', 'mse')
    before = np.asarray(lo.kernel).copy()
    m.fit(x, np.ones((5, 7), 'float32'), epochs=3, verbose=0)
    assert np.array_equal(np.asarray(lo.kernel), before)  # the base stays frozen
    k, b = lo.merged()
    np.testing.assert_allclose(np.asarray(lo(x)), np.maximum(x @ k + b, 0), atol=1e-5)


def test_convert_modes_load_in_the_edge_runtime(tmp_path):
    import keras
    from mlops_lab.edge import Model
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(64), keras.layers.Dense(3), keras.layers.Softmax()])
    rep = np.random.default_rng(0).uniform(0, 1, (50, 8, 8, 1)).astype('float32')
    want = m.predict(rep, verbose=0).argmax(1)
    sizes = {}
    for mode in quantize.MODES:
        b = quantize.convert(m, mode, rep)
        sizes[mode] = len(b)
        dev = Model(bundle.write_bundle(tmp_path / mode, b, ['a', 'b', 'c'], bundle.spec((8, 8, 1), 1.0), {}))
        assert (dev.scores(rep).argmax(1) == want).mean() >= 0.9, mode
    assert sizes['int8'] < sizes['float16'] < sizes['float32']
    with pytest.raises(ValueError, match='representative dataset'): quantize.convert(m, 'int8')


def test_ship_refuses_a_model_the_runtime_cannot_load(tmp_path):
    from mlops_lab.edge import BundleError
    with pytest.raises(BundleError, match='cannot be loaded'):
        bundle.ship(tmp_path, b'TFL3 not really a model', ['a'], bundle.spec((8, 8, 1), 16), {})
    assert list(tmp_path.iterdir()) == []  # no bundle, and no temporary folder left behind
