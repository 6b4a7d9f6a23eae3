"""Continual learning (8_monitor/84_continual): the EWC penalty's gradient, reservoir sampling's fairness, forgetting against
replay, determinism, frozen columns, and bad input."""
import os
import numpy as np
import pytest
from scipy import stats

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
from mlops_lab.monitor import continual as cl


@pytest.fixture(scope='module')
def stream():
    "A small class-incremental stream: 60 training and 30 test images per class, five tasks of two classes."
    return cl.class_stream(cl.images(60, 30, seed=1))


def test_ewc_penalty_gradient_matches_finite_differences():
    "The gradient TensorFlow takes through `ewc_penalty` equals central differences of the function, weight by weight (float64)."
    import tensorflow as tf
    rng = np.random.default_rng(7)
    w = [tf.Variable(rng.normal(size=(4, 3))), tf.Variable(rng.normal(size=5))]
    anchors, fisher = [rng.normal(size=(4, 3)), rng.normal(size=5)], [rng.uniform(0, 2, (4, 3)), rng.uniform(0, 2, 5)]
    with tf.GradientTape() as tape: p = cl.ewc_penalty(w, anchors, fisher, 3.5)
    grads = [g.numpy() for g in tape.gradient(p, w)]
    h = 1e-6
    for k, v in enumerate(w):
        base = v.numpy()
        for i in np.ndindex(base.shape):
            def at(d):
                b = base.copy(); b[i] += d; v.assign(b)
                return float(cl.ewc_penalty(w, anchors, fisher, 3.5))
            assert (at(h) - at(-h)) / (2 * h) == pytest.approx(grads[k][i], abs=1e-6), (k, i)
        v.assign(base)
    assert float(cl.ewc_penalty(w, [x.numpy() for x in w], fisher, 3.5)) == 0.0  # at the anchors the spring is slack


def test_reservoir_keeps_every_example_with_equal_probability():
    "50 examples through a buffer of 10, 3,000 times: how often each is kept fits a uniform share (chi-square), 1/5 each."
    n, size, trials = 50, 10, 3000
    kept = np.zeros(n)
    for t in range(trials):
        r = cl.Reservoir(size, seed=t)
        for s in range(0, n, 7): r.add(np.arange(s, min(n, s + 7))[:, None], np.arange(s, min(n, s + 7)))  # in uneven batches
        assert len(r) == size and r.seen == n and len(set(r.y)) == size
        kept[r.y] += 1
    assert kept.sum() == size * trials
    assert stats.chisquare(kept).pvalue > 1e-3
    assert abs(kept[:10].mean() - kept[-10:].mean()) / trials < 0.03  # the first examples as likely as the last
    # the same check rejects a buffer that keeps the most recent examples, so it can fail
    recent = np.zeros(n); recent[-size:] = trials
    assert stats.chisquare(recent).pvalue < 1e-6


def test_reservoir_before_it_is_full_and_its_bad_sizes():
    r = cl.Reservoir(5, seed=0).add(np.arange(3)[:, None], np.arange(3))
    assert len(r) == 3 and sorted(r.y[:3]) == [0, 1, 2] and r.nbytes == 3 * 8 + 3 * 8
    assert set(r.sample(20)[1]) <= {0, 1, 2}
    with pytest.raises(ValueError, match='at least 1'): cl.Reservoir(0)


def test_fine_tuning_forgets_more_than_replay(stream):
    "On the class-incremental stream, naive fine-tuning loses the old tasks; a replay buffer keeps much of them."
    naive = cl.transfer(cl.learn(stream, epochs=3, seed=0))
    replay = cl.transfer(cl.learn(stream, replay=150, epochs=3, seed=0))
    assert naive['backward'] < -0.55
    assert replay['backward'] > naive['backward'] + 0.2
    assert replay['average'] > naive['average'] + 0.15


def test_the_accuracy_matrix_reproduces_with_a_fixed_seed(stream):
    a, b = cl.learn(stream, ewc=1e3, epochs=1, seed=3), cl.learn(stream, ewc=1e3, epochs=1, seed=3)
    assert np.array_equal(a['matrix'], b['matrix']) and np.array_equal(a['told'], b['told'])
    c = cl.learn(stream, ewc=1e3, epochs=1, seed=4)
    assert not np.array_equal(a['matrix'], c['matrix'])  # the seed is what fixes it


def test_frozen_columns_keep_every_old_task_exactly(stream):
    "Told the task, a column network's accuracy on an old task never changes once the task is learned; the network grows."
    r = cl.learn(stream, columns=True, epochs=2, seed=0)
    K = r['told']
    for j in range(len(K)): assert np.all(K[j:, j] == K[j, j]), j
    assert r['parameters'] > 5 * 784 * 64  # five columns of 64 units, and their heads


def test_bad_input_is_refused_clearly():
    data = cl.images(20, 10, seed=0)
    with pytest.raises(ValueError, match='fewer than'): cl.images(7500, 10)
    with pytest.raises(ValueError, match='must divide'): cl.class_stream(data, 4)
    with pytest.raises(ValueError, match='at least 2 tasks'): cl.permuted_stream(data, 1)
    with pytest.raises(ValueError, match='unknown strategy arguments'): cl.compare(cl.class_stream(data), {'odd': {'dropout': 1}})
    with pytest.raises(ValueError, match='scenario must be one of'): cl.churn_updates('seasonal')
    with pytest.raises(ValueError, match='at least 1'): cl.churn_updates('sudden', window=0)
