"""Business framing, features, training and evaluation."""
import joblib
import numpy as np
import pandas as pd
import pytest
from mlops_lab.business import framing
from mlops_lab.data import churn
from mlops_lab.evaluate import metrics
from mlops_lab.modeling import train
from mlops_lab.prepare import features, ingest


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    d = tmp_path_factory.mktemp('m')
    churn.stage(d, n_customers=3000)
    ingest.stage(d)
    return pd.read_parquet(d / 'clean.parquet')


def test_bayes_threshold_minimises_cost():
    C = framing.cost_matrix(30, 170)
    rng = np.random.default_rng(0)
    p = rng.uniform(size=100_000); y = (rng.uniform(size=p.size) < p).astype(int)
    grid = np.linspace(0, 1, 201)
    best = grid[np.argmin([framing.expected_cost(y, p >= g, C) for g in grid])]
    assert abs(best - framing.bayes_threshold(C)) < 0.02 and framing.bayes_threshold(C) == pytest.approx(0.15)


def test_no_model_cost_is_cheaper_trivial_policy():
    C = framing.cost_matrix(20, 200)
    assert framing.no_model_cost(0.2, C) == pytest.approx(16.0)   # contact everybody
    assert framing.no_model_cost(0.05, C) == pytest.approx(10.0)  # contact nobody


def test_frame_rejects_bad_criteria():
    with pytest.raises(ValueError): framing.frame(min_savings=1.5)
    with pytest.raises(ValueError): framing.cost_matrix(-1, 10)


def test_split_is_stratified_and_disjoint(clean):
    tr, te = features.holdout_split(clean, 0.25, seed=1)
    assert len(tr) + len(te) == len(clean)
    assert not set(tr.customer_id) & set(te.customer_id)
    assert abs(tr.churn.mean() - te.churn.mean()) < 0.005


def test_recipe_is_unfitted_and_handles_unknowns(clean):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    pre = features.preprocessor()
    with pytest.raises(NotFittedError): check_is_fitted(pre)
    X, _ = features.xy(clean)
    pre.fit(X)
    odd = clean.head(3).copy()
    odd['internet_service'] = ['satellite', None, np.nan]  # unseen, and missing two ways
    Z = pd.DataFrame(pre.transform(features.inputs(odd)), columns=pre.get_feature_names_out())
    assert Z.filter(like='internet_service_').iloc[0].sum() == 0
    assert Z['internet_service_missing'].tolist() == [0.0, 1.0, 1.0]
    assert not any(c.endswith('_None') for c in Z.columns)


def test_no_step_sees_validation_rows(clean):
    "The fitted scaler's mean is the training rows' mean, not the full table's."
    tr, te = features.holdout_split(clean)
    fitted, _ = train.train(tr, features.preprocessor(), 'logreg', cv_folds=3)
    scaler = fitted['logreg'].named_steps['features'].named_steps['columns'].named_transformers_['num'].named_steps['scale']
    i = features.NUMERIC.index('monthly_charges')
    assert scaler.mean_[i] == pytest.approx(tr.monthly_charges.mean())
    assert scaler.mean_[i] != pytest.approx(clean.monthly_charges.mean(), rel=1e-6)


def test_cv_is_reproducible(clean):
    tr, _ = features.holdout_split(clean)
    _, a = train.train(tr, features.preprocessor(), 'logreg,hgb', cv_folds=3, seed=5)
    _, b = train.train(tr, features.preprocessor(), 'logreg,hgb', cv_folds=3, seed=5)
    assert a == b


def test_models_beat_majority_and_approach_oracle(tmp_path):
    framing.stage(tmp_path); churn.stage(tmp_path, n_customers=5000); ingest.stage(tmp_path); features.stage(tmp_path)
    train.stage(tmp_path, models='logreg,hgb', cv_folds=3)
    met = metrics.stage(tmp_path)
    sel = met['models'][met['selected']]
    assert met['models']['majority']['roc_auc'] == 0.5
    assert sel['roc_auc'] > 0.75 and sel['roc_auc'] >= 0.95 * met['models']['oracle']['roc_auc']
    assert sel['cost_per_customer'] < met['no_model_cost_per_customer']
    assert met['success'] and (tmp_path / 'confusion.png').stat().st_size > 10_000
    pipe = joblib.load(tmp_path / 'model.joblib')  # the saved model loads in a fresh process's terms
    assert pipe.predict_proba(pd.read_parquet(tmp_path / 'test.parquet').head(5))[:, 1].shape == (5,)


def test_unknown_model_name():
    with pytest.raises(ValueError, match='unknown model'):
        train.parse_models('logreg,svm')


def test_scores_match_definitions():
    y = np.array([0, 0, 0, 1, 1]); p = np.array([0.1, 0.7, 0.2, 0.8, 0.3])
    s = metrics.scores(y, p, 0.5, framing.cost_matrix(20, 200))
    assert (s['precision'], s['recall'], s['accuracy']) == (0.5, 0.5, 0.6)
    assert s['cost_per_customer'] == pytest.approx((20 + 200) / 5)
