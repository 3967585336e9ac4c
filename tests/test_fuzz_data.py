"""Fuzz review of the label, split and score functions: generated inputs, valid and invalid. A valid input agrees with a
direct reference (counts, scikit-learn's scores) or an invariant; an invalid one is a ValueError/TypeError naming the argument."""
import numpy as np, pandas as pd, pytest, torch
from sklearn.metrics import balanced_accuracy_score, log_loss

from imbalance_fastai.core import Labels, get_labels
from imbalance_fastai.data import stratified_split, StratifiedSplitter, long_tailed_digits
from imbalance_fastai.scores import score_predictions, stratified_folds, check_labels, InputError

torch.set_num_threads(1)


def _gen(rng, n, c):
    "Labels of `n` rows over up to `c` classes with skewed shares, as each container a user might pass"
    y = rng.choice(c, n, p=(w := 2.**-np.arange(c)) / w.sum())
    names = np.array([f'c{i}' for i in range(c)])[y]
    return y, [list(names), tuple(names), names, pd.Series(names), pd.Categorical(names), torch.tensor(y)]


@pytest.mark.parametrize('seed', range(6))
def test_get_labels_counts_agree_with_bincount_for_every_container(seed):
    rng = np.random.default_rng(seed)
    for n, c in ((1, 1), (2, 2), (37, 3), (500, 8)):
        y, forms = _gen(rng, n, c)
        want = np.bincount(y)
        for f in forms:
            lb = get_labels(f)
            assert len(lb) == n and lb.counts.sum() == n
            assert sorted(lb.counts[lb.counts > 0].tolist()) == sorted(want[want > 0].tolist()), type(f)
            assert np.isclose(lb.prior.sum(), 1)


@pytest.mark.parametrize('seed', range(6))
def test_stratified_split_and_folds_partition_the_rows(seed):
    "Every row once in train or valid; every class keeps a train row; each class's share of valid within one row; folds cover every row"
    rng = np.random.default_rng(seed)
    for n, c, pct in ((2, 2, .5), (40, 3, .2), (333, 7, .3), (1000, 10, .07)):
        y, _ = _gen(rng, n, c)
        trn, val = stratified_split(y, pct, seed=seed)
        assert np.array_equal(np.sort(np.r_[trn, val]), np.arange(n))
        counts, vc = np.bincount(y, minlength=c), np.bincount(y[val], minlength=c)
        cap = np.maximum(counts - 1, 0)   # every class keeps a train row
        assert (np.bincount(y[trn], minlength=c)[counts > 0] > 0).all()
        assert ((vc >= np.minimum(np.floor(pct * counts + 1e-9), cap)) & (vc <= np.minimum(np.ceil(pct * counts - 1e-9), cap))).all()   # its share, rounded
        hi = np.minimum(np.ceil(pct * counts - 1e-9), cap)
        assert len(val) == int(np.ceil(pct * n - 1e-9)) or (vc == hi).all()   # ceil(pct*n) rows, unless every class is already rounded up or capped
        f = stratified_folds(y, min(3, n), seed=seed)
        assert set(np.unique(f)) <= set(range(3)) and len(f) == n
        for k in range(c): assert np.ptp(np.bincount(f[y == k], minlength=min(3, n))) <= 1   # dealt round-robin


@pytest.mark.parametrize('seed', range(4))
def test_score_predictions_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    for n, c in ((5, 2), (300, 4)):
        y = np.r_[np.arange(c), rng.integers(0, c, n - c)]
        P = rng.dirichlet(np.ones(c), n)
        s = score_predictions(P, y, [c - 1])
        assert np.isclose(s['balanced_accuracy'], balanced_accuracy_score(y, P.argmax(1)))
        assert np.isclose(s['log_loss'], log_loss(y, P, labels=range(c)))
        perm = rng.permutation(n)   # the rows' order does not matter
        assert np.allclose(list(score_predictions(P[perm], y[perm], [c - 1]).values()), list(s.values()))


# --- defects found by this review, each the minimal case of what a user did ---

def test_labels_of_fractional_or_nan_codes_are_refused_not_truncated():
    "Labels([0.5, 1.2]) read as codes 0 and 1; Labels([0., nan]) said 'got codes from -9223372036854775808'; strings failed inside numpy"
    for codes, shown in (([0.5, 1.2], 'got 0.5 at row 0'), ([0., np.nan], 'got nan at row 1'), (['a', 'b'], "got 'a' at row 0")):
        with pytest.raises(ValueError, match=f"class codes must be whole numbers .*{shown}"): Labels(codes)
    assert Labels(np.array([0., 1., 1.])).counts.tolist() == [1, 2]   # whole floats are codes


def test_n_bins_not_a_whole_number_or_a_constant_target():
    "n_bins=2.5 failed in pandas ('`q` should be a positive integer'); a constant target gave 0 classes and every row without one"
    with pytest.raises(ValueError, match=r"n_bins must be a whole number, at least 2, got 2.5"): get_labels(np.linspace(0, 1, 10), n_bins=2.5)
    with pytest.raises(ValueError, match=r"n_bins=3 makes fewer than 2 bins: the target has 1 distinct value"): get_labels(np.ones(10), n_bins=3)
    with pytest.raises(InputError, match=r"label column 'y': n_bins=3 makes fewer than 2 bins"): check_labels(pd.DataFrame({'y': np.ones(10)}), 'y', bins=3)


@pytest.mark.parametrize('seed', ['x', 1.5, -1, True])
def test_seed_of_the_wrong_kind_is_named(seed):
    "numpy's own message spoke of its SeedSequence ('expected non-negative integer'), never of seed; the splitter refuses it when built"
    y = ['a', 'b'] * 5
    for f in (lambda: stratified_split(y, seed=seed), lambda: StratifiedSplitter(seed=seed), lambda: stratified_folds(y, 2, seed=seed),
              lambda: long_tailed_digits(seed=seed)):
        with pytest.raises((TypeError, ValueError), match=r"seed must be a whole number >= 0, or None, got"): f()


@pytest.mark.parametrize('ratio,n_test', [(np.nan, 50), (np.inf, 50), ('20', 50), (20, 2.5)])
def test_long_tailed_digits_refuses_nan_inf_text_and_fractional_rows(ratio, n_test):
    "nan and inf ratios and 2.5 test rows per class returned data; '20' failed comparing a str with an int"
    with pytest.raises(ValueError, match=r"imbalance_ratio must be a finite number >= 1|n_test_per_class must be in \[0, 174\)"):
        long_tailed_digits(ratio, n_test)


def test_score_predictions_refuses_what_does_not_fit_before_indexing():
    "Targets outside the columns were an IndexError, -1 wrapped to the last class, 1.5 was truncated, NaN probabilities gave a NaN log-loss"
    P, y = np.array([[.9, .1], [.2, .8], [.6, .4]]), np.array([0, 1, 1])
    cases = [((P, [0, 1, 2], [1]), r"targets must be class codes, whole numbers in \[0, 2\) .*got \[0, 1, 2\]"),
             ((P, [0, 1, -1], [1]), r"targets must be class codes"), ((P, [0., 1.5, 1.], [1]), r"targets must be class codes"),
             ((P, [0, 1], [1]), r"targets has 2 values but probs has 3 rows"), ((P[:, 0], y, [1]), r"probs must be \(rows, classes\)"),
             ((np.zeros((0, 2)), [], [1]), r"at least one row"), ((np.where(P > .8, np.nan, P), y, [1]), r"probs must be finite.*1 of 3 rows"),
             ((P * [[1], [0], [1]], y, [1]), r"each row summing to more than 0")]
    for args, msg in cases:
        with pytest.raises(ValueError, match=msg): score_predictions(*args)
    with pytest.raises(ValueError, match=r"decisions must be class codes.*\[0, 1, 7\]"): score_predictions(P, y, [1], decisions=[0, 1, 7])
    # deliberate: a minority position with no column is left out, as metrics.minority_recall leaves it (09a_scores documents it)
    assert score_predictions(P, y, [1, 5])['minority_recall'] == score_predictions(P, y, [1])['minority_recall']


def test_check_labels_of_an_empty_table():
    "An empty label column was an IndexError (the 'single class' message read vocab[0])"
    with pytest.raises(InputError, match="label column 'y' has no rows"): check_labels(pd.DataFrame({'y': []}), 'y')
