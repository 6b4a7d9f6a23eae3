"""Issue-4 modeling labs: leakage, imbalance, tuning, housing, bring-your-own-data, evaluation extras,
interpretation, MLflow tracking and ONNX export."""
import json
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from mlops_lab.business import framing
from mlops_lab.data import churn
from mlops_lab.deploy import onnx as onnx_export
from mlops_lab.evaluate import interpret, metrics, tracking
from mlops_lab.modeling import byod, housing, imbalance, train, tuning
from mlops_lab.prepare import features, ingest


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A run folder with every churn stage up to tuning, on 3,000 customers."
    d = tmp_path_factory.mktemp('run')
    framing.stage(d); churn.stage(d, n_customers=3000); ingest.stage(d); features.stage(d)
    train.stage(d, models='logreg,rf,hgb', cv_folds=3)
    return d


SEEN = []

class Spy(BaseEstimator, TransformerMixin):
    "Records the row labels it is fitted on (clones share the module-level list)."
    def fit(self, X, y=None): SEEN.append(set(X.index)); return self
    def transform(self, X): return X


def test_no_step_sees_validation_rows_in_cv(run):
    tr = pd.read_parquet(run / 'train.parquet')
    X, y = features.xy(tr)
    from sklearn.pipeline import Pipeline
    pipe = Pipeline([('spy', Spy()), ('model', train.model_pipeline(features.preprocessor(), train.candidates()['logreg']))])
    SEEN.clear()
    train.cv_score(pipe, X, y, folds=4, seed=7)
    folds = list(StratifiedKFold(4, shuffle=True, random_state=7).split(X, y))
    assert len(SEEN) == 4
    for seen, (fit_rows, val_rows) in zip(SEEN, folds):
        assert seen == set(X.index[fit_rows]) and not seen & set(X.index[val_rows])


def test_leakage_is_measured():
    r = features.leakage(n=200, p=1000, k=20, seed=1)
    assert r['leaky_roc_auc'] > 0.75 and abs(r['honest_roc_auc'] - 0.5) < 0.12


def test_recipe_options_and_tree_pipelines_skip_scaling(run):
    pre = features.preprocessor('minmax', select=6, pca=3)
    tr = pd.read_parquet(run / 'train.parquet')
    Z = pre.fit_transform(*features.xy(tr))
    assert Z.shape[1] == 3
    with pytest.raises(ValueError, match='scaler'): features.preprocessor('robust')
    p = train.model_pipeline(features.preprocessor(), train.candidates()['hgb'])
    assert type(p.get_params()['features__columns__num__scale']).__name__ == 'FunctionTransformer'
    p = train.model_pipeline(features.preprocessor(), train.candidates()['logreg'])
    assert type(p.get_params()['features__columns__num__scale']).__name__ == 'StandardScaler'


def test_imbalance_threshold_is_cheapest(run):
    r = imbalance.stage(run, model='logreg', cv_folds=3)
    v = r['variants']
    assert r['cheapest'] == 'tuned threshold'
    assert v['class weights']['recall'] > v['plain']['recall'] and v['SMOTE']['recall'] > v['plain']['recall']
    assert abs(v['SMOTE']['roc_auc'] - v['plain']['roc_auc']) < 0.02  # remedies move decisions, not ranking


@pytest.mark.parametrize('kind', ['grid', 'random', 'optuna'])
def test_searches_are_reproducible(run, kind):
    tr = pd.read_parquet(run / 'train.parquet')
    X, y = features.xy(tr)
    pipe = train.model_pipeline(features.preprocessor(), train.candidates()['logreg'])
    a = tuning.searcher(kind, pipe, 'logreg', n_trials=3, inner_folds=2, seed=1).fit(X, y)
    b = tuning.searcher(kind, pipe, 'logreg', n_trials=3, inner_folds=2, seed=1).fit(X, y)
    assert a.best_params_ == b.best_params_ and a.best_score_ == b.best_score_


def test_tuned_model_reaches_95_percent_of_oracle(run):
    t = tuning.stage(run, model='hgb', search='optuna', n_trials=4, inner_folds=2, nested_folds=2)
    assert {'nested_roc_auc_mean', 'best_params'} <= set(t)
    m = metrics.stage(run, bootstrap_n=50)
    assert m['selected'] == 'tuned'
    assert m['models']['tuned']['roc_auc'] >= 0.95 * m['models']['oracle']['roc_auc']
    lo, hi = m['intervals']['roc_auc']
    assert lo <= m['models']['tuned']['roc_auc'] <= hi
    assert {'pr_auc', 'brier'} <= set(m['models']['tuned']) and 'churns' in m['per_class']
    assert (run / 'calibration.png').stat().st_size > 5000


def test_fold_spread_stratified_is_even(run):
    tr = pd.read_parquet(run / 'train.parquet')
    rare = pd.concat([tr[tr.churn == 0], tr[tr.churn == 1].sample(frac=0.25, random_state=0)])
    s = metrics.fold_spread(rare, joblib.load(run / 'candidates' / 'logreg.joblib'), folds=5, seed=0)
    assert s.loc['stratified k-fold', 'minority_share_std'] < s.loc['plain k-fold', 'minority_share_std']


def test_housing_cv_metrics():
    df = housing.make_houses(600, seed=3)
    assert df.price.skew() > 1
    t = housing.cv_regression({k: v for k, v in housing.regressors().items() if k in ('linear', 'hgb')}, df, folds=3)
    assert set(t.columns) >= {'rmse_mean', 'rmse_std', 'mae_mean', 'r2_mean', 'r2_std'}
    assert t.loc['hgb', 'r2_mean'] > 0.7 and (t.rmse_std > 0).all()


def test_byod_on_ugly_csv(tmp_path):
    rng = np.random.default_rng(5)
    n = 300
    size = rng.lognormal(4.5, 0.5, n)
    price = size * 3000 * rng.lognormal(0, 0.2, n)
    lines = ['ID;size;floor;built;kind;note;price'.replace(';', ',')]
    for i in range(n):
        s = f'"{size[i]:,.1f}"' if i % 3 == 0 else ('' if i % 17 == 0 else f'{size[i]:.1f}')
        floor = 'N/A' if i % 13 == 0 else str(i % 6)
        p = '' if i == 7 else f'"${price[i]:,.0f}"'
        lines.append(f'{i},{s},{floor},2020-{1 + i % 12:02d}-01,{["flat", "house", " Flat "][i % 3]},free text {i},{p}')
    path = tmp_path / 'ugly.csv'
    path.write_text('\n'.join(lines) + '\n')
    run = tmp_path / 'run'
    r = byod.stage(run, byod_path=str(path), byod_target='price', byod_drop='', cv_folds=3, byod_bootstrap=50)
    kinds = {s['column']: s['kind'] for s in r['schema']}
    assert kinds == {'ID': 'id', 'size': 'numeric', 'floor': 'numeric', 'built': 'date', 'kind': 'categorical',
                     'note': 'id', 'price': 'target'}
    assert r['task'] == 'regression' and r['rows_without_target'] == 1 and 'ID' not in r['features']
    sel = r['selection']
    assert list(sel['models']) == ['mean', 'ridge', 'rf', 'hgb'] and sel['selected'] != 'mean'
    assert sel['over_baseline']['mean'] > 0 and sel['over_baseline']['over'] == 'mean'
    won = r['holdout'][sel['selected']]
    assert won['scores']['r2'] > 0.6 > r['holdout']['mean']['scores']['r2']
    assert won['intervals']['rmse'][0] <= won['scores']['rmse'] <= won['intervals']['rmse'][1]
    model = joblib.load(run / 'byod_model.joblib')
    assert type(model).__name__ == 'TransformedTargetRegressor'  # skewed, non-negative target: log scale
    # the ONNX export answers in dollars, as scikit-learn does
    from mlops_lab.deploy.onnx import feeds, session
    X = byod.prepare(byod.read_table(path), pd.DataFrame(r['schema'])).head(40)
    got = session((run / 'byod.onnx').read_bytes()).run(None, feeds(X, *byod.routes(X)))[0].ravel()
    assert np.abs(got / model.predict(X) - 1).max() < 1e-4 and r['onnx']['max_rel_diff'] < 1e-4
    card = (run / 'byod_card.md').read_text()
    for section in ('## Intended use', '## Data', '## Model', '## Metrics', '## What drives it', '## Limits'): assert section in card
    assert r['drivers'][0]['feature'] == 'size' and '- size: root_mean_squared_error worsens by' in card  # price follows size
    assert 'ID (id)' in card and 'note (id)' in card  # what was left out, by name


def test_byod_classification_tuned_balanced_and_tracked(tmp_path):
    run = tmp_path / 'run'
    r = byod.stage(run, cv_folds=3, byod_balance='class weights', byod_trials=2, byod_bootstrap=50)  # the shipped churn sample
    assert r['task'] == 'classification' and r['positive_class'] == 'Yes' and r['kind'] == 'binary'
    sel = r['selection']
    assert list(sel['models']) == ['majority', 'logreg', 'rf', 'hgb'] and sel['metric'] == 'roc_auc'
    assert sel['models']['majority']['mean'] == 0.5 and sel['models'][sel['selected']]['mean'] > 0.7
    assert r['refined']['balance'] == 'class weights' and r['refined']['trials'] == 2
    model = joblib.load(run / 'byod_model.joblib')
    assert model.named_steps['model'].class_weight == 'balanced'
    won = r['holdout'][sel['selected']]
    assert won['scores']['roc_auc'] > 0.7 and won['intervals']['roc_auc'][0] <= won['scores']['roc_auc'] <= won['intervals']['roc_auc'][1]
    assert r['onnx']['max_abs_diff'] < 1e-4 and r['onnx']['same_labels'] > 0.99
    from mlflow.tracking import MlflowClient
    c = MlflowClient(r['tracking']['tracking_uri'])
    got = c.get_run(r['tracking']['run_id'])
    assert r['tracking']['experiment'] == 'byod' and got.data.params['selected'] == sel['selected']
    assert got.data.metrics['test_roc_auc'] == won['scores']['roc_auc']
    assert {'byod_card.md', 'byod.onnx', 'byod.png'} <= {a.path for a in c.list_artifacts(got.info.run_id)}


def test_byod_smote_model_is_served_without_the_sampler(tmp_path):
    r = byod.stage(tmp_path, cv_folds=3, byod_models='logreg', byod_balance='SMOTE', byod_bootstrap=20)
    model = joblib.load(tmp_path / 'byod_model.joblib')
    assert r['refined']['balance'] == 'SMOTE' and [n for n, _ in model.steps] == ['columns', 'model']
    assert r['onnx']['max_abs_diff'] < 1e-4


def test_byod_ugly_inputs_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such file'): byod.stage(tmp_path, byod_path='nope.csv')
    with pytest.raises(KeyError, match="target column 'nope' not in the file"): byod.stage(tmp_path, byod_target='nope')
    one = tmp_path / 'one.csv'
    one.write_text('x,y\n' + ''.join(f'{i},yes\n' for i in range(30)) + '31,no\n')
    with pytest.raises(ValueError, match=r"target 'y' has one usable class only: \{'yes': 30\} \(set aside: \{'no': 1\}\)"):
        byod.stage(tmp_path, byod_path=str(one), byod_target='y', byod_drop='')
    ids = tmp_path / 'ids.csv'
    ids.write_text('customer_id,note,y\n' + ''.join(f'{1000 + i},text {i},{i % 2}\n' for i in range(40)))
    with pytest.raises(ValueError, match=r'no usable feature columns: customer_id \(id\), note \(id\)'):
        byod.stage(tmp_path, byod_path=str(ids), byod_target='y', byod_drop='')
    with pytest.raises(ValueError, match="balance must be one of"):
        byod.stage(tmp_path, byod_balance='oversample', byod_models='logreg', cv_folds=3)
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['ridge'\]"):
        byod.stage(tmp_path, byod_models='ridge', cv_folds=3)


def test_interpret_finds_documented_drivers(run):
    metrics.stage(run, bootstrap_n=50)
    r = interpret.stage(run, n_repeats=2)
    imp = pd.read_csv(run / 'importance.csv').set_index('feature').auc_drop_mean
    assert imp[['contract', 'tenure_months']].min() > imp['senior']
    card = (run / 'model_card.md').read_text()
    for section in ('## Intended use', '## Data', '## Metrics', '## Limits'): assert section in card


def test_mlflow_record(run):
    metrics.stage(run, bootstrap_n=50)
    out = tracking.stage(run)
    from mlflow.tracking import MlflowClient
    c = MlflowClient(out['tracking_uri'])
    got = c.get_run(out['run_id'])
    assert out['tracking_uri'].startswith('sqlite:///') and (run.parent / 'mlflow.db').exists()
    assert got.data.params['selected'] and 'test_roc_auc' in got.data.metrics
    from mlops_lab.core import sha256
    assert got.data.tags['sha256.raw.csv'] == sha256(run / 'raw.csv')
    assert {'confusion.png', 'metrics.json'} <= {a.path for a in c.list_artifacts(out['run_id'])}


@pytest.mark.parametrize('family', ['logreg', 'rf', 'hgb'])
def test_onnx_agrees_with_sklearn(run, family):
    pipe = joblib.load(run / 'candidates' / f'{family}.joblib')
    sess = onnx_export.session(onnx_export.to_onnx(pipe))
    test = pd.read_parquet(run / 'test.parquet')
    a = onnx_export.agreement(pipe, sess, test, 0.09)
    assert a['max_abs_diff'] <= 1e-4 and a['same_decisions'] == 1.0


def test_onnx_stage_and_missing_values(run):
    metrics.stage(run, bootstrap_n=50)
    r = onnx_export.stage(run)
    assert (run / 'model.onnx').stat().st_size == r['bytes'] and r['max_abs_diff'] <= r['tolerance']
    sess = onnx_export.session((run / 'model.onnx').read_bytes())
    row = pd.read_parquet(run / 'test.parquet').head(1).copy()
    row.loc[:, ['internet_service', 'total_charges']] = [None, np.nan]
    assert 0 <= onnx_export.onnx_proba(sess, row)[0] <= 1


def test_read_table_parquet_and_jsonl(tmp_path):
    df = pd.DataFrame({'a': [1.5, None, 3.0], 'b': ['x', None, 'None']})
    df.to_parquet(tmp_path / 't.parquet'); df.to_json(tmp_path / 't.jsonl', orient='records', lines=True)
    for f in ('t.parquet', 't.jsonl'):
        t = byod.read_table(tmp_path / f)
        assert t.a.tolist() == ['1.5', None, '3.0'] and t.b.tolist() == ['x', None, 'None'], f  # a literal 'None' survives


def test_onnx_bytes_do_not_depend_on_hash_seed(run):
    "The same fitted pipeline converts to the same bytes in any process (checksums in manifests stay stable)."
    import hashlib, os, subprocess, sys
    code = ("import joblib, hashlib, sys; from mlops_lab.deploy.onnx import to_onnx; "
            f"print(hashlib.sha256(to_onnx(joblib.load({str(run / 'candidates' / 'hgb.joblib')!r}))).hexdigest())")
    shas = {subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                           env={**os.environ, 'PYTHONHASHSEED': seed}).stdout.strip()
            for seed in ('10', '11', '12', '13')}  # with skl2onnx 1.20, seeds 10 and 12 order the opsets differently
    assert len(shas) == 1
