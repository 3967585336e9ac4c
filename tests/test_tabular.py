"imbalanced-learn on TabularPandas: class counts and rows against imbalanced-learn itself, untouched validation, memory, training"
import re, subprocess, sys, tracemalloc
import numpy as np, pandas as pd, pytest, torch
from fastai.data.block import CategoryBlock
from fastai.data.transforms import IndexSplitter
from fastai.tabular.core import TabularPandas, Categorify, Normalize, FillMissing
from fastai.tabular.learner import tabular_learner
from fastai.callback.progress import ProgressCallback  # noqa: F401  (learn.no_bar)
from sklearn.base import clone
from sklearn.datasets import load_digits
from imblearn import under_sampling as us, over_sampling as ovs
import imbalance_fastai.tabular as tab
from imbalance_fastai.tabular import imblearn_dataloaders, imblearn_resample, ImblearnResampler, train_xy
from imbalance_fastai.data import StratifiedSplitter
from imbalance_fastai.sampling import sampling_summary


def _mixed_df(n=900, seed=0):
    "2 categorical + 3 continuous columns, 3 classes 80/15/5 %, an extra column the model does not use"
    rng = np.random.default_rng(seed)
    y = rng.choice(['a', 'b', 'c'], n, p=[.8, .15, .05])
    return pd.DataFrame({'colour': rng.choice(['red', 'green', 'blue'], n), 'size': rng.choice(['S', 'M', 'L', 'XL'], n),
                         'x1': rng.normal(size=n) + (y != 'a'), 'x2': rng.normal(size=n) * (1 + (y == 'c')),
                         'x3': rng.exponential(size=n), 'note': [f'r{i}' for i in range(n)], 'y': y})

def _mixed_to(df, cats=('colour', 'size'), conts=('x1', 'x2', 'x3')):
    n = len(df)
    return TabularPandas(df, procs=[Categorify, FillMissing, Normalize], cat_names=list(cats), cont_names=list(conts),
                         y_names='y', y_block=CategoryBlock(), splits=IndexSplitter(list(range(n - n // 5, n)))(df))

@pytest.fixture(scope='module')
def mixed(): return _mixed_to(_mixed_df())

@pytest.fixture(scope='module')
def digits():
    "Long-tailed digits: class k keeps 180 * 0.6**k rows (at least 12); 64 continuous columns"
    d = load_digits(as_frame=True).frame
    keep = np.concatenate([np.flatnonzero(d.target == k)[:max(12, int(180 * 0.6**k))] for k in range(10)])
    d = d.iloc[keep].reset_index(drop=True)
    pix = [c for c in d.columns if c != 'target']
    return TabularPandas(d, procs=[Normalize], cont_names=pix, y_names='target', y_block=CategoryBlock(),
                         splits=StratifiedSplitter(0.2, seed=0, get_y='target')(d))

def _valid_batches(dls): return [torch.cat(t) for t in zip(*[b for b in dls.valid])]

def _same_valid(dls, to):
    "The validation DataLoader yields exactly what `to.dataloaders()` would"
    for a, b in zip(_valid_batches(dls), _valid_batches(to.dataloaders(bs=dls.train.bs))): assert torch.equal(a, b)


# ---------------------------------------------------------------- index-selecting samplers
SELECTORS = [us.RandomUnderSampler(random_state=0), us.RandomUnderSampler(random_state=3, replacement=True),
             ovs.RandomOverSampler(random_state=0), us.NearMiss(version=1), us.NearMiss(version=3), us.TomekLinks(),
             us.EditedNearestNeighbours(), us.RepeatedEditedNearestNeighbours(), us.AllKNN(),
             us.NeighbourhoodCleaningRule(), us.OneSidedSelection(random_state=0), us.CondensedNearestNeighbour(random_state=0),
             us.InstanceHardnessThreshold(random_state=0)]

@pytest.mark.parametrize('sampler', SELECTORS, ids=lambda s: repr(s))
def test_selector_rows_match_imblearn(mixed, sampler):
    X, y = train_xy(mixed)
    ref = clone(sampler)
    _, y_ref = ref.fit_resample(X, mixed.train.ys['y'].to_numpy())
    before = mixed.items.copy()
    dls = imblearn_dataloaders(mixed, sampler, bs=32)
    r = dls.train.resampler
    assert isinstance(r, ImblearnResampler) and type(dls.train).__name__ == 'ResampledTabDL'
    e0 = r.sample(epoch=0)
    np.testing.assert_array_equal(np.sort(e0), np.sort(ref.sample_indices_))   # the very rows imbalanced-learn keeps
    np.testing.assert_array_equal(r.sampled_counts(e0), np.bincount(y_ref, minlength=3))
    ys = torch.cat([b[-1] for b in dls.train.new(drop_last=False)]).view(-1).numpy()   # what training iterates
    assert len(ys) == r.epoch_length(0) and r.epoch == 1   # it drew epoch 0
    _same_valid(dls, mixed)
    pd.testing.assert_frame_equal(mixed.items, before)
    assert not hasattr(sampler, 'sample_indices_')   # the user's instance is never fitted

def test_selector_redraws_random_and_caches_deterministic(mixed, monkeypatch):
    fits = []
    orig = ImblearnResampler._fit
    monkeypatch.setattr(ImblearnResampler, '_fit', lambda self, *a, **k: fits.append(1) or orig(self, *a, **k))
    r = ImblearnResampler(mixed, us.RandomUnderSampler(random_state=5))
    e = [r.sample() for _ in range(3)]
    assert len(fits) == 3 and len({tuple(np.sort(o)) for o in e}) == 3          # a fresh subset each epoch
    np.testing.assert_array_equal(r.sample(epoch=1), e[1])                       # epoch 1 redrawn exactly
    fits.clear()
    r = ImblearnResampler(mixed, us.EditedNearestNeighbours())
    e = [r.sample() for _ in range(3)]
    assert len(fits) == 1 and r.redraw is False
    assert all(np.array_equal(np.sort(o), np.sort(e[0])) for o in e) and not np.array_equal(e[0], e[1])   # same rows, new order
    fits.clear()
    r = ImblearnResampler(mixed, 'RandomUnderSampler', redraw=False, seed=1)
    e = [r.sample() for _ in range(3)]
    assert len(fits) == 1 and np.array_equal(np.sort(e[0]), np.sort(e[2]))

def test_selector_epoch_e_is_random_state_seed_plus_e(mixed):
    X, y = train_xy(mixed)
    r = ImblearnResampler(mixed, 'RandomUnderSampler', seed=10)
    ref = us.RandomUnderSampler(random_state=12); ref.fit_resample(X, y)
    np.testing.assert_array_equal(np.sort(r.sample(epoch=2)), np.sort(ref.sample_indices_))

@pytest.mark.parametrize('strategy', ['not minority', 'majority', {'a': 200}, {'a': 200, 'b': 50},
                                      lambda y: {'a': int((y == 'a').sum() // 2)}])
def test_sampling_strategy_passes_through(mixed, strategy):
    "A dict names classes as the vocab does; a callable sees the labels so named and names classes in its dict"
    X, y = train_xy(mixed)
    imb = {'a': 0, 'b': 1, 'c': 2}
    ref_strategy = ({imb.get(k, k): v for k, v in strategy.items()} if isinstance(strategy, dict) else
                    strategy if isinstance(strategy, str) else lambda y: {0: int((y == 0).sum() // 2)})
    _, y_ref = us.RandomUnderSampler(sampling_strategy=ref_strategy, random_state=0).fit_resample(X, y)
    r = imblearn_resample(mixed, 'RandomUnderSampler', sampling_strategy=strategy, seed=0)
    np.testing.assert_array_equal(r.sampled_counts(r.sample()), np.bincount(y_ref, minlength=3))

def test_sampling_strategy_names_classes(mixed):
    "Dict keys and list items are class names, translated to codes; anything else (codes included) is refused"
    from imblearn.under_sampling import TomekLinks, EditedNearestNeighbours
    X, y = train_xy(mixed)
    for cls in (TomekLinks, EditedNearestNeighbours):
        _, y_ref = cls(sampling_strategy=[0, 2]).fit_resample(X, y)
        dls = imblearn_dataloaders(mixed, cls.__name__, sampling_strategy=['a', 'c'], bs=16)
        r = dls.train.resampler
        assert r.sampled_counts(r.sample()).tolist() == np.bincount(y_ref, minlength=3).tolist()
        assert r.sampled_counts(r.sample())[1] == (y == 1).sum()          # 'b' is not cleaned
    for bad, name in (({0: 200, 1: 50}, '[0, 1]'), ({'a': 200, 9: 5}, '[9]'), (['a', 'z'], "['z']")):
        with pytest.raises(ValueError, match=re.escape(f"sampling_strategy names {name} that are not classes of the vocab")):
            imblearn_resample(mixed, 'RandomUnderSampler' if isinstance(bad, dict) else 'TomekLinks', sampling_strategy=bad, seed=0)


def test_float_sampling_strategy_binary():
    df = _mixed_df(); df['y'] = np.where(df.y == 'a', 'no', 'yes')
    to = _mixed_to(df)
    X, y = train_xy(to)
    for name, cls in [('RandomUnderSampler', us.RandomUnderSampler), ('RandomOverSampler', ovs.RandomOverSampler)]:
        _, y_ref = cls(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
        r = imblearn_resample(to, name, sampling_strategy=0.5, seed=0)
        np.testing.assert_array_equal(r.sampled_counts(r.sample()), np.bincount(y_ref))
    new = imblearn_resample(to, 'SMOTENC', sampling_strategy=0.5, seed=0)
    _, y_ref = ovs.SMOTENC(categorical_features=[0, 1], sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(new.train.ys['y']), np.bincount(y_ref))

def test_no_feature_copy_kept_large_frame(monkeypatch):
    "1M rows: an index resampler keeps its labels and one index array; random under/oversampling never builds the features"
    n = 1_000_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'a': rng.integers(0, 5, n), 'b': rng.integers(0, 7, n), 'c': rng.normal(size=n),
                       'd': rng.normal(size=n), 'e': rng.normal(size=n), 'y': (rng.random(n) < 0.05).astype(np.int64)})
    to = TabularPandas(df, procs=[Categorify, Normalize], cat_names=['a', 'b'], cont_names=['c', 'd', 'e'], y_names='y',
                       y_block=CategoryBlock(), splits=[list(range(800_000)), list(range(800_000, n))])
    del df
    feat_nbytes = sum(to.items[c].to_numpy()[:to.split].nbytes for c in to.x_names)
    def no_features(*a, **k): raise AssertionError('RandomUnderSampler/RandomOverSampler must not read the features')
    monkeypatch.setattr(tab, '_features', no_features)
    for sampler in ['RandomUnderSampler', 'RandomOverSampler']:
        tracemalloc.start()
        r = imblearn_resample(to, sampler, seed=0)
        kept, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        own = r.labels.codes.nbytes + r.indices(0).nbytes
        # what stays is the int64 labels (8 bytes a row, as for any Resampler) and the epoch's indices, within 1 MB
        assert kept <= own + 1e6, (sampler, kept, own)
        assert r.labels.codes.nbytes < feat_nbytes
        c = np.bincount(r.labels.codes)
        np.testing.assert_array_equal(r.sampled_counts(r.sample()), [c.min()] * 2 if sampler == 'RandomUnderSampler' else [c.max()] * 2)

def test_no_feature_copy_kept_neighbour_sampler():
    "100k rows, EditedNearestNeighbours: the fitted sampler (whose NearestNeighbors holds the features) is not kept"
    df = _mixed_df(100_000)
    to = _mixed_to(df)
    X, _ = train_xy(to)
    tracemalloc.start()
    r = imblearn_resample(to, 'EditedNearestNeighbours')
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert kept <= r.labels.codes.nbytes + r.indices(0).nbytes + 2e5, kept
    assert kept < X.nbytes


# ---------------------------------------------------------------- synthesising samplers
def _check_synthetic(to, new, sampler_ref, X, y, cat_idx=()):
    "Counts and synthetic rows equal imbalanced-learn's; validation, `to` and the user's columns untouched"
    X_ref, y_ref = sampler_ref.fit_resample(X, y)
    n, m = len(y), len(y_ref) - len(y)
    assert new.split == n + m and len(new) == len(to) + m
    np.testing.assert_array_equal(np.bincount(new.train.ys.iloc[:, 0]), np.bincount(y_ref))
    trn = new.train.items
    assert trn['is_synthetic'].sum() == m and not trn['is_synthetic'].iloc[:n].any() and trn['is_synthetic'].iloc[n:].all()
    assert 'is_synthetic' not in new.x_names
    syn = trn.iloc[n:][list(to.x_names)].to_numpy(np.float64)
    np.testing.assert_allclose(syn, X_ref[n:].astype(X.dtype).astype(np.float64), rtol=1e-6, atol=1e-6)
    for c in to.cat_names:
        assert trn[c].dtype == to.items[c].dtype and trn[c].between(0, len(to.classes[c]) - 1).all()
    pd.testing.assert_frame_equal(new.valid.items.drop(columns='is_synthetic'), to.valid.items)
    pd.testing.assert_frame_equal(new.train.items.iloc[:n].drop(columns='is_synthetic'), to.train.items)

@pytest.mark.parametrize('name, ref', [
    ('SMOTE', ovs.SMOTE(random_state=0)), ('ADASYN', ovs.ADASYN(random_state=0)),
    ('BorderlineSMOTE', ovs.BorderlineSMOTE(random_state=0)), ('SVMSMOTE', ovs.SVMSMOTE(random_state=0)),
    ('RandomOverSampler(shrinkage)', ovs.RandomOverSampler(shrinkage=0.5, random_state=0))])
def test_synthesisers_on_digits(digits, name, ref):
    X, y = train_xy(digits)
    before = digits.items.copy()
    new = imblearn_resample(digits, clone(ref).set_params(random_state=None), seed=0)
    _check_synthetic(digits, new, ref, X, y)
    pd.testing.assert_frame_equal(digits.items, before)

def test_smotenc_mixed(mixed):
    X, y = train_xy(mixed)
    before = mixed.items.copy()
    new = imblearn_resample(mixed, ovs.SMOTENC(categorical_features=[4], k_neighbors=3), seed=1)   # indices are set for you
    _check_synthetic(mixed, new, ovs.SMOTENC(categorical_features=[0, 1], k_neighbors=3, random_state=1), X, y)
    pd.testing.assert_frame_equal(mixed.items, before)
    assert new.train.items['note'].iloc[new.split - 1] is np.nan or pd.isna(new.train.items['note'].iloc[new.split - 1])
    # resampling twice keeps the first marks
    again = imblearn_resample(new, 'RandomUnderSampler', seed=0)
    assert isinstance(again, ImblearnResampler)
    new2 = imblearn_resample(new, 'SMOTENC', sampling_strategy={'b': new.train.ys['y'].eq(1).sum() + 10}, seed=0)
    assert new2.train.items['is_synthetic'].sum() == new.train.items['is_synthetic'].sum() + 10

def test_smoten_when_every_feature_is_categorical(mixed):
    df = _mixed_df()
    to = _mixed_to(df, conts=())
    X, y = train_xy(to)
    for given in ['SMOTENC', 'SMOTEN', ovs.SMOTEN(k_neighbors=4)]:
        k = 4 if not isinstance(given, str) else 5
        new = imblearn_resample(to, given, seed=2)
        _check_synthetic(to, new, ovs.SMOTEN(k_neighbors=k, random_state=2), X, y)

def test_smotenc_on_continuous_only_is_smote(digits):
    X, y = train_xy(digits)
    new = imblearn_resample(digits, 'SMOTENC', seed=0)
    _check_synthetic(digits, new, ovs.SMOTE(random_state=0), X, y)


# ---------------------------------------------------------------- bad input
def test_errors(mixed, digits):
    for s in ['SMOTE', ovs.SMOTE(), 'ADASYN', ovs.BorderlineSMOTE(), ovs.RandomOverSampler(shrinkage=1.)]:
        with pytest.raises(ValueError, match="use 'SMOTENC'"): imblearn_resample(mixed, s)
    with pytest.raises(ValueError, match=r'needs 6 train rows .* pass k_neighbors=\d+ or fewer'):
        imblearn_resample(_tiny_class(), ovs.SMOTE(k_neighbors=5))
    with pytest.raises(ValueError, match=r'ADASYN\(n_neighbors=8\) needs 9'):
        imblearn_resample(_tiny_class(), ovs.ADASYN(n_neighbors=8))
    reg = TabularPandas(_mixed_df().assign(y=np.random.default_rng(0).normal(size=900)), procs=[Normalize],
                        cont_names=['x1'], y_names='y')
    for s in ['RandomUnderSampler', 'SMOTE']:
        with pytest.raises(ValueError, match=r'regression target.*y_block=CategoryBlock\(\)'): imblearn_dataloaders(reg, s)
    with pytest.raises(ValueError, match='two steps'): imblearn_resample(mixed, 'SMOTETomek')
    with pytest.raises(ValueError, match='ClusterCentroids'): imblearn_resample(mixed, 'ClusterCentroids')
    with pytest.raises(ValueError, match="unknown sampler 'NearMis'"): imblearn_resample(mixed, 'NearMis')
    with pytest.raises(TypeError, match=r"not the class"): imblearn_resample(mixed, us.NearMiss)
    with pytest.raises(TypeError, match='TabularPandas'): imblearn_resample(mixed.items, 'NearMiss')

@pytest.mark.parametrize('sampler', ['RandomUnderSampler', 'SMOTENC'])
def test_dataloaders_keywords_as_weighted_dataloaders(mixed, sampler):
    """Both kinds refuse what their loaders would ignore or misread, as `weighted_dataloaders` does: fastai's `n=` (the
    sampler sets each epoch's rows; on a synthesised split fastai would read its first `n` rows, none synthetic), the
    `Resampler`'s keywords, and names no DataLoader takes (fastai drops them silently); fastai's own keywords still work"""
    with pytest.raises(TypeError, match=r"n=100 is fastai's row count .* pass sampling_strategy="): imblearn_dataloaders(mixed, sampler, n=100)
    with pytest.raises(TypeError, match=r"dl_kwargs\[0\]: n=100"): imblearn_dataloaders(mixed, sampler, dl_kwargs=[{'n': 100}, {}])
    for k in ('n_samples', 'alpha', 'replacement'):
        with pytest.raises(TypeError, match=rf"\['{k}'\] are the Resampler's keywords"): imblearn_dataloaders(mixed, sampler, **{k: 1})
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['sampling_stratgy'\] \(did you mean \['sampling_strategy'\]"):
        imblearn_dataloaders(mixed, sampler, sampling_stratgy='auto')
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['foo'\]"): imblearn_dataloaders(mixed, sampler, foo=1)
    dls = imblearn_dataloaders(mixed, sampler, bs=16, val_bs=7, num_workers=0, drop_last=False, n=None, seed=0)
    ys = torch.cat([b[-1] for b in dls.train]).view(-1).numpy()
    assert dls.valid.bs == 7 and len(ys) == dls.train.n   # drop_last=False: every row of the epoch
    counts = np.bincount(ys, minlength=3)
    assert counts.min() == counts.max()   # both balance every class: down to the rarest, up to the largest

def _tiny_class():
    "300 digits of classes 0-8 and 5 of class 9, all in the train split"
    df = load_digits(as_frame=True).frame
    pix = [c for c in df.columns if c != 'target']
    small = pd.concat([df[df.target != 9].iloc[:300], df[df.target == 9].iloc[:5]]).reset_index(drop=True)
    return TabularPandas(small, procs=[Normalize], cont_names=pix, y_names='target', y_block=CategoryBlock())

def test_import_error_names_the_extra(mixed, monkeypatch):
    for m in [k for k in sys.modules if k == 'imblearn' or k.startswith('imblearn.')]: monkeypatch.delitem(sys.modules, m)
    monkeypatch.setitem(sys.modules, 'imblearn', None)
    for f in (lambda: imblearn_dataloaders(mixed, 'SMOTENC'), lambda: imblearn_resample(mixed, 'NearMiss')):
        with pytest.raises(ImportError, match=r'pip install "imbalance_fastai\[imblearn\]"'): f()

def test_module_imports_without_imblearn():
    code = ("import sys; sys.modules['imblearn'] = None; import imbalance_fastai.tabular as t; "
            "assert callable(t.imblearn_dataloaders)")
    subprocess.run([sys.executable, '-c', code], check=True, timeout=300)


# ---------------------------------------------------------------- training
@pytest.mark.parametrize('sampler', ['NearMiss', 'RandomUnderSampler', 'SMOTENC'])
def test_tabular_learner_trains_one_epoch(mixed, sampler):
    dls = imblearn_dataloaders(mixed, sampler, bs=32, seed=0)
    learn = tabular_learner(dls, layers=[16])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert np.isfinite(learn.recorder.losses[-1].item())
    assert learn.get_preds(ds_idx=1)[0].shape == (len(mixed.valid), 3)

def test_digits_smote_for_the_demo(digits):
    dls = imblearn_dataloaders(digits, 'SMOTE', bs=64, seed=0)
    trn = np.bincount(digits.train.ys['target'])
    np.testing.assert_array_equal(np.bincount(dls.train_ds.ys['target']), [trn.max()] * 10)
    _same_valid(dls, digits)
    learn = tabular_learner(dls, layers=[64])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert np.isfinite(learn.recorder.losses[-1].item())
    sel = imblearn_dataloaders(digits, 'RandomUnderSampler', bs=16, seed=0)
    assert sampling_summary(sel)['sampled'].tolist() == [trn.min()] * 10


@pytest.mark.parametrize('sampler', ['SMOTENC', 'RandomUnderSampler'])
def test_prior_correction_corrects_to_the_real_rows_prior_through_export(mixed, sampler, tmp_path):
    "A synthesised train split (SMOTENC's rows marked is_synthetic) is not the natural prior: the real rows' 80/15/5 is"
    from fastai.learner import load_learner
    from imbalance_fastai.prior import PriorCorrection
    dls = imblearn_dataloaders(mixed, sampler, bs=32, seed=0)
    learn = tabular_learner(dls, layers=[16], cbs=PriorCorrection(), path=tmp_path)
    real = np.bincount(mixed.train.ys['y'], minlength=3) / len(mixed.train)
    np.testing.assert_allclose(learn.prior_correction.natural_prior, real)
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    np.testing.assert_allclose(learn.prior_correction.natural_prior, real)   # recaptured after fit, the same
    with learn.no_bar(): probs = learn.get_preds()[0]
    assert probs[:, 2].mean() < 0.15   # the 5% class, which a balanced model gives about 1/3
    learn.export('smote.pkl')
    loaded = load_learner(tmp_path / 'smote.pkl')
    np.testing.assert_allclose(loaded.prior_correction.natural_prior, real)
    row = _mixed_df().iloc[-1]   # a raw validation row
    with learn.no_bar(), loaded.no_bar(): torch.testing.assert_close(loaded.predict(row)[2], learn.predict(row)[2])


class _SimShardedDL:
    "A `ShardedDL` in a simulated group of ranks: rank 0 draws first and `_sync` hands its object to the others"
    @staticmethod
    def make():
        from imbalance_fastai.distributed import ShardedDL
        class Sim(ShardedDL):
            sent = None
            def _sync(self, obj):
                if self.rank == 0: Sim.sent = obj
                return Sim.sent
        return Sim


@pytest.mark.parametrize('redraw', [True, False])
def test_ranks_with_other_seeds_train_the_same_rows(mixed, redraw):
    "Under `ShardedDL`, a rank whose ImblearnResampler was built with another seed trains epoch 0 on rank 0's rows"
    from imbalance_fastai.sampling import BaseResampler, resample_dl
    Sim = _SimShardedDL.make()
    plain = mixed.dataloaders(bs=16, num_workers=0)
    rs = [ImblearnResampler(mixed, 'RandomUnderSampler', seed=s, redraw=redraw) for s in (11, 22)]
    assert all(isinstance(r, BaseResampler) for r in rs)
    assert not np.array_equal(np.sort(rs[0].indices(0)), np.sort(rs[1].indices(0)))   # different rows before the sync
    dls = [Sim(resample_dl(plain.train, r), rank, 2) for rank, r in enumerate(rs)]
    for epoch in range(2):
        for dl in dls: list(dl)                              # rank 0 first, as in a real group
        assert rs[1].seed == 11
        assert np.array_equal(dls[1].last_idxs, dls[0].last_idxs), f"epoch {epoch}: the ranks drew different rows"
    assert np.array_equal(np.sort(dls[0].last_idxs), np.sort(ImblearnResampler(mixed, 'RandomUnderSampler', seed=11,
                                                                               redraw=redraw).indices(1)))


def test_missing_target_is_refused_as_get_labels_refuses():
    "A NaN target in the train split: every sampler here gives get_labels' error (it used to fail inside np.bincount)"
    from imbalance_fastai.core import get_labels
    df = _mixed_df(); df.loc[5, 'y'] = None
    to = _mixed_to(df)
    with pytest.raises(ValueError, match='have no class') as ref: get_labels(to.train)
    for f in (lambda: ImblearnResampler(to, 'RandomUnderSampler'), lambda: imblearn_dataloaders(to, 'SMOTENC'), lambda: train_xy(to)):
        with pytest.raises(ValueError, match=re.escape(str(ref.value))): f()


def test_reseeded_sampler_draws_what_one_built_with_that_seed_draws(mixed):
    "After reseed every per-epoch cache (rows, counts, length, prior) is the new seed's; OneSidedSelection keeps other counts per fit"
    fresh, other = [ImblearnResampler(mixed, us.OneSidedSelection(), seed=s) for s in (11, 22)]
    assert other.epoch_length(0) != fresh.epoch_length(0) and other.n_samples != fresh.n_samples   # cached for seed 22
    other.reseed(11)
    for e in range(4):
        assert other.epoch_length() == fresh.epoch_length() == fresh.epoch_counts(e).sum()
        np.testing.assert_array_equal(other.sample(), fresh.sample())
        np.testing.assert_array_equal(other.train_prior, fresh.train_prior)
        np.testing.assert_array_equal(fresh.train_prior, fresh.epoch_counts(e) / fresh.epoch_counts(e).sum())   # the epoch drawn
    assert len({fresh.epoch_length(e) for e in range(4)}) > 1


def test_dataloader_length_follows_each_epoch(mixed):
    "The train DataLoader's len is the epoch it is about to draw (it was epoch 0's for good)"
    dls = imblearn_dataloaders(mixed, us.OneSidedSelection(), bs=16, seed=0, num_workers=0)
    r = dls.train.resampler
    for e in range(5):
        n = len(dls.train)
        assert len(list(dls.train)) == n == r.epoch_length(e) // 16   # the train DataLoader drops the last partial batch
    assert len({r.epoch_length(e) // 16 for e in range(5)}) > 1

def test_minority_recall_reads_the_real_rows_of_a_synthesised_split(mixed):
    "SMOTE balances the train split, so its counts name no minority; MinorityRecall() takes the real rows' rarest class (c, 5%), not class 0"
    from imbalance_fastai.metrics import MinorityRecall, minority_recall
    dls = imblearn_dataloaders(mixed, 'SMOTENC', bs=32, seed=0)
    assert len(set(np.bincount(dls.train_ds.ys['y']))) == 1          # a balanced train split
    mr = MinorityRecall()
    learn = tabular_learner(dls, layers=[16], metrics=mr)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert mr.classes == [2]
    with learn.no_bar(): _, y, d = learn.get_preds(with_decoded=True)
    assert learn.recorder.values[-1][-1] == pytest.approx(minority_recall(y.view(-1).numpy(), d.numpy(), [2]))


def test_tabular_dataloaders_from_df_in_place_of_the_tabularpandas():
    "`TabularDataLoaders.from_df` users pass their dls: the train split is resampled, the validation rows are theirs"
    from fastai.tabular.data import TabularDataLoaders
    df = _mixed_df(300)
    dls = TabularDataLoaders.from_df(df, cat_names=['colour', 'size'], cont_names=['x1', 'x2', 'x3'], y_names='y',
                                     y_block=CategoryBlock(), procs=[Categorify, Normalize], valid_idx=list(range(240, 300)), bs=32)
    X, y = train_xy(dls)
    assert len(y) == 240
    for sampler in ['SMOTENC', us.RandomUnderSampler(random_state=0)]:
        res = imblearn_dataloaders(dls, sampler, bs=8, seed=0)
        assert len(res.valid_ds) == 60
        for a, b in zip(_valid_batches(res), _valid_batches(dls)): assert torch.equal(a, b)
        kept = res.train_ds.ys['y'].to_numpy() if 'is_synthetic' in res.train_ds.items else y[res.train.resampler.indices(0)]
        assert len(set(np.bincount(kept).tolist())) == 1            # balanced, as imbalanced-learn's default 'auto' makes it
