"""Fuzz review of the losses, decisions, prior, metrics, calibration and report pages: many generated inputs (numpy's
default_rng, fixed seeds), valid ones checked against an independent reference (torch, scikit-learn, a direct numpy
formula) or a stated invariant, invalid ones checked to fail at once with a ValueError/TypeError that names the argument."""
import math, warnings
import numpy as np, pandas as pd, pytest, torch, torch.nn.functional as F
import sklearn.metrics as skm
from sklearn.utils.class_weight import compute_class_weight
from imbalance_fastai.losses import class_weights, FocalLoss, LogitAdjustedLoss, BalancedSoftmaxLoss
from imbalance_fastai.longtail import LDAMLoss, AsymmetricLoss, DeferredReweighting
from imbalance_fastai.decisions import apply_offsets, min_cost_decisions, DecisionRule
from imbalance_fastai.prior import logit_shift, correct_prior, PriorCorrection
from imbalance_fastai.metrics import threshold_scores, best_threshold, best_offsets, minority_classes, minority_recall, MinorityRecall
from imbalance_fastai.calibration import calibration_bins, expected_calibration_error, fit_temperature, TemperatureScaling, em_prior
from imbalance_fastai.report import imbalance_report

torch.set_num_threads(1)

def _probs(rng, n, c, conc=1.):
    "`n` softmax rows over `c` classes, from a Dirichlet"
    return rng.dirichlet(np.full(c, conc), n)

def _refused(f, *words, exc=(ValueError, TypeError)):
    "`f()` must raise a ValueError/TypeError whose message contains every one of `words` (the argument, the numbers)"
    with pytest.raises(exc) as e: f()
    assert type(e.value) in (ValueError, TypeError) or isinstance(e.value, exc), f"{type(e.value).__name__}: {e.value}"
    msg = str(e.value)
    for w in words: assert w in msg, f"{w!r} not in {msg!r}"
    return msg

SIZES = (1, 2, 7, 300)

# ---------------------------------------------------------------- losses: agreement with torch and direct formulas

@pytest.mark.parametrize('seed', range(6))
def test_losses_agree_with_torch_on_generated_batches(seed):
    "FocalLoss(gamma=0), LogitAdjustedLoss, BalancedSoftmaxLoss and LDAMLoss against F.cross_entropy of the formula, for any batch size, class count, target layout and weight"
    rng = np.random.default_rng(seed)
    for n in SIZES:
        c = int(rng.integers(2, 9))
        x = torch.tensor(rng.normal(0, 3, (n, c)), dtype=torch.float64)
        t = torch.tensor(rng.integers(0, c, n))
        w = None if rng.random()<.3 else rng.uniform(0.1, 5, c)
        wt = None if w is None else torch.tensor(w)
        counts = rng.integers(1, 1000, c)
        prior = torch.tensor(counts/counts.sum())
        col = t[:,None] if rng.random()<.5 else t   # tabular targets arrive as (bs, 1)
        # focal gamma=0: per-target cross-entropy times the weight of its class (its 'mean' is the plain mean of those)
        ref = F.cross_entropy(x, t, reduction='none')*(1 if wt is None else wt[t])
        torch.testing.assert_close(FocalLoss(gamma=0, weight=w, reduction='none')(x, col), ref)
        torch.testing.assert_close(FocalLoss(gamma=0, weight=w)(x, col), ref.mean())
        # focal gamma>0: the direct formula -(1-p_t)**g * w_t * log p_t
        g = float(rng.choice([0.5, 1., 2., 3.7]))
        logp = F.log_softmax(x, 1).gather(1, t[:,None])[:,0]
        ref = -(1-logp.exp())**g*logp*(1 if wt is None else wt[t])
        torch.testing.assert_close(FocalLoss(gamma=g, weight=w, reduction='sum')(x, col), ref.sum())
        tau = float(rng.choice([0., .5, 1., 2.]))
        for red in ('mean', 'sum', 'none'):
            ref = F.cross_entropy(x + tau*prior.log(), t, weight=wt, reduction=red)
            torch.testing.assert_close(LogitAdjustedLoss(counts, tau, weight=w, reduction=red)(x, col), ref, atol=1e-6, rtol=1e-6)
            ref = F.cross_entropy(x + prior.log(), t, weight=wt, reduction=red)
            torch.testing.assert_close(BalancedSoftmaxLoss(counts, weight=w, reduction=red)(x, col), ref, atol=1e-6, rtol=1e-6)
        m = counts**-.25; m = torch.tensor(.5*m/m.max())
        ref = F.cross_entropy(30*(x - F.one_hot(t, c)*m), t, weight=wt)
        torch.testing.assert_close(LDAMLoss(counts, weight=w)(x, col), ref, atol=1e-5, rtol=1e-6)

@pytest.mark.parametrize('seed', range(4))
def test_sigmoid_losses_agree_with_direct_formulas(seed):
    "FocalLoss's binary and multi-label modes against torchvision's sigmoid focal formula, AsymmetricLoss against the paper's formula"
    rng = np.random.default_rng(seed)
    for n in SIZES:
        c = int(rng.integers(1, 6))
        x = torch.tensor(rng.normal(0, 3, (n, c)), dtype=torch.float64)
        t = torch.tensor(rng.integers(0, 2, (n, c)), dtype=torch.float64)
        g,a = float(rng.choice([0., 1., 2.])),float(rng.uniform(.05, .95))
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, t, reduction='none')
        ref = ce*(t*(1-p) + (1-t)*p)**g*(a*t + (1-a)*(1-t))
        got = FocalLoss(g, alpha=a, mode='multilabel', reduction='none')(x, t)
        # (a (n, 1) target is a tabular column: 'none' gives one loss per row, as every loss of ours does, documented in `forward`)
        torch.testing.assert_close(got, ref[:,0] if c==1 else ref)
        torch.testing.assert_close(FocalLoss(g, alpha=a, mode='binary', reduction='sum')(x[:,:1], t[:,0]), ref[:,0].sum())
        gn,gp,clip = float(rng.choice([0., 2., 4.])),float(rng.choice([0., 1.])),float(rng.choice([0., .05, .2]))
        pm = (p-clip).clamp_min(0)
        ref = -(t*(1-p)**gp*torch.log(p) + (1-t)*pm**gn*torch.log(1-pm))
        torch.testing.assert_close(AsymmetricLoss(gn, gp, clip, reduction='none')(x, t), ref[:,0] if c==1 else ref, atol=1e-7, rtol=1e-6)

def test_losses_leave_their_inputs_unchanged_and_relabelling_permutes():
    "A loss never writes into the output or target; relabelling the classes (permuting the logits, weights and priors alike) leaves the loss the same"
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=(50, 5)), dtype=torch.float32); t = torch.tensor(rng.integers(0, 5, 50))
    counts,w = rng.integers(1, 100, 5),rng.uniform(.5, 2, 5)
    perm = rng.permutation(5); inv = np.argsort(perm)
    for mk in (lambda cn, ww: FocalLoss(2., weight=ww), lambda cn, ww: LogitAdjustedLoss(cn, weight=ww),
               lambda cn, ww: LDAMLoss(cn, weight=ww), lambda cn, ww: BalancedSoftmaxLoss(cn, weight=ww)):
        x0,t0 = x.clone(),t.clone()
        a = mk(counts, w)(x, t)
        assert torch.equal(x, x0) and torch.equal(t, t0)
        b = mk(counts[perm], w[perm])(x[:, perm], torch.tensor(inv)[t])
        torch.testing.assert_close(a, b)

# ---------------------------------------------------------------- losses: invalid inputs

@pytest.mark.parametrize('mk', [lambda: FocalLoss(), lambda: LogitAdjustedLoss([1, 2, 3]), lambda: BalancedSoftmaxLoss([1, 2, 3]),
                                lambda: LDAMLoss([1, 2, 3])])
def test_loss_given_integer_logits_refuses(mk):
    "The user's model returned integer outputs (a decoded argmax, a LongTensor): refused, instead of a loss truncated to an integer"
    _refused(lambda: mk()(torch.tensor([[3, 1, 0], [0, 2, 1]]), torch.tensor([0, 1])), 'float', 'int64')

def test_asymmetric_loss_given_integer_logits_refuses():
    _refused(lambda: AsymmetricLoss()(torch.tensor([[3, -1, 0]]), torch.tensor([[1, 0, 0]])), 'float', 'int64')

@pytest.mark.parametrize('targ', [np.array([0, 1]), [0, 1]])
def test_loss_given_a_numpy_or_list_target_refuses(targ):
    "A target that is not a tensor (a numpy array, a list): a TypeError that names it, not an AttributeError from inside"
    for L in (FocalLoss(), LogitAdjustedLoss([1, 2, 3]), LDAMLoss([1, 2, 3]), FocalLoss(mode='binary'), AsymmetricLoss()):
        x = torch.randn(2, 1 if getattr(L, 'mode', '')=='binary' else 3)
        _refused(lambda: L(x, targ), 'tensor', type(targ).__name__)

def test_loss_given_a_numpy_output_refuses():
    _refused(lambda: FocalLoss()(np.zeros((2, 3)), torch.tensor([0, 1])), 'tensor', 'ndarray')

def test_logit_adjusted_loss_given_huge_or_tiny_counts_keeps_the_prior():
    "Counts near the float64 limits (1e308, or shares of 1e-300): the prior is the shares they give, not 0 from an overflowed sum or -inf from a float32 log"
    for counts,prior in (([1e308, 1e308], [.5, .5]), ([3e307, 1e308, 6e307], [3/19, 10/19, 6/19])):
        L = LogitAdjustedLoss(counts)
        torch.testing.assert_close(L.prior, torch.tensor(prior))
        assert torch.isfinite(L.adjustment).all()
    L = LogitAdjustedLoss([1e-300, 1.])
    assert torch.isfinite(L.adjustment).all() and abs(float(L.adjustment[0]) - math.log(1e-300))<1e-2
    assert torch.isfinite(L(torch.zeros(2, 2), torch.tensor([0, 1])))

@pytest.mark.parametrize('kw,words', [(dict(weight=['a', 'b']), ('weight',)), (dict(alpha=['a', 'b']), ('alpha',)),
                                      (dict(axis='a'), ('axis', "'a'")), (dict(label_smoothing='a'), ('label_smoothing', "'a'")),
                                      (dict(thresh='a'), ('thresh', "'a'")), (dict(gamma='2'), ('gamma', "'2'"))])
def test_focal_loss_given_a_keyword_of_the_wrong_type_refuses(kw, words):
    "A keyword of the wrong type (a string where a number or class weights are asked for): refused when the loss is built, naming it"
    _refused(lambda: FocalLoss(**kw), *words)

@pytest.mark.parametrize('mk,words', [(lambda: LogitAdjustedLoss([1, 2], label_smoothing='a'), ('label_smoothing',)),
                                      (lambda: LogitAdjustedLoss([1, 2], axis=1.5), ('axis', '1.5')),
                                      (lambda: LDAMLoss([1, 2], weight='ab'), ('weight',)),
                                      (lambda: AsymmetricLoss(thresh='a'), ('thresh',)),
                                      (lambda: DeferredReweighting(pct_start='a'), ('pct_start',)),
                                      (lambda: DeferredReweighting(beta='a'), ('beta',))])
def test_longtail_losses_given_a_keyword_of_the_wrong_type_refuse(mk, words):
    _refused(mk, *words)

@pytest.mark.parametrize('kw,words', [(dict(method=['sqrt']), ('method',)), (dict(beta='a'), ('beta', "'a'"))])
def test_class_weights_given_a_keyword_of_the_wrong_type_refuses(kw, words):
    _refused(lambda: class_weights([1, 2], **kw), *words)

# ---------------------------------------------------------------- class_weights

@pytest.mark.parametrize('seed', range(5))
def test_class_weights_agree_with_scikit_learn(seed):
    "method='balanced' is scikit-learn's compute_class_weight('balanced'), from counts or from labels, in every container"
    rng = np.random.default_rng(seed)
    for n in (1, 2, 9, 1000):
        c = int(rng.integers(1, 7))
        y = rng.integers(0, c, n)
        present = np.unique(y)
        ref = compute_class_weight('balanced', classes=present, y=y)
        counts = np.bincount(y, minlength=c)
        for src in (counts, list(counts), tuple(counts), torch.tensor(counts)):
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')   # (absent classes warn: their weight is 0)
                w = class_weights(src, normalize=False).numpy()
            np.testing.assert_allclose(w[present], ref, rtol=1e-6)
            assert (w[counts==0]==0).all()
        w = class_weights(pd.Series(y.astype(str))).numpy()   # labels: the vocab is the classes present
        np.testing.assert_allclose((w*np.bincount(y)[present]).sum(), n, rtol=1e-5)   # normalised: a row weighs 1 on average

def test_class_weights_all_methods_scale_free_and_finite():
    "Every method: the weights of counts `k*n` are those of `n` (normalised), and stay finite for counts near the float64 limits"
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = rng.integers(1, 10_000, int(rng.integers(2, 8))).astype(float)
        for m in ('inverse', 'sqrt', 'balanced'):
            a = class_weights(n, m).numpy()
            for k in (1e-300, 1e-3, 7., 1e300):
                b = class_weights(n*k, m).numpy()
                assert np.isfinite(b).all(), (m, k, b)
                np.testing.assert_allclose(b, a, rtol=1e-5)
        np.testing.assert_allclose((class_weights(n, 'effective').numpy()*n).sum(), n.sum(), rtol=1e-5)

def test_class_weights_given_counts_that_overflow_the_raw_formula_refuses():
    "normalize=False with a share so small that 1/n is infinite: refused, not an inf weight"
    _refused(lambda: class_weights([1e-320, 1.], 'inverse', normalize=False), 'finite')

# ---------------------------------------------------------------- decisions

@pytest.mark.parametrize('seed', range(5))
def test_decision_functions_agree_with_numpy(seed):
    "apply_offsets is argmax(log p + o), min_cost_decisions argmin(p @ C), a DecisionRule the same, for arrays, tensors and lists, on any class axis"
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 50):
        c = int(rng.integers(2, 6))
        P = _probs(rng, n, c)
        o = rng.normal(0, 1, c)
        C = rng.uniform(1, 5, (c, c)); np.fill_diagonal(C, 0)
        with np.errstate(divide='ignore'): ref = (np.log(np.maximum(P, np.finfo(float).tiny)) + o).argmax(1)
        for src in (P, torch.tensor(P), P.tolist() if n else P):
            np.testing.assert_array_equal(np.asarray(apply_offsets(src, o)), ref)
            np.testing.assert_array_equal(np.asarray(DecisionRule(offsets=o)(src)), ref)
            np.testing.assert_array_equal(np.asarray(min_cost_decisions(src, C)), (P @ C).argmin(1))
        np.testing.assert_array_equal(apply_offsets(P.T, o, axis=0), ref)   # the class axis first
        th = float(rng.uniform())
        if c==2: np.testing.assert_array_equal(DecisionRule(thresh=th)(P), (P[:,1]>th).astype(int))
        np.testing.assert_array_equal(DecisionRule(thresh=th, multilabel=True)(P), P>th)

@pytest.mark.parametrize('f', [lambda P: apply_offsets(P, np.zeros(P.shape[1])), lambda P: min_cost_decisions(P, 1-np.eye(P.shape[1])),
                               lambda P: DecisionRule(offsets=np.zeros(P.shape[1]))(P), lambda P: DecisionRule(thresh=.5, multilabel=True)(P),
                               lambda P: DecisionRule(thresh=.5)(P[:, :2]), lambda P: DecisionRule(costs=1-np.eye(P.shape[1]))(P),
                               lambda P: best_offsets(P, np.arange(len(P)) % P.shape[1])])
def test_deciding_on_logits_refuses(f):
    "The user passed logits (the model's raw outputs) where probabilities are asked for: refused with the range, not decisions on log(max(x, tiny))"
    logits = np.random.default_rng(0).normal(0, 3, (8, 3))
    _refused(lambda: f(logits), 'probabilities', 'logits')

@pytest.mark.parametrize('f', [lambda P: apply_offsets(P, [0, 0, 0], axis=2), lambda P: min_cost_decisions(P, 1-np.eye(3), axis=-3),
                               lambda P: best_offsets(P, [0, 1, 2, 0], axis=2), lambda P: correct_prior(P, [1, 1, 1], [1, 2, 3], axis=2),
                               lambda P: DecisionRule(offsets=[0, 0, 0], axis=5)(P)])
def test_class_axis_out_of_range_refuses(f):
    "axis=2 for (n, c) probabilities: a ValueError naming axis and the shape, not an IndexError from inside numpy"
    _refused(lambda: f(_probs(np.random.default_rng(0), 4, 3)), 'axis', '(4, 3)')

def test_decision_rule_given_an_axis_of_the_wrong_type_refuses():
    _refused(lambda: DecisionRule(thresh=.5, axis='a'), 'axis', "'a'")

# ---------------------------------------------------------------- prior

@pytest.mark.parametrize('seed', range(5))
def test_correct_prior_agrees_with_bayes_and_its_invariants(seed):
    "correct_prior is p*t/s renormalised; rows sum to 1; equal priors leave p as it is; relabelling permutes; the input is left unchanged"
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 200):
        c = int(rng.integers(2, 7))
        P = _probs(rng, n, c); P0 = P.copy()
        s,t = rng.uniform(.01, 1, c),rng.uniform(.01, 1, c)
        ref = P*(t/t.sum())/(s/s.sum()); ref = ref/ref.sum(1, keepdims=True)
        got = correct_prior(P, s, t)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        assert np.array_equal(P, P0)
        if n: np.testing.assert_allclose(got.sum(1), 1)
        np.testing.assert_allclose(correct_prior(P, s, s), P, atol=1e-12)
        perm = rng.permutation(c)
        np.testing.assert_allclose(correct_prior(P[:, perm], s[perm], t[perm]), got[:, perm], atol=1e-12)
        np.testing.assert_allclose(correct_prior(torch.tensor(P), s, t).numpy(), ref, atol=1e-12)
        np.testing.assert_allclose(correct_prior(P.T, s, t, axis=0), ref.T, atol=1e-12)
        # logit_shift: adding it to log p and renormalising is the same correction
        if n:
            z = np.log(P) + logit_shift(s, t)
            np.testing.assert_allclose(np.exp(z)/np.exp(z).sum(1, keepdims=True), ref, atol=1e-10)
        # sigmoid outputs: each label's odds times (t/(1-t))/(s/(1-s))
        sr,tr = rng.uniform(.01, .99, c),rng.uniform(.01, .99, c)
        odds = P/(1-P+1e-300)*(tr/(1-tr))/(sr/(1-sr))
        np.testing.assert_allclose(correct_prior(P, sr, tr, multilabel=True), odds/(1+odds), rtol=1e-7, atol=1e-12)

def test_prior_correction_given_a_keyword_of_the_wrong_type_refuses():
    _refused(lambda: PriorCorrection(multilabel='yes'), 'multilabel', "'yes'")

# ---------------------------------------------------------------- thresholds

@pytest.mark.parametrize('seed', range(4))
def test_threshold_scores_agree_with_scikit_learn(seed):
    "Every row of threshold_scores is scikit-learn's confusion matrix, precision, recall, F1, MCC and balanced accuracy of `p > threshold`"
    rng = np.random.default_rng(seed)
    for n in (1, 2, 9, 120):
        p = rng.choice([rng.uniform(size=n), rng.integers(0, 5, n)/4])   # ties too
        y = rng.integers(0, 2, n)
        for src in ((p, y), (p[:,None], y), (np.stack([1-p, p], 1), y), (torch.tensor(p), torch.tensor(y)), (list(p), list(y))):
            df = threshold_scores(*src)
            for r in df.sample(min(len(df), 6), random_state=seed).itertuples():
                d = p>r.threshold
                tn,fp,fn,tp = skm.confusion_matrix(y, d, labels=[0, 1]).ravel()
                assert (r.tp, r.fp, r.fn, r.tn)==(tp, fp, fn, tn)
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    for col,f in (('precision', skm.precision_score), ('recall', skm.recall_score), ('f1', skm.f1_score),
                                  ('mcc', skm.matthews_corrcoef)):
                        ref = f(y, d, zero_division=0) if col!='mcc' else f(y, d)
                        assert abs(getattr(r, col) - ref)<1e-9, (col, getattr(r, col), ref)
                    if 0<y.sum()<n: assert abs(r.balanced_accuracy - skm.balanced_accuracy_score(y, d))<1e-9

@pytest.mark.parametrize('seed', range(3))
def test_best_threshold_is_the_best_of_every_threshold(seed):
    "No threshold scores higher than best_threshold's under the same floor (checked by scikit-learn on a fine grid)"
    rng = np.random.default_rng(seed)
    n = 200
    y = (rng.random(n)<.2).astype(int)
    p = np.clip(.3*y + rng.uniform(0, .7, n), 0, 1)
    for metric,f in (('f1', skm.f1_score), ('mcc', skm.matthews_corrcoef), ('balanced_accuracy', skm.balanced_accuracy_score)):
        t = best_threshold(p, y, metric)
        best = f(y, p>t)
        assert all(f(y, p>g) <= best + 1e-12 for g in np.linspace(0, 1, 401))
    t = best_threshold(p, y, min_precision=.6)
    assert skm.precision_score(y, p>t) >= .6

@pytest.mark.parametrize('thresholds,words', [([.5, np.nan], ('thresholds', 'nan')), (0, ('thresholds', '0')), (-3, ('thresholds', '-3')),
                                              (True, ('thresholds', 'True')), ([], ('thresholds',))])
def test_threshold_scores_given_bad_candidate_thresholds_refuses(thresholds, words):
    "NaN candidates (silently a row of nonsense), a grid of 0 or -3 thresholds (silently an empty table): refused, naming thresholds"
    rng = np.random.default_rng(0)
    p,y = rng.uniform(size=20),rng.integers(0, 2, 20)
    _refused(lambda: threshold_scores(p, y, thresholds), *words)
    _refused(lambda: best_threshold(p, y, thresholds=thresholds), *words)

@pytest.mark.parametrize('p,y,words', [(np.zeros(0), np.zeros(0), ('probs', 'empty')), (.5, 1, ('probs', 'scalar')),
                                       (np.full(3, .5), 1, ('targets', 'scalar'))])
def test_threshold_scores_given_an_empty_or_scalar_input_refuses(p, y, words):
    _refused(lambda: threshold_scores(p, y), *words)

# ---------------------------------------------------------------- offsets

@pytest.mark.parametrize('seed', range(4))
def test_best_offsets_never_decide_worse_than_the_argmax(seed):
    """The tuned offsets score at least the argmax (offsets 0) by scikit-learn's own metric, on any class count (the coordinate search visits the
    classes in order, so relabelling them can end in another local optimum: no permutation invariant is claimed)"""
    rng = np.random.default_rng(seed)
    for n,c in ((4, 2), (30, 3), (300, 6)):
        y = rng.integers(0, c, n); y[:c] = np.arange(c)
        P = _probs(rng, n, c)
        for metric,f in (('balanced_accuracy', skm.balanced_accuracy_score), ('macro_f1', lambda a, b: skm.f1_score(a, b, average='macro')),
                         ('mcc', skm.matthews_corrcoef)):
            o = best_offsets(P, y, metric)
            assert f(y, apply_offsets(P, o)) >= f(y, P.argmax(1)) - 1e-12

@pytest.mark.parametrize('kw,words', [(dict(max_iter='a'), ('max_iter', "'a'")), (dict(max_iter=2.5), ('max_iter', '2.5')),
                                      (dict(max_candidates=-1), ('max_candidates', '-1')), (dict(max_candidates=0), ('max_candidates', '0'))])
def test_best_offsets_given_bad_search_settings_refuses(kw, words):
    "max_candidates=0 was read as the default (falsy), -1 failed inside numpy's linspace: both refused, naming the argument"
    rng = np.random.default_rng(0)
    _refused(lambda: best_offsets(_probs(rng, 10, 3), np.arange(10) % 3, **kw), *words)

# ---------------------------------------------------------------- minority recall

@pytest.mark.parametrize('seed', range(4))
def test_minority_recall_agrees_with_scikit_learn(seed):
    "minority_recall is the mean of scikit-learn's per-class recall over the classes given that have rows; multi-label the same per label"
    rng = np.random.default_rng(seed)
    for n in (1, 2, 50):
        c = int(rng.integers(2, 6))
        y,d = rng.integers(0, c, n),rng.integers(0, c, n)
        cls = sorted(rng.choice(c, int(rng.integers(1, c+1)), replace=False).tolist())
        rec = skm.recall_score(y, d, labels=list(range(c)), average=None, zero_division=0)
        has = [k for k in cls if (y==k).any()]
        got = minority_recall(y, d, cls)
        assert (math.isnan(got) and not has) or abs(got - rec[has].mean())<1e-12
        Y,D = rng.integers(0, 2, (n, c)),rng.random((n, c))<.5
        has = [k for k in cls if Y[:,k].any()]
        got = minority_recall(Y, D, cls)
        ref = np.mean([skm.recall_score(Y[:,k], D[:,k]) for k in has]) if has else np.nan
        assert (math.isnan(got) and not has) or abs(got - ref)<1e-12

def test_minority_recall_given_classes_outside_the_labels_refuses():
    "Multi-label data with class 5 of 3 labels: a ValueError naming classes, not an IndexError"
    Y = np.eye(3, dtype=int)[[0, 1, 2, 0]]
    _refused(lambda: minority_recall(Y, Y.astype(bool), [5]), 'classes', '5', '3')
    _refused(lambda: minority_recall(Y, Y.astype(bool), [-1]), 'classes', '-1')

def test_minority_recall_given_class_names_refuses():
    "classes=['a'] (names, not vocab positions): silently NaN before; refused now"
    _refused(lambda: minority_recall([0, 1, 1], [0, 1, 0], ['a']), 'classes', "'a'")

def test_minority_recall_takes_one_class_as_an_int():
    "classes=1: the recall of class 1 (as MinorityRecall(cls=1)), not 'int object is not iterable'"
    assert minority_recall([0, 1, 1], [0, 1, 0], 1)==.5

@pytest.mark.parametrize('f', [lambda: minority_classes([0, 1, 1], share='a'), lambda: MinorityRecall(share='a')])
def test_minority_share_of_the_wrong_type_refuses(f):
    _refused(f, 'share', "'a'")

# ---------------------------------------------------------------- calibration

def _ece_ref(conf, hit, n_bins):
    "ECE by its definition: the bins are (k/B, (k+1)/B], the first closed at 0"
    b = np.clip(np.ceil(conf*n_bins).astype(int) - 1, 0, n_bins-1)
    return sum(abs(conf[b==k].sum() - hit[b==k].sum()) for k in range(n_bins))/len(conf)

@pytest.mark.parametrize('seed', range(5))
def test_calibration_agrees_with_its_definition(seed):
    "expected_calibration_error and calibration_bins against the definition (max-probability confidence, positive class for 2 classes, every label for multi-label); bin counts sum to the rows"
    rng = np.random.default_rng(seed)
    for n in (1, 2, 9, 500):
        c = int(rng.integers(2, 6))
        P,y = _probs(rng, n, c, .5),rng.integers(0, c, n)
        B = int(rng.integers(1, 20))
        conf,hit = (P[:,1],(y==1).astype(float)) if c==2 else (P.max(1),(P.argmax(1)==y).astype(float))
        assert abs(expected_calibration_error(P, y, B) - _ece_ref(conf, hit, B))<1e-9
        df = calibration_bins(P, y, B)
        assert df['count'].sum()==n and len(df)==B
        np.testing.assert_allclose(df.dropna().eval('count*mean_prob').sum(), conf.sum())
        Y = rng.integers(0, 2, (n, c))
        assert abs(expected_calibration_error(P, Y, B) - _ece_ref(P.reshape(-1), Y.reshape(-1).astype(float), B))<1e-9
        p = rng.uniform(size=n)   # a binary model's positive-class probabilities
        yb = rng.integers(0, 2, n)
        assert abs(expected_calibration_error(p, yb, B) - _ece_ref(p, yb.astype(float), B))<1e-9

@pytest.mark.parametrize('f', [expected_calibration_error, calibration_bins])
def test_calibration_given_logits_or_an_empty_set_refuses(f):
    "Logits (or inf) gave an ECE above 1 (or inf); an empty set failed in numpy's reshape: both refused with the reason"
    rng = np.random.default_rng(0)
    P,y = _probs(rng, 10, 3),rng.integers(0, 3, 10)
    _refused(lambda: f(np.log(P), y), 'probabilities', 'logits')
    _refused(lambda: f(np.r_[P[:-1], [[np.inf, 0, 0]]], y), 'probabilities')
    _refused(lambda: f(np.zeros((0, 3)), np.zeros(0)), 'empty')

@pytest.mark.parametrize('seed', range(3))
def test_fit_temperature_minimises_the_nll(seed):
    "The fitted temperature's NLL is no worse than any other on a grid (scipy's bounded search), for softmax and sigmoid outputs"
    rng = np.random.default_rng(seed)
    n,c = 300,4
    y = rng.integers(0, c, n)
    z = 3*rng.normal(size=(n, c)); z[np.arange(n), y] += 2
    nll = lambda T: F.cross_entropy(torch.tensor(z/T), torch.tensor(y)).item()
    T = fit_temperature(z, y)
    assert all(nll(T) <= nll(g) + 1e-6 for g in np.exp(np.linspace(-3, 3, 121)))
    Y = (rng.random((n, c))<.3).astype(float)
    nll = lambda T: F.binary_cross_entropy_with_logits(torch.tensor(z/T), torch.tensor(Y)).item()
    T = fit_temperature(z, Y, multilabel=True)
    assert all(nll(T) <= nll(g) + 1e-6 for g in np.exp(np.linspace(-3, 3, 121)))

@pytest.mark.parametrize('z,y,kw,words', [(np.zeros((0, 3)), np.zeros(0), {}, ('logits', 'empty')),
                                          (np.zeros((4, 3)), np.zeros((4, 2)), dict(multilabel=True), ('targets', '(4, 2)', '(4, 3)')),
                                          (np.zeros((4, 3)), np.full((4, 3), 3.), dict(multilabel=True), ('targets', '[0, 1]')),
                                          (np.zeros((4, 3)), np.full((4, 3), np.nan), dict(multilabel=True), ('targets', '[0, 1]')),
                                          (np.zeros((4, 3)), np.zeros(4), dict(axis=5), ('axis', '(4, 3)'))])
def test_fit_temperature_given_bad_input_refuses(z, y, kw, words):
    "An empty set (a temperature fitted on nothing), multi-label targets of the wrong shape or not 0/1 (a temperature of 148), an axis out of range"
    _refused(lambda: fit_temperature(z, y, **kw), *words)

@pytest.mark.parametrize('seed', range(3))
def test_em_prior_recovers_a_shifted_prior(seed):
    "On data drawn at a prior `q` and calibrated probabilities for prior `s`, EM recovers `q` (within 3 standard errors of a share on 4000 rows)"
    rng = np.random.default_rng(seed)
    c,n = 3,4000
    mu = 2.5*np.eye(c)
    s,q = np.full(c, 1/c),rng.dirichlet(np.ones(c)*3)
    y = rng.choice(c, n, p=q)
    x = mu[y] + rng.normal(size=(n, c))
    logl = -((x[:,None,:]-mu[None])**2).sum(-1)/2   # the exact likelihoods: posteriors at prior s are calibrated
    P = np.exp(logl - logl.max(1, keepdims=True))*s; P /= P.sum(1, keepdims=True)
    est = em_prior(P, s)
    assert abs(est.sum()-1)<1e-9
    assert np.abs(est - q).max() < 3*np.sqrt(.25/n) + .01, (est, q)
    perm = rng.permutation(c)
    np.testing.assert_allclose(em_prior(P[:, perm], s[perm]), est[perm], atol=1e-6)

@pytest.mark.parametrize('P,s,kw,words', [(np.zeros((0, 3)), [1, 1, 1], {}, ('probs', 'empty')),
                                          (np.full((1, 4, 3), 1/3), [1, 1, 1], {}, ('probs', '(1, 4, 3)')),
                                          (np.full((4, 3), 1/3), [1, 1, 1], dict(max_iter=0), ('max_iter', '0'))])
def test_em_prior_given_bad_input_refuses(P, s, kw, words):
    "An empty set (a prior of NaN), probabilities with an extra axis (read as 4 classes), max_iter=0: refused"
    _refused(lambda: em_prior(P, s, **kw), *words)

def test_temperature_scaling_given_a_bad_temperature_refuses():
    _refused(lambda: TemperatureScaling('a'), 'temperature', "'a'")
    _refused(lambda: TemperatureScaling(-1), 'temperature', '-1')

# ---------------------------------------------------------------- the report

@pytest.mark.parametrize('seed', range(3))
def test_imbalance_report_agrees_with_scikit_learn(seed):
    "The report's per-class precision, recall, F1, ROC-AUC, AP and its balanced accuracy and MCC are scikit-learn's, for any class count; relabelling permutes the rows"
    rng = np.random.default_rng(seed)
    for n in (8, 200):
        c = int(rng.integers(2, 6))
        P,y = _probs(rng, n, c),rng.integers(0, c, n); y[:c] = np.arange(c)
        rep = imbalance_report(P, y)['uncorrected']
        d = P.argmax(1)
        pr,rc,f1,_ = skm.precision_recall_fscore_support(y, d, labels=range(c), zero_division=0)
        for k in range(c):
            assert abs(rep['precision', str(k)] - pr[k])<1e-12 and abs(rep['recall', str(k)] - rc[k])<1e-12
            assert abs(rep['f1', str(k)] - f1[k])<1e-12
            assert abs(rep['roc_auc', str(k)] - skm.roc_auc_score(y==k, P[:,k]))<1e-12
            assert abs(rep['average_precision', str(k)] - skm.average_precision_score(y==k, P[:,k]))<1e-12
        assert abs(rep['balanced_accuracy', 'all'] - skm.balanced_accuracy_score(y, d))<1e-12
        assert abs(rep['mcc', 'all'] - skm.matthews_corrcoef(y, d))<1e-12
        assert abs(rep['log_loss', 'all'] - skm.log_loss(y, P, labels=range(c)))<1e-9
        perm = rng.permutation(c)
        rp = imbalance_report(P[:, perm], np.argsort(perm)[y], vocab=[str(k) for k in perm])['uncorrected']
        for k in range(c): assert abs(rp['recall', str(k)] - rep['recall', str(k)])<1e-12

@pytest.mark.parametrize('kw,words', [(dict(learn_or_probs=np.zeros((0, 3)), targets=np.zeros(0)), ('empty',)),
                                      (dict(learn_or_probs='probs', targets=[0, 1]), ('learn_or_probs', 'str'))])
def test_imbalance_report_given_bad_input_refuses(kw, words):
    _refused(lambda: imbalance_report(**kw), *words)

def test_an_empty_batch_gives_what_torch_gives():
    "A batch of 0 rows: 'mean' is NaN and 'sum' is 0, as F.cross_entropy gives (a deliberate parity with torch, not an error: fastai never sends one)"
    x,t = torch.zeros(0, 3),torch.zeros(0, dtype=torch.long)
    assert F.cross_entropy(x, t).isnan()
    for L in (FocalLoss(), LogitAdjustedLoss([1, 2, 3]), LDAMLoss([1, 2, 3])):
        assert L(x, t).isnan() and type(L)(*([] if isinstance(L, FocalLoss) else [[1, 2, 3]]), reduction='sum')(x, t)==0
    assert AsymmetricLoss()(torch.zeros(0, 3), torch.zeros(0, 3)).isnan()
