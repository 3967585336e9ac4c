"""Peers' own test cases for splitting, cross-validation folds and bootstrap intervals, run against ours.

- scikit-learn, sklearn/model_selection/tests/test_split.py: `train_test_split(stratify=)`, `StratifiedShuffleSplit`
  (against `stratified_split` / `StratifiedSplitter`) and `StratifiedKFold` / `RepeatedStratifiedKFold` (against
  `stratified_folds` and the comparison's `_cv_splits`).
- fastai, nbs/05_data.transforms.ipynb: `RandomSplitter`, `TrainTestSplitter`, `ColSplitter`, and splitters inside
  `DataBlock(splitter=...)`, `Datasets(splits=...)` and `TabularPandas(splits=...)`.
- scipy, scipy/stats/tests/test_resampling.py: `bootstrap` (percentile method against theory and on coverage,
  `paired=True`, `confidence_level`, degenerate data, `n_resamples`), against `paired_bootstrap` and `summarize`.

Where we deliberately differ from the peer, the test asserts our documented behaviour and says so. References are
computed here (by the peer itself where it is installed), never typed in.
"""
import warnings
from itertools import permutations

import numpy as np, pandas as pd, pytest, torch
from scipy import stats
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit, train_test_split
from fastai.data.block import CategoryBlock, DataBlock, TransformBlock
from fastai.data.core import Datasets
from fastai.data.transforms import Categorize, ColReader, ColSplitter, RandomSplitter, TrainTestSplitter
from fastai.tabular.core import TabularPandas
from fastcore.foundation import L

from imbalance_fastai.core import Labels
from imbalance_fastai.data import StratifiedSplitter, stratified_split
from imbalance_fastai.scores import Predictions, stratified_folds, _class_counts, _warn_rare
from imbalance_fastai.compare import InputError, _cv_splits
from imbalance_fastai.verdict import paired_bootstrap, summarize

torch.set_num_threads(1)


def _check_partition(trn, val, n):
    "No overlap, every row in one part (sklearn's overlap and complete-partition checks)"
    trn, val = np.asarray(trn), np.asarray(val)
    assert len(np.intersect1d(trn, val)) == 0
    np.testing.assert_array_equal(np.union1d(trn, val), np.arange(n))
    assert len(trn) + len(val) == n


def _n_valid(valid_pct, n):
    """Our documented validation size: ceil(valid_pct*n), sklearn's `train_test_split` and fastai's `TrainTestSplitter`
    count, except where the float product is a hair off a whole number (0.07*100 = 7.000000000000001 means 7)"""
    x = valid_pct * n
    return round(x) if abs(x - round(x)) < 1e-9 else int(np.ceil(x))


# ----------------------------------------------------------------------------------------------------------------
# scikit-learn: train_test_split(stratify=) and StratifiedShuffleSplit
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('valid_pct', [0.25, 0.5, 0.75])
def test_train_test_split_stratify_sizes_and_ratio(valid_pct):
    "test_train_test_split: y = four 1s and four 2s; the test size is sklearn's, and the train part keeps the 1:1 ratio"
    y = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    _, ref = train_test_split(y, test_size=valid_pct, stratify=y, random_state=0)
    trn, val = stratified_split(y, valid_pct, seed=0)
    assert len(val) == len(ref) and len(trn) + len(val) == len(y)
    assert (y[trn] == 1).sum() == (y[trn] == 2).sum()


def test_sizes_are_shares_not_counts():
    """sklearn's test_size may be an int count (test_size=2); ours is fastai's valid_pct, a share in [0, 1): a count is
    refused with the fix, at build time (deliberate: the name says what it is)"""
    y = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    assert len(train_test_split(y, test_size=2, stratify=y, random_state=0)[1]) == 2   # the peer's reading
    with pytest.raises(ValueError, match=r'valid_pct must be in \[0,1\), got 2'): stratified_split(y, 2)
    with pytest.raises(ValueError, match=r'valid_pct must be in \[0,1\), got 2'): StratifiedSplitter(2)


# the label vectors of sklearn's test_stratified_shuffle_split_iter
_YS = [np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]), np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]),
       np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2] * 2), np.array([1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]),
       np.array([-1] * 800 + [1] * 50), np.concatenate([[i] * (100 + i) for i in range(11)]),
       [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], ['1', '1', '1', '1', '2', '2', '2', '3', '3', '3', '3', '3']]


@pytest.mark.parametrize('i', range(len(_YS)))
def test_stratified_shuffle_split_iter(i):
    """Every class in both parts, the parts' class shares equal to 1 decimal, no overlap, every row covered, for six
    seeds; the test size ceil(0.33*n), and each class's count within one of sklearn's own split."""
    y = np.asanyarray(_YS[i])
    sss = StratifiedShuffleSplit(1, test_size=0.33, random_state=0).split(np.ones(len(y)), y)
    ref = np.unique(y[next(sss)[1]], return_counts=True)[1]
    for seed in range(6):
        trn, val = stratified_split(_YS[i], 0.33, seed=seed)
        np.testing.assert_array_equal(np.unique(y[trn]), np.unique(y[val]))
        p_trn = np.unique(y[trn], return_counts=True)[1] / len(trn)
        p_val = np.unique(y[val], return_counts=True)[1] / len(val)
        np.testing.assert_array_almost_equal(p_trn, p_val, 1)
        _check_partition(trn, val, len(y))
        assert len(val) == np.ceil(0.33 * len(y)) == ref.sum() and len(trn) == len(y) - ref.sum()
        assert np.abs(np.unique(y[val], return_counts=True)[1] - ref).max() <= 1


@pytest.mark.parametrize('n', [6, 22])
def test_stratified_shuffle_split_even(n):
    """Every index is drawn into validation with the same chance (sklearn's test_stratified_shuffle_split_even, 1000
    splits, each count's binomial probability above 0.05/1000). 22 rows at 0.2: 5 rows, 2.2 of each class's 11: which
    class rounds up must be drawn at random, or rounding each class on its own gives every row a chance 2/11 or 3/11."""
    y = np.array((n // 2) * [0, 1])
    splits = 1000
    ref = next(StratifiedShuffleSplit(1, test_size=0.2, random_state=0).split(np.ones(n), y))[1]   # sklearn's test size
    trn_counts, val_counts = np.zeros(n), np.zeros(n)
    for s in range(splits):
        trn, val = stratified_split(y, 0.2, seed=s)
        assert len(val) == len(ref) and len(trn) == n - len(ref)
        trn_counts[trn] += 1; val_counts[val] += 1
    for counts, p in ((trn_counts, 1 - len(ref) / n), (val_counts, len(ref) / n)):
        assert (stats.binom(splits, p).pmf(counts) > 0.05 / splits).all(), (counts, p)


def test_stratified_shuffle_split_overlap_train_test_bug():
    y = [0, 1, 2, 3] * 3 + [4, 5] * 5
    trn, val = stratified_split(y, 0.5, seed=0)
    _check_partition(trn, val, len(y))


@pytest.mark.parametrize('y', [np.array([[0, 1], [1, 0], [1, 0], [0, 1]]), np.array([[0, 1], [1, 1], [1, 1], [0, 1]])])
def test_stratified_shuffle_split_multilabel(y):
    """Multi-label rows (a multi-hot matrix): sklearn stratifies by the whole row, we by each row's rarest label; on
    sklearn's cases (y[:, 0] determines the row) both give each part the data's share of label 0"""
    for seed in range(5):
        trn, val = stratified_split(y, 0.5, seed=seed)
        _check_partition(trn, val, len(y))
        assert y[:, 0].mean() == y[trn, 0].mean() == y[val, 0].mean()


def test_stratified_shuffle_split_multilabel_many_labels():
    "1006 labels (sklearn's fix for rows whose str() is truncated): y[:, 4] determines the row; its share is kept in both parts"
    y = np.array([[1, 0, 1] + [0] * 1000 + [1, 0, 1]] * 10 + [[1, 0, 1] + [1] * 1000 + [1, 0, 1]] * 100)
    trn, val = stratified_split(y, 0.5, seed=0)
    assert y[:, 4].mean() == y[trn, 4].mean() == y[val, 4].mean()


def test_multi_label_lists_are_stratified_by_their_rarest_label():
    "Lists of tags: the rare tag's rows are split at valid_pct like a class, and every tag keeps train rows"
    y = [['a']] * 60 + [['a', 'b']] * 20 + [['c']] * 10 + [['b', 'c']] * 10
    trn, val = stratified_split(y, 0.2, seed=0)
    _check_partition(trn, val, len(y))
    assert len(val) == 20
    tags = lambda idx: pd.Series([t for i in idx for t in y[i]]).value_counts()
    # rarest tags: 'b' (30 rows) and 'c' (20): rows [a, b] and [b, c] go by 'b', [c] by 'c'; each group sends 20%
    assert tags(val)['b'] == 0.2 * 30 and tags(val)['c'] == 0.2 * 10 + 0.2 * 10 and set(tags(trn).index) == {'a', 'b', 'c'}


def test_a_class_of_one_row_warns_and_stays_in_train():
    """sklearn's test_stratified_shuffle_split_init: a class with one row is a ValueError there. Ours keeps it in train
    and warns (deliberate, documented: every class keeps a train row; the house style warns for a class of one row)"""
    y = np.array([0, 1, 1, 1, 2, 2, 2])
    with pytest.raises(ValueError): next(StratifiedShuffleSplit(3, test_size=0.2).split(np.arange(7), y))
    with pytest.warns(UserWarning, match=r'1 of 3 classes have a single row \(0\): each stays in train'):
        trn, val = stratified_split(y, 0.5, seed=0)
    assert 0 in set(y[trn]) and 0 not in set(y[val])
    _check_partition(trn, val, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        stratified_split(np.array([0, 0, 1, 1, 1]), 0.4, seed=0)   # no class of one row: no warning


def test_every_class_keeps_a_train_row_where_sklearn_would_empty_one():
    "valid_pct=0.75 on classes of 2 rows: sklearn may send both rows of a class to test; we always keep one in train"
    y = np.repeat(np.arange(8), 2)
    for s in range(20):
        trn, val = stratified_split(y, 0.75, seed=s)
        assert set(y[trn]) == set(range(8)) and len(val) == 8   # 12 asked for, at most one per class possible


def test_reproducible_with_a_seed_and_different_without():
    "sklearn's test_shufflesplit_reproducible and fastai's seed consistency; different seeds give different splits"
    y = np.repeat(['a', 'b', 'c'], [50, 30, 20])
    a, b = stratified_split(y, 0.2, seed=7), stratified_split(y, 0.2, seed=7)
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    assert len({tuple(np.sort(stratified_split(y, 0.2, seed=s)[1])) for s in range(10)}) == 10
    np.random.seed(0); c = stratified_split(y, 0.2)
    np.random.seed(0); d = stratified_split(y, 0.2)       # seed=None: numpy's global seed, as documented
    assert np.array_equal(c[1], d[1])


def test_list_and_string_and_float_labels_split_alike():
    "sklearn's test_stratifiedshufflesplit_list_input / test_train_test_split_list_input: the same split for '1'/'0', 1./0. and a list"
    y1 = ['1'] * 4 + ['0'] * 3
    y2 = np.hstack((np.ones(4), np.zeros(3)))
    y3 = y2.tolist()
    s1, s2, s3 = (stratified_split(y, 0.3, seed=42) for y in (y1, y2, y3))
    for a, b in ((s1, s2), (s3, s2)):
        assert all(np.array_equal(x, z) for x, z in zip(a, b))


def test_renamed_classes_give_the_same_split():
    "As sklearn's label-invariance test for its folds: permuting the class names keeps the split (ties too: 5 equal classes)"
    y = np.repeat(np.arange(5), 7)   # 0.2 * 7 = 1.4 rows each: 7 rows in all, two classes round up, drawn at random
    base = stratified_split(y, 0.2, seed=3)
    for perm in permutations(range(5)):
        got = stratified_split(np.take(perm, y), 0.2, seed=3)
        assert all(np.array_equal(x, z) for x, z in zip(got, base)), perm


def test_pandas_categorical_and_series_labels():
    "A Categorical with an unused category and categories out of order, and a Series with its own index: positions come back"
    cat = pd.Categorical(['b'] * 30 + ['a'] * 10, categories=['z', 'b', 'a'])
    s = pd.Series(np.asarray(cat), index=np.arange(100, 140))
    for y in (cat, pd.Series(cat), s):
        trn, val = stratified_split(y, 0.25, seed=0)
        _check_partition(trn, val, 40)
        assert pd.Series(np.asarray(cat)[val]).value_counts().to_dict() == {'b': 7, 'a': 3}   # 7.5 and 2.5 of int(10): one rounds up
    int_y = np.r_[np.full(30, 10), np.full(10, 20)]
    assert all(np.array_equal(x, z) for x, z in zip(stratified_split(int_y, 0.25, seed=0), stratified_split(s, 0.25, seed=0)))


def test_total_is_sklearn_test_count_and_each_class_within_one_of_its_share():
    """Many class profiles and valid_pct: the validation split has train_test_split's ceil(valid_pct*n) rows (computed
    by sklearn itself), one more than RandomSplitter's int(valid_pct*n) where valid_pct*n is fractional, and each class
    sends valid_pct*n_c rounded down or up (no class's share missed by a row or more), wherever the keep-one-in-train
    rule does not bind"""
    rng = np.random.default_rng(0)
    for _ in range(150):
        counts = rng.integers(2, 40, rng.integers(2, 8))
        p = float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.3, 1 / 3, 0.5]))
        y = np.repeat(np.arange(len(counts)), counts)
        trn, val = stratified_split(y, p, seed=int(rng.integers(1 << 30)))
        if np.all(np.ceil(counts * p) <= counts - 1):
            n_sk = len(train_test_split(np.arange(len(y)), test_size=p, random_state=0)[1])   # its count (stratified, it refuses fewer test rows than classes)
            n_rs = len(RandomSplitter(p, seed=0)(range(len(y)))[1])
            assert len(val) == _n_valid(p, len(y)) and (len(val) == n_sk or abs(p * len(y) - round(p * len(y))) < 1e-9)
            assert len(val) - n_rs in (0, 1)
            assert (np.abs(np.bincount(y[val], minlength=len(counts)) - counts * p) < 1).all(), (counts, p)
        _check_partition(trn, val, len(y))


def test_float_quirks_are_not_ours():
    """fastai's int(0.29*100) is 28 (the float is 28.999999999999996) and sklearn's ceil(0.07*100) is 8 (the float is
    7.000000000000001); we send 29 and 7 rows, 29% and 7% of 100 (deliberate)"""
    assert len(RandomSplitter(0.29, seed=0)(range(100))[1]) == 28
    assert len(train_test_split(range(100), test_size=0.07, random_state=0)[1]) == 8
    assert len(stratified_split(np.repeat([0, 1], 50), 0.29, seed=0)[1]) == 29
    assert len(stratified_split(np.repeat([0, 1], 50), 0.07, seed=0)[1]) == 7


# ----------------------------------------------------------------------------------------------------------------
# fastai: RandomSplitter, TrainTestSplitter, ColSplitter; splitters in DataBlock, Datasets and TabularPandas
# ----------------------------------------------------------------------------------------------------------------

def test_random_splitter_cases():
    "fastai's RandomSplitter test: 30 items; two lists of ints, disjoint, complementary, the same for the same seed"
    src = list(range(30))
    labels = [0] * 20 + [1] * 10
    f = StratifiedSplitter(seed=42, get_y=lambda o: labels[o])
    trn, val = f(src)
    assert isinstance(trn, L) and isinstance(val, L) and all(type(i) is int for i in trn + val)   # python ints, as fastai's
    assert 0 < len(trn) < len(src)
    assert all(o not in val for o in trn)
    assert len(trn) == len(src) - len(val)
    assert f(src)[0] == trn                                   # seed consistency
    assert len(val) == len(RandomSplitter(seed=42)(src)[1])   # valid_pct=0.2 of 30: RandomSplitter's count (a whole number)


def test_train_test_splitter_cases():
    "fastai's TrainTestSplitter test: labels 20 zeros and 10 ones at 0.2: exactly 20% of each class in validation"
    src = list(range(30))
    labels = [0] * 20 + [1] * 10
    ref_trn, ref_val = TrainTestSplitter(test_size=0.2, random_state=42, stratify=labels)(src)
    trn, val = StratifiedSplitter(0.2, seed=42, get_y=lambda o: labels[o])(src)
    assert 0 < len(trn) < len(src) and all(o not in val for o in trn) and len(trn) == len(src) - len(val)
    assert len([t for t in val if t < 20]) / 20 == 0.2 and len([t for t in val if t >= 20]) / 10 == 0.2
    assert sorted(np.bincount(np.asarray(labels)[list(val)])) == sorted(np.bincount(np.asarray(labels)[list(ref_val)]))
    # labels as the items themselves (get_y=None) give the same split
    assert StratifiedSplitter(0.2, seed=42)(labels) == (trn, val)


def test_col_splitter_like_column_access():
    "ColSplitter reads a column by name or position (col=1: iloc); get_y does the same, and the lists compare equal to lists"
    df = pd.DataFrame({'a': [0, 1, 2, 3, 4, 5, 6, 7], 'b': ['x', 'x', 'y', 'y', 'x', 'y', 'x', 'y']})
    assert [list(o) for o in ColSplitter('b', on='y')(df)] == [[0, 1, 4, 6], [2, 3, 5, 7]]   # the peer's two lists of ints
    by_name, by_pos = StratifiedSplitter(0.5, seed=0, get_y='b')(df), StratifiedSplitter(0.5, seed=0, get_y=1)(df)
    assert by_name == by_pos and by_name == (list(by_name[0]), list(by_name[1]))
    assert df.b.iloc[list(by_name[1])].value_counts().to_dict() == {'x': 2, 'y': 2}
    with pytest.raises(ValueError, match=r"StratifiedSplitter\(get_y=5\): no such column; the columns are \['a', 'b'\]"):
        StratifiedSplitter(0.5, get_y=5)(df)


def test_col_reader_reads_the_column_at_once_and_matches_a_function():
    "A ColReader get_y (fastai's usual) gives the split a function of the row gives; label_delim makes it multi-label"
    df = pd.DataFrame({'y': ['a'] * 40 + ['b'] * 10, 'tags': ['p'] * 30 + ['p q'] * 15 + [''] * 5})
    assert StratifiedSplitter(0.2, seed=0, get_y=ColReader('y'))(df) == StratifiedSplitter(0.2, seed=0, get_y=lambda r: r['y'])(df)
    got = StratifiedSplitter(0.2, seed=0, get_y=ColReader('tags', label_delim=' '))(df)
    ref = StratifiedSplitter(0.2, seed=0, get_y=lambda r: r['tags'].split(' ') if r['tags'] else [])(df)
    assert got == ref and len(got[1]) == 10


def _frame(n=(60, 25, 5), seed=0):
    y = np.repeat([f'c{i}' for i in range(len(n))], n)
    return pd.DataFrame({'x': np.random.default_rng(seed).normal(size=len(y)).astype(np.float32), 'y': y})


def test_usable_as_datablock_and_datasets_splitter():
    "DataBlock(splitter=...) and Datasets(splits=...): fastai's splits are ours, every class in train, the vocab whole"
    df = _frame()
    splitter = StratifiedSplitter(0.2, seed=0, get_y='y')
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=ColReader('x'), get_y=ColReader('y'), splitter=splitter)
    dsets = dblock.datasets(df)
    assert [list(s) for s in dsets.splits] == [list(s) for s in splitter(df)]
    assert len(dsets.train) + len(dsets.valid) == len(df) and list(dsets.vocab) == ['c0', 'c1', 'c2']
    assert set(df.y.iloc[list(dsets.splits[0])]) == {'c0', 'c1', 'c2'}
    ds = Datasets(df, [[ColReader('x')], [ColReader('y'), Categorize()]], splits=splitter(df))
    assert (len(ds.train), len(ds.valid)) == (len(df) - 18, 18)


def test_usable_as_tabular_pandas_splits():
    "TabularPandas(splits=...) takes our lists: its train and valid rows are ours, with the class counts we chose"
    df = _frame()
    trn, val = StratifiedSplitter(0.2, seed=0, get_y='y')(df)
    to = TabularPandas(df, cont_names=['x'], y_names='y', splits=(trn, val))
    assert list(to.train.items.index) == list(df.index[list(trn)]) and list(to.valid.items.index) == list(df.index[list(val)])
    assert df.y.iloc[list(val)].value_counts().to_dict() == {'c0': 12, 'c1': 5, 'c2': 1}


# ----------------------------------------------------------------------------------------------------------------
# scikit-learn: StratifiedKFold / RepeatedStratifiedKFold, against stratified_folds and the comparison's folds
# ----------------------------------------------------------------------------------------------------------------

def _splits(y, k, seed=0):
    f = stratified_folds(y, k, seed=seed)
    return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in range(k)]


def _check_cv_coverage(splits, n, k):
    "sklearn's check_cv_coverage: k splits, train and test disjoint and covering, every row tested exactly once"
    assert len(splits) == k
    tested = np.zeros(n, int)
    for trn, tst in splits:
        _check_partition(trn, tst, n)
        tested[tst] += 1
    assert (tested == 1).all()


@pytest.mark.parametrize('k', [4, 5, 6, 7, 8, 9, 10])
def test_stratified_kfold_ratios(k):
    "Each fold keeps the class ratios (10% / 89% / 1% of 1000 rows) within 0.02, train and test; fold sizes within one"
    n = 1000
    y = np.array([4] * int(0.10 * n) + [0] * int(0.89 * n) + [1] * int(0.01 * n))
    distr = np.bincount(y) / len(y)
    sizes = []
    for trn, tst in _splits(y, k):
        np.testing.assert_allclose(np.bincount(y[trn], minlength=5) / len(trn), distr, atol=0.02)
        np.testing.assert_allclose(np.bincount(y[tst], minlength=5) / len(tst), distr, atol=0.02)
        sizes.append(len(tst))
    assert np.ptp(sizes) <= 1
    _check_cv_coverage(_splits(y, k), n, k)


@pytest.mark.parametrize('k', [4, 6, 7])
def test_stratified_kfold_label_invariance(k):
    "The same folds whatever the classes are called (sklearn: for every permutation of the labels)"
    n = 100
    y = np.array([2] * int(0.10 * n) + [0] * int(0.89 * n) + [1] * int(0.01 * n))
    base = stratified_folds(y, k, seed=0)
    for perm in permutations([0, 1, 2]):
        np.testing.assert_array_equal(stratified_folds(np.take(perm, y), k, seed=0), base)
    np.testing.assert_array_equal(stratified_folds(np.take(['b', 'c', 'a'], y), k, seed=0), base)   # names, not codes


def test_each_class_spread_to_within_one_row_per_fold():
    "Each test fold's count of each class differs by at most one across folds (the point of stratification)"
    rng = np.random.default_rng(0)
    for _ in range(30):
        y = rng.integers(0, 6, rng.integers(30, 300)) ** 2   # uneven classes, int codes 0, 1, 4, ...
        k = int(rng.integers(2, 11))
        f = stratified_folds(y, k, seed=int(rng.integers(1 << 30)))
        for c in np.unique(y):
            cnt = np.bincount(f[y == c], minlength=k)
            assert np.ptp(cnt) <= 1, (c, cnt)
        assert np.ptp(np.bincount(f, minlength=k)) <= 1


def test_stratifiedkfold_balance():
    "Fold sizes differ by at most one and sum to n: y = 3 zeros and 14 ones, the first i rows, i in 11..16"
    y = np.array([0] * 3 + [1] * 14)
    for i in range(11, 17):
        sizes = [len(t) for _, t in _splits(y[:i], 3)]
        assert np.ptp(sizes) <= 1 and sum(sizes) == i


def test_shuffle_stratifiedkfold():
    "Different seeds shuffle differently (fold by fold, and as sets of test folds); full coverage"
    y = np.array([0] * 20 + [1] * 20)
    for (_, t0), (_, t1) in zip(_splits(y, 5, seed=0), _splits(y, 5, seed=1)):
        assert set(t0) != set(t1)
    _check_cv_coverage(_splits(y, 5, seed=0), 40, 5)
    y = np.array([0] * 5 + [1] * 5)
    assert sorted(tuple(t) for _, t in _splits(y, 5, seed=0)) != sorted(tuple(t) for _, t in _splits(y, 5, seed=1))


def test_shuffle_stratifiedkfold_reproducibility():
    "The same seed, the same folds, call after call (15 rows divisible by 3, and 16 not)"
    for y in ([0] * 7 + [1] * 8, [0] * 8 + [1] * 8):
        np.testing.assert_array_equal(stratified_folds(y, 3, seed=0), stratified_folds(y, 3, seed=0))


def test_repeated_stratified_kfold():
    "The comparison's repeated folds: n_splits x n_repeats splits; each repeat tests every row once; repeats differ; reproducible"
    codes = np.repeat([0, 1, 2], [30, 12, 5])
    splits = _cv_splits(codes, 3, [0, 1, 2])
    assert len(splits) == 9 and [(r, k) for r, k, _, _ in splits] == [(r, k) for r in range(3) for k in range(3)]
    for r in range(3):
        _check_cv_coverage([(t, v) for rr, _, t, v in splits if rr == r], len(codes), 3)
    parts = [frozenset(frozenset(v.tolist()) for rr, _, _, v in splits if rr == r) for r in range(3)]
    assert len(set(parts)) == 3
    again = _cv_splits(codes, 3, [0, 1, 2])
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(splits, again))


def test_kfold_value_errors():
    "sklearn: n_splits 0 or 1 is a ValueError, 1.5 and 2.0 too; multi-label targets are refused. Ours: the same, a float is a TypeError"
    y = np.array([0, 0, 0, 1, 1, 1])
    for k in (0, 1, 7):
        with pytest.raises(ValueError, match='folds must be between 2 and the number of rows'): stratified_folds(y, k)
    for k in (1.5, 2.0):
        with pytest.raises(ValueError): StratifiedKFold(k)
        with pytest.raises(TypeError, match='folds must be a whole number of folds'): stratified_folds(y, k)
    multi = Labels(np.array([[1, 0], [0, 1], [1, 1], [1, 0]]), ['a', 'b'])
    with pytest.raises(ValueError, match='Supported target types'): next(StratifiedKFold(2).split(np.ones(4), multi.codes))
    with pytest.raises(ValueError, match='stratified_folds is for single-label data'): stratified_folds(multi, 2)


def test_more_folds_than_rows_of_a_class():
    """sklearn warns when n_splits exceeds the smallest class and refuses when every class is smaller. We differ
    deliberately (documented): the comparison pools every row's out-of-fold prediction, so stratified_folds stays silent,
    every row is still tested once and every train fold keeps the class; compare_strategies warns about the class as
    one with few scored rows, and refuses a class of one row."""
    y = np.array([0] * 30 + [1] * 3)
    with pytest.warns(UserWarning, match='The least populated class in y has only 3 members'):
        list(StratifiedKFold(5).split(np.ones(len(y)), y))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        splits = _splits(y, 5)
    _check_cv_coverage(splits, len(y), 5)
    assert all((y[trn] == 1).sum() >= 2 for trn, _ in splits)
    cv = _cv_splits(y, 5, [0])
    with pytest.warns(UserWarning, match=r"few rows to score in classes '1' \(3\)"):
        _warn_rare(_class_counts(y, [0, 1], cv), 20, 'cv')
    # every class smaller than the folds (sklearn: ValueError): still a valid cross-validation here
    small = np.array([0, 0, 1, 1, 2, 2])
    _check_cv_coverage(_splits(small, 3), 6, 3)
    with pytest.raises(ValueError): list(StratifiedKFold(3).split(np.ones(6), np.array([3, 3, -1, -1, 2])))
    with pytest.raises(InputError, match=r"classes with a single row cannot be cross-validated .*\['z'\]"):
        _cv_splits(np.array([0, 0, 0, 1]), 2, [0], vocab=['a', 'z'])


# ----------------------------------------------------------------------------------------------------------------
# scipy: stats.bootstrap, against paired_bootstrap and summarize
# ----------------------------------------------------------------------------------------------------------------
# A strategy's per-row log-loss is -log(p of the true class), so probabilities exp(-x) make its log-loss the mean of x:
# with every target in one class, the stratified bootstrap of the log-loss is the ordinary bootstrap of a mean.

def _preds(n, **losses):
    pr = Predictions(np.zeros(n, int), ['a', 'b'])
    for nm, x in losses.items():
        p = np.exp(-np.asarray(x, np.float64))
        pr.add(nm, 0, np.arange(n), np.c_[p, 1 - p], np.zeros(n, int))
    return pr


def _runs(pr, metric='log_loss'):
    runs = pd.DataFrame({'strategy': pr.strategies, 'epochs': 1, 'seconds': 0.})
    runs.attrs.update(vocab=pr.vocab, minority=['b'], metric=metric, predictions=pr, mode='cv', folds=5, repeats=1)
    return runs


def _mean_loss(pr, nm):
    """Each row's log-loss as our scorer sees it: the probabilities stored as float32, a row rescaled only where its sum is
    off 1 by more than float32 rounding (as scikit-learn leaves rows that sum to 1), clipped to 1 (a negative x)"""
    P = pr.probs[(nm, 0)].astype(np.float64)
    s = P.sum(1)
    return -np.log(np.clip(np.where(np.abs(s - 1) > 1e-6, P[:, 0] / s, P[:, 0]), 1e-15, 1))


def test_bootstrap_against_theory():
    """Normal data (mean 5, sd 2, n=2000): the 95% percentile interval is the t interval and the bootstrap sd the
    standard error (scipy's test_bootstrap_against_theory). Tolerances in standard errors: a 2.5% quantile of 4000
    resamples has Monte-Carlo sd about 0.04 se, so 0.15 se is near 4 sd; the sd of the resampled means has sd
    se/sqrt(2*4000), 1.1% of se, so 5% is over 4 sd."""
    rng = np.random.default_rng(2442101192988600726)
    x = stats.norm.rvs(loc=5, scale=2, size=2000, random_state=rng)
    pr = _preds(len(x), plain=x)
    x32 = _mean_loss(pr, 'plain')
    dist = stats.t(df=len(x32) - 1, loc=np.mean(x32), scale=stats.sem(x32))
    s = summarize(_runs(pr), n_boot=4000, seed=1)
    se = stats.sem(x32)
    np.testing.assert_allclose(s.loc['plain', ['lo', 'hi']].to_numpy(float), dist.interval(0.95), atol=0.15 * se)
    boot = paired_bootstrap(pr, 'log_loss', n_boot=4000, seed=1)['plain'][1]
    np.testing.assert_allclose(boot.std(ddof=1), dist.std(), rtol=0.05)
    assert s.loc['plain', 'log_loss'] == pytest.approx(x32.mean(), rel=1e-9)   # the point estimate: the statistic itself
    ref = stats.bootstrap((x32,), np.mean, n_resamples=4000, method='percentile', rng=2).confidence_interval
    np.testing.assert_allclose(s.loc['plain', ['lo', 'hi']].to_numpy(float), [ref.low, ref.high], atol=0.2 * se)   # two MC draws: sd 0.06 se


@pytest.mark.parametrize('level', [0.8, 0.9, 0.99])
def test_confidence_level(level):
    """confidence_level: summarize's interval is the (1-level)/2 and (1+level)/2 quantiles of the very resamples
    paired_bootstrap draws, agrees with scipy's percentile interval at that level (0.2 se: two Monte-Carlo draws of
    2000 resamples; a 0.5% quantile's sd is about 0.09 se, hence 0.35 se at 0.99), and widens with the level"""
    rng = np.random.default_rng(0)
    x = rng.normal(5, 1, 400)
    pr = _preds(len(x), plain=x)
    x32, se = _mean_loss(pr, 'plain'), stats.sem(_mean_loss(pr, 'plain'))
    s = summarize(_runs(pr), n_boot=2000, seed=3, level=level)
    b = paired_bootstrap(pr, 'log_loss', n_boot=2000, seed=3)['plain'][1]
    lo, hi = s.loc['plain', ['lo', 'hi']].to_numpy(float)
    np.testing.assert_allclose([lo, hi], np.quantile(b, [(1 - level) / 2, (1 + level) / 2]), rtol=1e-12)
    ref = stats.bootstrap((x32,), np.mean, n_resamples=2000, confidence_level=level, method='percentile', rng=4).confidence_interval
    np.testing.assert_allclose([lo, hi], [ref.low, ref.high], atol=(0.35 if level > 0.95 else 0.2) * se)
    wider = summarize(_runs(pr), n_boot=2000, seed=3, level=min(level + 0.05, 0.995))
    assert wider.loc['plain', 'lo'] < lo and wider.loc['plain', 'hi'] > hi
    assert s.attrs['level'] == level and s.attrs['diff_level'] == pytest.approx(level)


def test_percentile_coverage_of_a_normal_mean():
    """scipy's test_bootstrap_against_itself_1samp: n=100 rows of N(5, 1), 999 resamples, a 90% percentile interval,
    2000 replications; the count of intervals holding the true mean 5 is consistent with 90% (binomial test). Here 40
    calls of 50 strategies each (a call's strategies share their resamples, not their data: given the resamples their
    hits are independent, and the share a set of 999 resamples covers varies far less than the binomial noise). With fixed seeds the test
    is deterministic; p > 0.01 fails an exact 90% interval in 1% of seeds, and an interval at the wrong level (the
    95% one, or the 80% one) in practically all: at 2000 replications the count's sd is 13, and those levels move
    it by about 100."""
    rng = np.random.default_rng(9123847)
    hits = n_rep = 0
    for call in range(40):
        data = rng.normal(5, 1, (50, 100))
        bt = paired_bootstrap(_preds(100, **{f's{i}': d for i, d in enumerate(data)}), 'log_loss', n_boot=999, seed=call)
        lo, hi = np.quantile(np.stack([b for _, b in bt.values()]), [0.05, 0.95], axis=1)   # summarize's lo, hi (test_confidence_level)
        hits += int(((lo < 5) & (5 < hi)).sum()); n_rep += len(bt)
    assert n_rep == 2000
    assert stats.binomtest(hits, n_rep, 0.9).pvalue > 0.01, hits


def test_paired_bootstrap_is_paired():
    """scipy's paired=True: the same rows resampled for both samples. Two strategies with highly correlated per-row
    losses: our difference interval agrees with scipy's paired percentile interval of the difference of means (0.2 se
    of the paired difference, two Monte-Carlo draws) and is far narrower than the unpaired one (by sd(x-y)/sd(x)-ish)"""
    rng = np.random.default_rng(5)
    x = rng.normal(5, 1, 1000)
    y = x + rng.normal(0.05, 0.1, 1000)
    pr = _preds(len(x), plain=x, other=y)
    xp, yp = _mean_loss(pr, 'plain'), _mean_loss(pr, 'other')
    s = summarize(_runs(pr), n_boot=4000, seed=0)
    lo, hi = s.loc['other', ['diff_lo', 'diff_hi']].to_numpy(float)
    stat = lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis)
    ref = stats.bootstrap((yp, xp), stat, paired=True, n_resamples=4000, method='percentile', rng=1).confidence_interval
    se_d = stats.sem(yp - xp)
    np.testing.assert_allclose([lo, hi], [ref.low, ref.high], atol=0.2 * se_d)
    unpaired = stats.bootstrap((yp, xp), stat, paired=False, n_resamples=2000, method='percentile', rng=1).confidence_interval
    assert (hi - lo) < 0.2 * (unpaired.high - unpaired.low)
    assert s.loc['other', 'vs_plain'] == 'worse'   # log-loss is lower-better; the other strategy's is 0.05 higher, 16 se_d


def test_simultaneous_interval_of_one_strategy_is_its_percentile_interval():
    "With one strategy besides plain, the simultaneous interval is the plain percentile interval of the paired differences"
    rng = np.random.default_rng(6)
    x = rng.normal(3, 1, 300)
    pr = _preds(len(x), plain=x, other=x + rng.normal(0, 0.3, 300))
    joint, alone = summarize(_runs(pr), n_boot=1500, seed=2), summarize(_runs(pr), n_boot=1500, seed=2, simultaneous=False)
    bt = paired_bootstrap(pr, 'log_loss', n_boot=1500, seed=2)
    ref = np.quantile(bt['other'][1] - bt['plain'][1], [0.025, 0.975])
    for s in (joint, alone):
        np.testing.assert_allclose(s.loc['other', ['diff_lo', 'diff_hi']].to_numpy(float), ref, rtol=1e-12)
    assert joint.attrs['family'] == 1 and joint.attrs['diff_level'] == pytest.approx(0.95)


def test_bootstrap_degenerate():
    "scipy: data all equal, the interval is that value and the standard error 0. Ours: every score, and every difference"
    y = np.r_[np.zeros(30, int), np.ones(5, int)]
    pr = Predictions(y, ['a', 'b'])
    for nm in ('plain', 'same'): pr.add(nm, 0, np.arange(len(y)), np.eye(2)[y] * .8 + .1, y)   # every decision right
    s = summarize(_runs(pr, 'balanced_accuracy'), n_boot=500)
    assert (s.lo == 1).all() and (s.hi == 1).all() and (s.balanced_accuracy == 1).all()
    assert (s['diff'] == 0).all() and (s.diff_lo == 0).all() and (s.diff_hi == 0).all() and (s.vs_plain == '').all()
    bt = paired_bootstrap(pr, 'balanced_accuracy', n_boot=500)
    assert bt['plain'][1].std() == 0
    const = _preds(35, plain=np.full(35, 2.), same=np.full(35, 2.))
    s = summarize(_runs(const), n_boot=200)
    np.testing.assert_allclose(s[['log_loss', 'lo', 'hi']].to_numpy(float), np.full((2, 3), _mean_loss(const, 'plain')[0]), rtol=1e-12)
    assert np.ptp(paired_bootstrap(const, 'log_loss', n_boot=200)['plain'][1]) <= 1e-12
    assert (s.diff_lo == 0).all() and (s.diff_hi == 0).all()


@pytest.mark.parametrize('n_boot', [1, 7, 801])
def test_n_resamples(n_boot):
    "n_resamples: as many resampled scores as asked, across the internal chunks (5000 rows: 800 resamples a chunk), with repeats too"
    rng = np.random.default_rng(0)
    x = rng.normal(5, 1, 5000)
    pr = _preds(5000, plain=x, other=x + 1)
    bt = paired_bootstrap(pr, 'log_loss', n_boot=n_boot, seed=0)
    assert all(len(b) == n_boot for _, b in bt.values())
    for r in (1, 2):
        for nm in ('plain', 'other'): pr.add(nm, r, np.arange(5000), pr.probs[(nm, 0)], pr.decisions[(nm, 0)])
    a, b = (paired_bootstrap(pr, 'log_loss', n_boot=n_boot, seed=0) for _ in range(2))   # 3 repeats: the repeats drawn too
    assert all(len(a[k][1]) == n_boot and np.array_equal(a[k][1], b[k][1]) for k in a)   # a seed reproduces the resamples


def test_bootstrap_argument_errors():
    "scipy: n_resamples negative or fractional, and a confidence_level that is no number, are ValueErrors; ours too, naming the fix"
    x = np.arange(1, 4, dtype=float)
    with pytest.raises(ValueError, match='`n_resamples` must be a non-negative integer'): stats.bootstrap((x,), np.mean, n_resamples=-1000)
    pr = _preds(3, plain=x)
    for bad in (-1000, 1000.5, 0, True):
        with pytest.raises(ValueError, match=r'n_boot must be a positive whole number of resamples \(1000 is the default\)'):
            paired_bootstrap(pr, 'log_loss', n_boot=bad)
        with pytest.raises(ValueError, match='n_boot must be a positive whole number'): summarize(_runs(pr), n_boot=bad)
    for bad in ('ni', 0, 1, 95, -0.5):
        with pytest.raises(ValueError, match=r'level must be a number strictly between 0 and 1 \(0.95 for 95% intervals\)'):
            summarize(_runs(pr), level=bad)
    with pytest.raises(ValueError, match="these runs have no 'plain'"):
        summarize(_runs(_preds(3, other=x)))
