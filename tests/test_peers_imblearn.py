"""imbalanced-learn's own test cases for its samplers' contract (imblearn/utils/tests/test_validation.py,
imblearn/utils/estimator_checks.py, over_sampling/under_sampling tests, tests/test_pipeline.py), ported as tests of
`imblearn_resample`/`imblearn_dataloaders`/`ImblearnResampler`: every reference is imbalanced-learn itself, run on the
same train split with the labels as a user who switched from imbalanced-learn would pass them (the class names)."""
import copy, pickle
from collections import Counter
import numpy as np, pandas as pd, pytest, torch
from fastai.data.block import CategoryBlock
from fastai.data.transforms import IndexSplitter
from fastai.tabular.core import TabularPandas, Categorify, Normalize, FillMissing
from sklearn.base import clone
import imblearn.base
from imblearn import FunctionSampler
from imblearn.pipeline import make_pipeline
from imblearn import under_sampling as us, over_sampling as ovs
from imbalance_fastai.tabular import imblearn_dataloaders, imblearn_resample, ImblearnResampler, train_xy

torch.set_num_threads(1)


def _df(n=300, seed=0, labels=('a', 'b', 'c'), p=(.6, .3, .1), cat=False):
    "Classes 60/30/10 % (the first already the majority), two continuous columns that separate them a little"
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(labels, dtype=object), n, p=p)
    k = pd.Series(y).map({l: i for i, l in enumerate(labels)}).to_numpy()
    df = pd.DataFrame({'x1': rng.normal(size=n) + k, 'x2': rng.normal(size=n) - k, 'y': y})
    if cat: df['colour'] = pd.Categorical(rng.choice(['red', 'green', 'blue'], n), categories=['red', 'green', 'blue'])
    return df

def _to(df, cats=(), conts=('x1', 'x2'), procs=(Categorify, FillMissing, Normalize)):
    n = len(df)
    return TabularPandas(df, procs=list(procs), cat_names=list(cats), cont_names=list(conts), y_names='y',
                         y_block=CategoryBlock(), splits=IndexSplitter(list(range(n - n // 5, n)))(df))

@pytest.fixture(scope='module')
def to3(): return _to(_df())

@pytest.fixture(scope='module')
def to2(): return _to(_df(labels=('neg', 'pos'), p=(.75, .25)))

def _named_y(to):
    "The train labels by name, as an imbalanced-learn user has them in `df.y`"
    X, codes = train_xy(to)
    return X, np.asarray(list(to.vocab))[codes]

def _ours(to, res):
    "Rows per class name of the train split we resampled"
    c = res.epoch_counts(0) if isinstance(res, ImblearnResampler) else np.bincount(train_xy(res)[1], minlength=len(to.vocab))
    return {k: int(v) for k, v in zip(to.vocab, c)}

def _ref(to, sampler):
    "Rows per class name that imbalanced-learn itself keeps or makes on the same train split"
    X, y = _named_y(to)
    _, yr = clone(sampler).fit_resample(X, y)
    c = Counter(yr)
    return {k: int(c[k]) for k in to.vocab}

def _equal_rows(y):
    "test_validation.py's `_sampling_strategy_func`: every class to the largest class's rows"
    n = max(Counter(y).values())
    return {k: int(n) for k in Counter(y)}

def _times(y):
    "test_validation.py's callable with arguments: each class's rows times a multiplier (by class name)"
    m = {'a': 1, 'b': 1.5, 'c': 3}
    return {k: int(v * m[k]) for k, v in Counter(y).items()}

def _halves(y): return {k: int(v // 2) for k, v in Counter(y).items()}

OVER = ['auto', 'minority', 'not minority', 'not majority', 'all', {'c': 150, 'b': 120}, {'c': 100, 'a': 200, 'b': 200},
        _equal_rows, _times]
UNDER = ['auto', 'majority', 'not minority', 'not majority', 'all', {'a': 50, 'b': 20}, {'b': 30, 'a': 30, 'c': 25},
         _halves]
CLEAN = ['auto', 'majority', 'not minority', 'not majority', 'all', ['a'], ['a', 'b']]
CASES = ([(c, s) for c in (ovs.RandomOverSampler, ovs.SMOTE) for s in OVER] +
         [(c, s) for c in (us.RandomUnderSampler, us.NearMiss) for s in UNDER] +
         [(c, s) for c in (us.TomekLinks, us.EditedNearestNeighbours) for s in CLEAN])

def _kw(cls): return {'random_state': 0} if 'random_state' in cls().get_params() else {}

@pytest.mark.parametrize('form', ['name', 'instance', 'override'])
@pytest.mark.parametrize('cls, strategy', CASES, ids=lambda v: getattr(v, '__name__', repr(v)))
def test_every_sampling_strategy_form_gives_imblearns_counts(to3, cls, strategy, form):
    "test_check_sampling_strategy's table (strings, dicts in any key order, lists, callables), by name, by instance, and ours replacing the instance's"
    ref = _ref(to3, cls(sampling_strategy=strategy, **_kw(cls)))
    if form == 'name': res = imblearn_resample(to3, cls.__name__, sampling_strategy=strategy, seed=0)
    elif form == 'instance': res = imblearn_resample(to3, cls(sampling_strategy=strategy, **_kw(cls)))
    else: res = imblearn_resample(to3, cls(**_kw(cls)), sampling_strategy=strategy, seed=0)
    assert _ours(to3, res) == ref
    if isinstance(res, ImblearnResampler):   # a re-fit (next epoch) keeps the strategy's counts, and a module-level callable pickles
        assert dict(zip(to3.vocab, res.epoch_counts(1).tolist())) == ref
        if form == 'name': pickle.loads(pickle.dumps(res))

def test_random_oversampler_with_shrinkage_is_imblearns_smoothed_bootstrap(to3):
    "test_random_over_sampler.py's shrinkage: new rows drawn around real ones; ours appends imbalanced-learn's very rows"
    X, y = train_xy(to3)
    Xr, yr = ovs.RandomOverSampler(shrinkage=0.3, random_state=0).fit_resample(X, y)
    new = imblearn_resample(to3, ovs.RandomOverSampler(shrinkage=0.3), seed=0)
    np.testing.assert_allclose(train_xy(new)[0], Xr, rtol=1e-6); np.testing.assert_array_equal(train_xy(new)[1], yr)
    assert new.items['is_synthetic'].iloc[:new.split].sum() == len(yr) - len(y)

@pytest.mark.parametrize('ratio', [0.5, 0.8, 1.0])
@pytest.mark.parametrize("cls", [us.RandomUnderSampler, us.NearMiss, ovs.RandomOverSampler, ovs.SMOTE, ovs.BorderlineSMOTE])
def test_float_ratio_on_a_binary_target(to2, cls, ratio):
    "A float is the minority/majority ratio of a binary target (check_sampling_strategy's float rows)"
    assert _ours(to2, imblearn_resample(to2, cls.__name__, sampling_strategy=ratio, seed=0)) == \
           _ref(to2, cls(sampling_strategy=ratio, **_kw(cls)))

def test_dataloaders_train_on_imblearns_counts(to3):
    "Through imblearn_dataloaders: the train DataLoader iterates imbalanced-learn's counts, the validation one is untouched"
    for sampler in (us.RandomUnderSampler(sampling_strategy={'a': 40}, random_state=1), ovs.SMOTE(sampling_strategy='minority', random_state=1)):
        dls = imblearn_dataloaders(to3, sampler, bs=16)
        ys = torch.cat([b[-1] for b in dls.train.new(drop_last=False)]).view(-1).numpy()   # a shuffled epoch, as training draws it
        assert {k: int(v) for k, v in zip(to3.vocab, np.bincount(ys, minlength=3))} == _ref(to3, sampler)   # every row once
        pd.testing.assert_frame_equal(dls.valid.items[to3.valid.items.columns], to3.valid.items)
        assert not dls.valid.items.get('is_synthetic', pd.Series(False)).any()


# ---------------------------------------------------------------- errors imbalanced-learn raises, raised before any fit
def _codes(to, strategy):
    "`strategy` with imbalanced-learn's view of the classes (codes), for its error message on the same codes"
    o2i = {v: i for i, v in enumerate(to.vocab)}
    if isinstance(strategy, dict): return {o2i[k]: v for k, v in strategy.items()}
    return [o2i[k] for k in strategy] if isinstance(strategy, list) else strategy

# data: refused for this train split's counts (the message gives them); type: a value the sampler never takes
BAD = [('RandomUnderSampler', 0.5, 'to3', 'data'),                  # a float for a multiclass target
       ('TomekLinks', 0.5, 'to3', 'data'), ('TomekLinks', 0.5, 'to2', 'data'),   # a cleaning sampler takes no ratio
       ('SMOTE', {'c': 5}, 'to3', 'data'), ('RandomOverSampler', {'c': 5, 'b': 500}, 'to3', 'data'),   # an over-sampler asked for fewer rows
       ('RandomUnderSampler', {'c': 500}, 'to3', 'data'), ('RandomUnderSampler', {'a': -1}, 'to3', 'data'),
       ('SMOTE', 0.1, 'to2', 'data'), ('RandomUnderSampler', 0.1, 'to2', 'data'),
       ('SMOTE', 'majority', 'to3', 'type'), ('RandomUnderSampler', 'minority', 'to3', 'type'), ('RandomUnderSampler', 'rnd', 'to3', 'type'),
       ('RandomUnderSampler', ['a'], 'to3', 'type'), ('TomekLinks', {'a': 3}, 'to3', 'type'),   # a list is for cleaning samplers only
       ('RandomUnderSampler', 10., 'to2', 'type')]

@pytest.fixture
def fits(monkeypatch):
    "Every fit_resample of any imbalanced-learn sampler, recorded"
    calls, orig = [], imblearn.base.SamplerMixin.fit_resample
    monkeypatch.setattr(imblearn.base.SamplerMixin, 'fit_resample', lambda self, *a, **k: calls.append(self) or orig(self, *a, **k))
    return calls

@pytest.mark.parametrize('name, strategy, data, kind', BAD, ids=repr)
@pytest.mark.parametrize('form', ['name', 'instance'])
def test_imblearns_errors_name_our_argument_before_any_fit(request, fits, name, strategy, data, kind, form):
    to = request.getfixturevalue(data)
    cls = getattr(us, name, None) or getattr(ovs, name)
    X, y = train_xy(to)
    with pytest.raises(ValueError) as ref: cls(sampling_strategy=_codes(to, strategy)).fit_resample(X, y)
    fits.clear()
    sampler = name if form == 'name' else cls(**_kw(cls))
    with pytest.raises(ValueError, match='sampling_strategy=') as e:
        for f in (imblearn_resample, imblearn_dataloaders): f(to, sampler, sampling_strategy=strategy)
    msg = str(e.value)
    assert str(ref.value) in msg                                       # imbalanced-learn's own words
    if kind == 'data':   # the train rows of each class, by name
        assert f"does not fit {name}" in msg and all(f"'{k}': {n}" in msg for k, n in zip(to.vocab, np.bincount(y)))
    else: assert f"sampling_strategy={strategy!r} is not one {name} accepts" in msg
    assert fits == []                                                  # refused when built, nothing fitted

def test_asking_an_oversampler_for_fewer_rows_names_the_class_and_the_fix(to3):
    n_c = Counter(_named_y(to3)[1])['c']
    with pytest.raises(ValueError, match=f"an over-sampler only adds rows, so ask at least the rows each class has \\({{'c': '{n_c} rows, 5 asked'}}\\)"):
        imblearn_resample(to3, 'SMOTE', sampling_strategy={'c': 5})
    with pytest.raises(ValueError, match="a float is the minority/majority ratio of a binary target, and this one has 3 classes"):
        imblearn_resample(to3, 'RandomUnderSampler', sampling_strategy=0.5)

@pytest.mark.parametrize('sampler, strategy', [('RandomUnderSampler', {'z': 5}), ('SMOTE', {'c': 200, 'd': 10}),
                                               ('TomekLinks', ['z']), ('RandomUnderSampler', {0: 5})])
def test_unknown_classes_are_refused(to3, fits, sampler, strategy):
    "test_sampling_strategy_class_target_unknown: imbalanced-learn refuses classes not in y; so do we, naming the vocab"
    X, y = _named_y(to3)
    cls = getattr(us, sampler, None) or getattr(ovs, sampler)
    with pytest.raises(ValueError, match='not present in the data'): cls(sampling_strategy=strategy).fit_resample(X, y)
    fits.clear()
    with pytest.raises(ValueError, match=r"sampling_strategy names \[.*\] that are not classes of the vocab \['a', 'b', 'c'\]"):
        imblearn_resample(to3, sampler, sampling_strategy=strategy)
    assert fits == []

def test_a_callable_naming_an_unknown_class_is_refused(to3):
    with pytest.raises(ValueError, match=r"callable sampling_strategy .* returned names \['z'\] that are not classes"):
        imblearn_resample(to3, 'RandomOverSampler', sampling_strategy=lambda y: {'z': 500})

def test_one_class_in_train_is_refused():
    "check_samplers_one_label: a sampler can't balance one class; the error says so"
    df = pd.DataFrame({'x1': np.arange(50.), 'x2': np.ones(50), 'y': ['a'] * 40 + ['b'] * 10})
    to = _to(df)   # the last 10 rows, every 'b', are the validation split
    X, y = train_xy(to)
    with pytest.raises(ValueError, match='class'): us.RandomUnderSampler().fit_resample(X, y)
    for s in ('RandomUnderSampler', 'SMOTE', 'TomekLinks'):
        with pytest.raises(ValueError, match=r"the train split has rows of one class only .*\{'a': 40\}"): imblearn_resample(to, s)


# ---------------------------------------------------------------- random_state / seed, and nothing of the user's changed
def test_seed_reproduces_and_different_seeds_differ(to3):
    a, b, c = (imblearn_resample(to3, 'SMOTE', seed=s) for s in (1, 1, 2))
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.items.equals(c.items)
    r1, r2, r3 = (ImblearnResampler(to3, 'RandomUnderSampler', seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(r1.sample(epoch=0), r2.sample(epoch=0))
    assert not np.array_equal(np.sort(r1.indices(0)), np.sort(r3.indices(0)))

def test_random_state_of_the_instance_is_imblearns(to3):
    "seed=None: the instance's random_state, so the rows are imbalanced-learn's with that random_state"
    X, y = train_xy(to3)
    Xr, _ = ovs.SMOTE(random_state=7).fit_resample(X, y)
    np.testing.assert_allclose(train_xy(imblearn_resample(to3, ovs.SMOTE(random_state=7)))[0], Xr, rtol=1e-6)
    ref = us.RandomUnderSampler(random_state=7); ref.fit_resample(X, y)
    np.testing.assert_array_equal(np.sort(imblearn_resample(to3, us.RandomUnderSampler(random_state=7)).indices(0)), np.sort(ref.sample_indices_))

def test_a_randomstate_instance_is_reproducible_and_not_consumed(to3):
    rs = np.random.RandomState(0)
    state = rs.get_state()[1].copy()
    s = ovs.SMOTE(random_state=rs)
    a, b = imblearn_resample(to3, s), imblearn_resample(to3, s)
    pd.testing.assert_frame_equal(a.items, b.items)
    np.testing.assert_array_equal(rs.get_state()[1], state)

def test_shrinkage_dict_names_classes(to3):
    "test_random_over_sampler.py's shrinkage dict: keys are classes (by name, as sampling_strategy's), every resampled one needed"
    X, y = _named_y(to3)
    shrink = {'b': 0.2, 'c': 0.5}
    Xr, yr = ovs.RandomOverSampler(shrinkage=shrink, random_state=0).fit_resample(X, y)
    new = imblearn_resample(to3, ovs.RandomOverSampler(shrinkage=shrink), seed=0)
    np.testing.assert_allclose(train_xy(new)[0], Xr, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(list(to3.vocab))[train_xy(new)[1]], yr)
    for bad, msg in (({}, 'should contain a shrinkage factor for each class'), ({'b': 0.2, 'c': -1}, 'needs to be >= 0')):
        with pytest.raises(ValueError, match=msg): ovs.RandomOverSampler(shrinkage=bad).fit_resample(X, y)
        with pytest.raises(ValueError, match=msg): imblearn_resample(to3, ovs.RandomOverSampler(shrinkage=bad))
    with pytest.raises(ValueError, match=r"for each class RandomOverSampler resamples with sampling_strategy='auto', \['b', 'c'\] .*; it lacks \['c'\]"):
        imblearn_resample(to3, ovs.RandomOverSampler(shrinkage={'b': .2}))   # by name, where imbalanced-learn names codes
    with pytest.raises(ValueError, match=r"shrinkage names \['z'\] that are not classes"):
        imblearn_resample(to3, ovs.RandomOverSampler(shrinkage={'b': .2, 'c': .2, 'z': .2}))

def test_a_callable_strategy_with_a_shrinkage_dict_names_classes_in_both(to3):
    "A callable sampling_strategy sees class names also when shrinkage is a dict (both are translated, not one or the other)"
    X, y = _named_y(to3)
    shrink = {'a': 0.1, 'b': 0.2, 'c': 0.5}
    Xr, yr = ovs.RandomOverSampler(sampling_strategy=_times, shrinkage=shrink, random_state=0).fit_resample(X, y)
    new = imblearn_resample(to3, ovs.RandomOverSampler(sampling_strategy=_times, shrinkage=shrink), seed=0)
    np.testing.assert_allclose(train_xy(new)[0], Xr, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(list(to3.vocab))[train_xy(new)[1]], yr)

def test_random_samplers_need_no_finite_features():
    "test_random_{under,over}_sampler.py's nan_inf: they choose rows by label alone, so NaN features are no obstacle (for them only)"
    df = _df()
    df.loc[df.index[::5], 'x1'] = np.nan
    to = _to(df, procs=(Normalize,))
    X, y = to.train.xs.to_numpy(), to.train.ys['y'].to_numpy()
    assert np.isnan(X).any()
    for cls in (us.RandomUnderSampler, ovs.RandomOverSampler):
        ref = cls(random_state=0); ref.fit_resample(X, y)
        np.testing.assert_array_equal(np.sort(imblearn_resample(to, cls(random_state=0)).indices(0)), np.sort(ref.sample_indices_))
    with pytest.raises(ValueError, match=r"missing values in \['x1'\]: add FillMissing"): imblearn_resample(to, 'NearMiss')

def test_a_neighbours_estimator_as_k_neighbors():
    "test_common.py's custom nn: k_neighbors may be a NearestNeighbors (n_neighbors counts the row itself)"
    from sklearn.neighbors import NearestNeighbors
    to = _small_class(4)
    for k in (4, 3):   # 'c' has 4 rows: enough for 4 neighbours counting itself
        s = ovs.SMOTE(k_neighbors=NearestNeighbors(n_neighbors=k), random_state=0)
        assert _ours(to, imblearn_resample(to, s)) == _ref(to, s)
    s = ovs.SMOTE(k_neighbors=NearestNeighbors(n_neighbors=6), random_state=0)
    with pytest.raises(ValueError): clone(s).fit_resample(*_named_y(to))
    with pytest.raises(ValueError, match=r"needs 6 train rows .*\{'c': 4\}"): imblearn_resample(to, s)

def _params(s): return {k: repr(v) for k, v in s.get_params(deep=True).items()}

@pytest.mark.parametrize('sampler', [ovs.SMOTE(sampling_strategy={'c': 150}, random_state=0), ovs.SMOTE(sampling_strategy=_equal_rows),
                                     us.RandomUnderSampler(sampling_strategy={'a': 50}, replacement=True),
                                     us.TomekLinks(sampling_strategy=['a']), us.NearMiss(), ovs.RandomOverSampler(shrinkage=0.5)],
                         ids=lambda s: type(s).__name__)
def test_the_users_sampler_and_data_are_not_changed(sampler):
    df = _df()
    to = _to(df)
    df0, items0, cat0, split0 = df.copy(deep=True), to.items.copy(deep=True), list(to.cat_names), to.split
    p0, strategy0 = _params(sampler), copy.deepcopy(sampler.sampling_strategy)
    imblearn_dataloaders(to, sampler, bs=16)
    imblearn_dataloaders(to, sampler, bs=16, sampling_strategy='all' if isinstance(sampler, us.TomekLinks) else 'auto', seed=3)
    assert _params(sampler) == p0 and not hasattr(sampler, 'sampling_strategy_') and not hasattr(sampler, 'sample_indices_')
    assert repr(sampler.sampling_strategy) == repr(strategy0)    # class names stay names in the user's dict and list
    pd.testing.assert_frame_equal(df, df0); pd.testing.assert_frame_equal(to.items, items0)
    assert list(to.cat_names) == cat0 and to.split == split0


# ---------------------------------------------------------------- feature kinds, dtypes, missing values, labels
def test_smotenc_on_category_dtype_columns():
    "SMOTENC on a pandas 'category' column plus continuous ones: imbalanced-learn's rows, valid codes, dtypes kept (check_samplers_preserve_dtype)"
    to = _to(_df(cat=True), cats=('colour',))
    X, y = train_xy(to)
    Xr, yr = ovs.SMOTENC(categorical_features=[0], random_state=0).fit_resample(X, y)
    new = imblearn_resample(to, 'SMOTENC', seed=0)
    np.testing.assert_allclose(train_xy(new)[0], Xr, rtol=1e-6); np.testing.assert_array_equal(train_xy(new)[1], yr)
    codes = new.items['colour'].iloc[:new.split]
    assert set(codes) <= set(range(1, len(to.classes['colour'])))    # 0 is fastai's '#na#'; no such row in this data
    for c in ['colour', 'x1', 'x2', 'y']: assert new.items[c].dtype == to.items[c].dtype

def test_smoten_when_every_feature_is_categorical():
    rng = np.random.default_rng(1)
    df = _df(cat=True).assign(size=lambda d: rng.choice(['S', 'M', 'L'], len(d)))
    to = _to(df, cats=('colour', 'size'), conts=())
    X, y = train_xy(to)
    Xr, yr = ovs.SMOTEN(random_state=0).fit_resample(X, y)
    for s in ('SMOTEN', 'SMOTENC'):
        new = imblearn_resample(to, s, seed=0)
        np.testing.assert_array_equal(train_xy(new)[0], Xr); np.testing.assert_array_equal(train_xy(new)[1], yr)

def test_missing_values():
    "check_samplers_nan's data has NaN; fastai's FillMissing fills them (and adds x1_na), or, where it is a no-op (pandas>=3 in fastai 2.8.7), we say how to fill them"
    df = _df()
    df.loc[df.index[::7], 'x1'] = np.nan
    to = _to(df)
    if to.items['x1'].isna().any():
        with pytest.raises(ValueError, match=r"missing values in \['x1'\] although procs has FillMissing.*fillna"): imblearn_resample(to, 'SMOTENC')
        df['x1_na'] = df['x1'].isna().astype(str)
        df['x1'] = df['x1'].fillna(df['x1'].median())
        to = _to(df, cats=('x1_na',))
    X, y = train_xy(to)
    assert not np.isnan(X).any() and 'x1_na' in to.cat_names
    Xr, _ = ovs.SMOTENC(categorical_features=[0], random_state=0).fit_resample(X, y)
    np.testing.assert_allclose(train_xy(imblearn_resample(to, 'SMOTENC', seed=0))[0], Xr, rtol=1e-6)

def _small_class(n_c):
    "'c' has `n_c` train rows"
    df = _df(n=250, p=(.7, .3, 0.)).iloc[:200]
    extra = _df(n=60, seed=5).query("y == 'c'").iloc[:n_c]
    return _to(pd.concat([df.iloc[:150], extra, df.iloc[150:]], ignore_index=True).iloc[:150 + n_c + 50].reset_index(drop=True))

@pytest.mark.parametrize('cls, arg', [(ovs.SMOTE, 'k_neighbors'), (ovs.BorderlineSMOTE, 'k_neighbors'), (ovs.ADASYN, 'n_neighbors')])
def test_a_class_with_fewer_rows_than_neighbours(fits, cls, arg):
    "imbalanced-learn fails on a class with fewer than k_neighbors+1 rows; ours names the class, its rows and the fix"
    to = _small_class(4)
    X, y = _named_y(to)
    assert Counter(y)['c'] == 4
    try: assert Counter(cls(random_state=0).fit_resample(X, y)[1])['c'] == 4   # BorderlineSMOTE skips a class none of whose rows is in danger
    except ValueError: pass                                                   # ...and fails on one that has a row in danger
    fits.clear()
    with pytest.raises(ValueError, match=rf"{cls.__name__}\({arg}=5\) needs 6 train rows .*\{{'c': 4\}}; pass {arg}=3 or fewer"):
        imblearn_resample(to, cls.__name__)
    assert fits == []
    assert _ours(to, imblearn_resample(to, cls(**{arg: 3}, random_state=0))) == _ref(to, cls(**{arg: 3}, random_state=0))
    # a small class the strategy does not oversample is no obstacle, as in imbalanced-learn
    only_b = {'b': Counter(y)['a']}
    assert _ours(to, imblearn_resample(to, cls.__name__, sampling_strategy=only_b, seed=0)) == _ref(to, cls(sampling_strategy=only_b, random_state=0))

def test_a_class_of_one_row_points_to_random_oversampling():
    to = _small_class(1)
    with pytest.raises(ValueError, match='a class with a single row has no neighbour to interpolate with: use RandomOverSampler'):
        imblearn_resample(to, 'SMOTE')
    assert _ours(to, imblearn_resample(to, 'RandomOverSampler', seed=0)) == _ref(to, ovs.RandomOverSampler(random_state=0))

@pytest.mark.parametrize('labels', [(3, 5, 7), ('x', 'y', 'z'), (0, 1, 2)], ids=repr)
@pytest.mark.parametrize('cls', [us.RandomUnderSampler, ovs.SMOTE])
def test_int_and_string_labels_name_the_classes(labels, cls):
    "A label column of ints or strings: a dict names classes by the label values, as imbalanced-learn's does"
    df = _df(labels=labels)
    if isinstance(labels[0], int): df['y'] = df['y'].astype(int)
    to = _to(df)
    counts = Counter(_named_y(to)[1])
    strategy = ({labels[0]: counts[labels[0]] // 2, labels[1]: 20} if cls is us.RandomUnderSampler else
                {labels[2]: counts[labels[1]], labels[1]: counts[labels[0]]})
    assert _ours(to, imblearn_resample(to, cls.__name__, sampling_strategy=strategy, seed=0)) == _ref(to, cls(sampling_strategy=strategy, random_state=0))


# ---------------------------------------------------------------- cleaning samplers: sample_indices_ are real train rows
@pytest.mark.parametrize('sampler', [us.TomekLinks(), us.EditedNearestNeighbours(), us.EditedNearestNeighbours(sampling_strategy='all'),
                                     us.RandomUnderSampler(replacement=True, random_state=2), us.NearMiss(version=2)],
                         ids=repr)
def test_kept_rows_are_imblearns_sample_indices(to3, sampler):
    "check_samplers_sample_indices: the rows kept are imbalanced-learn's sample_indices_ (repeats included), rows of the train split"
    X, y = train_xy(to3)
    ref = clone(sampler); _, yr = ref.fit_resample(X, y)
    dls = imblearn_dataloaders(to3, sampler, bs=16)
    idx = dls.train.resampler.indices(0)
    np.testing.assert_array_equal(np.sort(idx), np.sort(ref.sample_indices_))
    assert idx.max() < to3.split
    np.testing.assert_array_equal(np.sort(y[idx]), np.sort(yr))
    np.testing.assert_allclose(np.sort(X[idx], axis=0), np.sort(np.asarray(ref.fit_resample(X, y)[0]), axis=0), rtol=1e-6)
    pd.testing.assert_frame_equal(dls.valid.items, to3.valid.items)
    for a, b in zip(dls.valid, to3.dataloaders(bs=16).valid):
        for u, v in zip(a, b): assert torch.equal(u, v)


# ---------------------------------------------------------------- test_pipeline.py / FunctionSampler: refused, saying what is accepted
@pytest.mark.parametrize('make', [lambda f: FunctionSampler(func=f), lambda f: FunctionSampler(func=f, validate=False),
                                  lambda f: make_pipeline(us.TomekLinks(), us.RandomUnderSampler(random_state=0))], ids=['func', 'novalidate', 'pipeline'])
def test_pipelines_and_function_samplers_are_refused_with_what_is_accepted(to3, make):
    called = []
    sampler = make(lambda X, y: called.append(1) or (X[:50], y[:50]))
    X, y = train_xy(to3)
    clone(sampler).fit_resample(X, y)   # imbalanced-learn runs it
    for kw in ({}, {'sampling_strategy': 'all'}):
        for f in (imblearn_resample, imblearn_dataloaders):
            with pytest.raises(ValueError, match=r"sampler must be one imbalanced-learn over-, under- or cleaning sampler .* apply it to train_xy\(to\) yourself"):
                f(to3, sampler, **kw)
    assert len(called) <= 1 and not hasattr(sampler, 'sampling_strategy_')   # only imbalanced-learn's own run above
