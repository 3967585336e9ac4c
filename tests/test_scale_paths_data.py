"Scale review (benchmarks/scale.md): leaner paths of core, scores and compare pinned to equal the paths they replaced, on random inputs"
import numpy as np, pytest, torch
from imbalance_fastai.core import Labels, _rarest

torch.set_num_threads(1)

def _rarest_old(lbls):
    "The replaced `_rarest`: an int64 (n, c) matrix of counts (177 B/row at 20 labels)"
    rarity = np.where(lbls.codes, lbls.counts[None], np.iinfo(np.int64).max)
    return np.where(lbls.codes.any(1), rarity.argmin(1), lbls.c)

@pytest.mark.parametrize('seed', range(5))
def test_rarest_equals_old(seed):
    "Each row's rarest label, rows without a label (code c) and ties in the counts (the lower vocab position) as before"
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n,c = int(rng.integers(0, 60)),int(rng.integers(1, 9))
        codes = rng.random((n, c)) < rng.random()*.6
        if c>1 and rng.random()<.5: codes[:, rng.integers(1, c)] = codes[:, 0]   # two labels with one count: a tie
        lbls = Labels(codes if rng.random()<.5 else codes.astype(np.int64))
        new,old = _rarest(lbls),_rarest_old(lbls)
        assert new.dtype==old.dtype and new.shape==old.shape and (new==old).all()

def test_labels_bool_matrix_not_copied():
    "A bool multi-hot matrix is kept as passed (no n x c copy); any other dtype is still converted"
    codes = np.random.default_rng(0).random((50, 4)) < .3
    assert Labels(codes).codes is codes
    l = Labels(codes.astype(np.uint8))
    assert l.codes.dtype==bool and (l.codes==codes).all()

from imbalance_fastai.scores import METRICS, score_predictions, _score, _unit_rows

def _unit_rows_old(probs):
    "The replaced `_unit_rows`: two (n, c) copies even when every row sums to 1"
    P = np.asarray(probs, dtype=np.float64)
    s = P.sum(1, keepdims=True); off = np.abs(s-1)>1e-6
    return np.where(off, P/np.where(off, s, 1), P)

def _random_run(rng):
    "Probabilities (some rows off 1, some tied), targets (some classes absent) and decisions (not always the argmax)"
    n,c = int(rng.integers(1, 300)),int(rng.integers(2, 7))
    P = rng.dirichlet(np.full(c, rng.uniform(.2, 3)), n)
    if rng.random()<.5: P = np.round(P, 1) + 1e-3   # ties, and rows off 1 by more than float32 rounding
    if rng.random()<.3: P = P.astype(np.float32)
    y = rng.choice(c, n, p=rng.dirichlet(np.ones(c)))
    if rng.random()<.3: y[y==c-1] = 0   # a class without rows
    D = P.argmax(1) if rng.random()<.5 else rng.integers(0, c, n)
    return P,y,D,c

@pytest.mark.parametrize('seed', range(4))
def test_unweighted_scores_equal_unit_weights(seed):
    "score_predictions (the unweighted path: bincounts, plain cumulative sums) gives the unit-weighted bootstrap path's scores bit for bit"
    rng = np.random.default_rng(seed)
    for _ in range(40):
        P,y,D,c = _random_run(rng)
        assert np.array_equal(_unit_rows(P), _unit_rows_old(P))
        Pu,mino = _unit_rows_old(P),[c-1]
        got = score_predictions(P, y, mino, D)
        for m in METRICS:
            old = _score(Pu, y, D, m, mino, np.ones((1, len(y))))
            assert _score(Pu, y, D, m, mino).shape==old.shape==(1,)
            assert got[m]==float(old[0]) or (np.isnan(got[m]) and np.isnan(old[0])), m

def test_unweighted_scores_match_sklearn():
    "The unweighted path against scikit-learn's definitions"
    skm = pytest.importorskip('sklearn.metrics')
    from sklearn.preprocessing import label_binarize
    rng = np.random.default_rng(7)
    for _ in range(20):
        P,y,D,c = _random_run(rng)
        Pu,present = _unit_rows_old(P),np.unique(y)
        if len(present)<2: continue
        got = score_predictions(P, y, [c-1], D)
        assert got['balanced_accuracy']==pytest.approx(skm.recall_score(y, D, labels=present, average='macro', zero_division=0))
        assert got['macro_f1']==pytest.approx(skm.f1_score(y, D, average='macro', zero_division=0))
        assert got['mcc']==pytest.approx(skm.matthews_corrcoef(y, D), abs=1e-12)
        assert got['log_loss']==pytest.approx(skm.log_loss(y, np.clip(Pu, 0, None), labels=range(c)))
        Y = label_binarize(y, classes=range(c)) if c>2 else np.eye(2)[y]
        assert got['pr_auc']==pytest.approx(np.mean([skm.average_precision_score(Y[:,k], Pu[:,k]) for k in present]))

import copy, warnings
import pandas as pd
import imbalance_fastai.compare as compare_mod
from imbalance_fastai.compare import compare_strategies

def _copy_old(learn):
    "The replaced `_copy`: the fold's DataLoaders deep-copied with the learner (2.24 s at 1e7 rows)"
    for k,v in list(vars(learn).items()):
        if isinstance(v, torch.Tensor) and v.grad_fn is not None: setattr(learn, k, None)
    return copy.deepcopy(learn)

def test_copied_bases_share_dls_and_score_as_before(monkeypatch):
    "Every strategy built on a kept base (plain+prior, plain+threshold's tau-norm-tuned, crt, tau-norm, oversample+prior) scores as with a full copy"
    rng = np.random.default_rng(0)
    n = 300
    y = rng.choice(3, n, p=[.75, .18, .07])
    df = pd.DataFrame({'x0': rng.normal(size=n) + y, 'x1': rng.normal(size=n) - .5*y, 'y': np.array(['a', 'b', 'c'])[y]})
    names = ['plain+prior', 'plain+threshold', 'crt', 'tau-norm', 'tau-norm-tuned', 'oversample', 'oversample+prior']
    run = lambda: compare_strategies(df, label='y', strategies=names, folds=2, epochs=2, layers=[8], progress=False, threads=1)
    shared = []
    new_copy = compare_mod._copy
    def spy(learn):
        res = new_copy(learn); shared.append(res.dls is learn.dls); return res
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        monkeypatch.setattr(compare_mod, '_copy', spy); new = run()
        monkeypatch.setattr(compare_mod, '_copy', _copy_old); old = run()
    assert shared and all(shared)
    cols = ['strategy', 'fold', *METRICS]
    pd.testing.assert_frame_equal(new[cols].reset_index(drop=True), old[cols].reset_index(drop=True), check_exact=True)

from imbalance_fastai.prior import correct_prior

def test_correct_prior_one_float32_result():
    "float32 rows (get_preds') are corrected into one float32 result: 44 bytes a row of 10 classes (248 when three float64 copies were made)"
    import tracemalloc
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(10), 200_000).astype(np.float32)
    s, t = np.full(10, .1), np.array([.5, .2, .1, .05, .05, .04, .03, .015, .01, .005])
    correct_prior(P, s, t)
    tracemalloc.start(); r = correct_prior(P, s, t); peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert r.dtype == np.float32 and peak/len(P) < 60
    np.testing.assert_allclose(r, correct_prior(P.astype(np.float64), s, t), atol=1e-6)

def test_correct_prior_binary_float32_near_one():
    "A positive-class column near 1 corrected in float32 loses no more than float32 rounding (1 - p is taken exactly, before the sum)"
    p = (1 - np.logspace(-7, -1, 2000)).astype(np.float32)
    r, ref = correct_prior(p, .5, .02), correct_prior(p.astype(np.float64), .5, .02)
    np.testing.assert_allclose(r, ref, rtol=3e-7)
