"The imbalance report against scikit-learn, from arrays and from trained learners (classification and segmentation), its plots at 10 and 100 classes, and its errors."
import warnings
import numpy as np, pytest, torch
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from torch import nn
from fastai.data.core import Datasets
from fastai.torch_core import TensorImage, TensorMask, set_seed
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import DiceMulti, JaccardCoeffMulti
import sklearn.metrics as skm
from trained import RATE, TOL, preds, small_learner, fit
from imbalance_fastai.prior import correct_prior, PriorCorrection
from imbalance_fastai.losses import BalancedSoftmaxLoss
from imbalance_fastai.longtail import LDAMLoss, AsymmetricLoss
from imbalance_fastai.decisions import apply_offsets
import pandas as pd
from scipy.special import softmax
from imbalance_fastai.calibration import expected_calibration_error
from imbalance_fastai.report import imbalance_report, plot_report


def _check_against_sklearn(rep, P, y, col, d=None):
    "The binary report's numbers are scikit-learn's on the same arrays (decisions `d`, the argmax by default)"
    get = lambda m, c='all': rep.loc[(m, c), col]
    d = P.argmax(1) if d is None else d
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, d, labels=[0, 1], zero_division=0)
    for k, name in enumerate(['neg', 'pos']):
        assert get('precision', name) == pytest.approx(prec[k]) and get('recall', name) == pytest.approx(rec[k])
        assert get('f1', name) == pytest.approx(f1[k]) and get('support', name) == sup[k]
    assert get('balanced_accuracy') == pytest.approx(skm.balanced_accuracy_score(y, d))
    assert get('macro_f1') == pytest.approx(skm.f1_score(y, d, average='macro'))
    assert get('mcc') == pytest.approx(skm.matthews_corrcoef(y, d))
    assert get('roc_auc') == pytest.approx(skm.roc_auc_score(y, P[:, 1]))
    assert get('average_precision') == pytest.approx(skm.average_precision_score(y, P[:, 1]))
    assert get('average_precision', 'neg') == pytest.approx(skm.average_precision_score(1 - y, P[:, 0]))
    assert get('brier') == pytest.approx(skm.brier_score_loss(y, P[:, 1]))
    assert get('log_loss') == pytest.approx(skm.log_loss(y, P))
    assert get('mean_prob', 'pos') == pytest.approx(P[:, 1].mean())
    # ECE, written here as a plain loop over sklearn's equal-width bins
    b = np.searchsorted(np.linspace(0, 1, 11)[1:-1], P[:, 1])
    ece = sum((b == i).sum()/len(y)*abs(y[b == i].mean() - P[b == i, 1].mean()) for i in range(10) if (b == i).any())
    assert get('ece') == pytest.approx(ece)

def test_report_matches_sklearn(setup):
    y, raw = setup['y_test'], setup['raw']
    rep = imbalance_report(raw, y, train_prior=[.5, .5], target_prior=[1 - RATE, RATE], vocab=['neg', 'pos'])
    assert list(rep.columns) == ['uncorrected', 'corrected']
    _check_against_sklearn(rep, raw, y, 'uncorrected')
    # the corrected column decides as the balanced model: for a model trained balanced, its own argmax
    _check_against_sklearn(rep, correct_prior(raw, [.5, .5], [1 - RATE, RATE]), y, 'corrected', d=raw.argmax(1))
    acc = imbalance_report(raw, y, train_prior=[.5, .5], target_prior=[1 - RATE, RATE], vocab=['neg', 'pos'], decision='accuracy')
    _check_against_sklearn(acc, correct_prior(raw, [.5, .5], [1 - RATE, RATE]), y, 'corrected')
    assert rep.loc[('ece', 'all'), 'corrected'] < rep.loc[('ece', 'all'), 'uncorrected'] / 5

def test_report_multiclass_and_multilabel_match_sklearn():
    rng = np.random.default_rng(3)
    P = rng.dirichlet([2, 1, .5], 1000); y = np.array([rng.choice(3, p=o) for o in P])
    rep = imbalance_report(P, y)['uncorrected']
    assert rep[('roc_auc', 'all')] == pytest.approx(skm.roc_auc_score(y, P, multi_class='ovr'))
    assert rep[('average_precision', 'all')] == pytest.approx(skm.average_precision_score(np.eye(3)[y], P, average='macro'))
    assert rep[('brier', 'all')] == pytest.approx(skm.brier_score_loss(y, P))
    assert rep[('mcc', 'all')] == pytest.approx(skm.matthews_corrcoef(y, P.argmax(1)))
    assert rep[('ece', 'all')] == pytest.approx(expected_calibration_error(P, y))
    Pm = rng.random((500, 4)); Ym = rng.random((500, 4)) < Pm
    repm = imbalance_report(Pm, Ym.astype(int), thresh=.3)['uncorrected']
    assert repm[('macro_f1', 'all')] == pytest.approx(skm.f1_score(Ym, Pm > .3, average='macro'))
    assert repm[('roc_auc', 'all')] == pytest.approx(skm.roc_auc_score(Ym, Pm, average='macro'))
    assert repm[('recall', '2')] == pytest.approx(skm.recall_score(Ym[:, 2], Pm[:, 2] > .3))

def test_report_from_learner(setup):
    rep = imbalance_report(setup['os_learn'], ds_idx=1)   # the validation split: natural, not resampled
    c, u = rep['corrected'], rep['uncorrected']
    assert abs(c[('mean_prob', 'pos')] - c[('share', 'pos')]) < TOL
    assert u[('mean_prob', 'pos')] > 5*RATE
    assert c[('log_loss', 'all')] < u[('log_loss', 'all')]
    assert c[('roc_auc', 'all')] == pytest.approx(u[('roc_auc', 'all')], abs=1e-4)   # a binary correction keeps the ranking
    assert c[('balanced_accuracy', 'all')] == pytest.approx(u[('balanced_accuracy', 'all')], abs=1/80)   # balanced decisions kept
    p, y, d = preds(setup['os_learn'], setup['dls'].valid, with_decoded=True)     # the last column is what the learner decides
    assert c[('recall', 'pos')] == pytest.approx(skm.recall_score(y.view(-1), d))
    assert list(imbalance_report(setup['plain']).columns) == ['uncorrected']


def test_report_multilabel_corrected_column_keeps_recall():
    "The defect: the corrected column reused the uncorrected threshold, and a multi-label recall went 1.0 -> 0.0"
    rng = np.random.default_rng(4)
    Y = (rng.random((3000, 3)) < [.02, .05, .3]).astype(int)
    P = np.clip(.35 + .6*Y + rng.normal(0, .1, Y.shape), .01, .99)     # as from a model trained on balanced labels
    rep = imbalance_report(P, Y, train_prior=[.5, .5, .5], target_prior=[.02, .05, .3], thresh=.5)
    for k in '012': assert rep.loc[('recall', k), 'corrected'] == rep.loc[('recall', k), 'uncorrected'] > .9
    bal = imbalance_report(P, Y, train_prior=[.5, .5, .5], target_prior=[.02, .05, .3])   # the balanced default: a threshold of the prior
    assert (bal.xs('recall', level='metric')['corrected'] > .9).all()

def _seg_learner():
    "A 1x1-conv 'segmenter' on 12 in-memory 8x8 images, class 2 covering about 2% of the train pixels"
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    Y = torch.multinomial(torch.tensor([.8, .18, .02]), 12*64, replacement=True, generator=g).view(12, 8, 8)
    X = torch.randn(12, 3, 8, 8, generator=g) + 2*nn.functional.one_hot(Y, 3).permute(0, 3, 1, 2)
    dsets = Datasets(range(12), tfms=[[lambda i: TensorImage(X[i])], [lambda i: TensorMask(Y[i])]], splits=[range(8), range(8, 12)])
    dls = dsets.dataloaders(bs=4, num_workers=0)
    learn = Learner(dls, nn.Conv2d(3, 3, 1), loss_func=CrossEntropyLossFlat(axis=1), metrics=[DiceMulti(), JaccardCoeffMulti()])
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-1)
    return learn, X, Y

def test_report_segmentation_from_a_learner():
    learn, X, Y = _seg_learner()
    rep = imbalance_report(learn)['uncorrected']
    p, y = preds(learn, learn.dls.valid)
    d, yv = p.argmax(1).numpy().reshape(-1), y.numpy().reshape(-1)
    cm = skm.confusion_matrix(yv, d, labels=[0, 1, 2])
    for k in range(3):
        inter, union = cm[k, k], cm[k].sum() + cm[:, k].sum() - cm[k, k]
        assert rep[('iou', str(k))] == pytest.approx(inter/union if union else np.nan, nan_ok=True)
        assert rep[('dice', str(k))] == pytest.approx(skm.f1_score(yv, d, labels=[k], average='macro', zero_division=0))
    with learn.no_bar(): _, dice, jacc = learn.validate()        # fastai's averaged metrics on the same predictions
    assert rep[('mean_dice', 'all')] == pytest.approx(dice) and rep[('mean_iou', 'all')] == pytest.approx(jacc)
    train_share = np.bincount(Y[:8].reshape(-1), minlength=3)/Y[:8].numel()
    np.testing.assert_allclose(rep.xs('train_share', level='metric').to_numpy(), train_share)
    assert rep[('rare', '2')] == 1 and rep[('rare', '0')] == 0     # named from the train masks' pixel shares
    arr = imbalance_report(p.numpy(), y.numpy(), train_targets=Y[:8].numpy())['uncorrected']
    pd.testing.assert_series_equal(arr, rep, check_names=False)
    learn.set_decision(offsets=[0., 0., 3.])                       # the learner's rule decides the pixels too
    ruled = imbalance_report(learn)['uncorrected']
    flat = np.moveaxis(p.numpy(), 1, -1).reshape(-1, 3)
    assert ruled[('recall', '2')] == pytest.approx(skm.recall_score(yv, apply_offsets(flat, [0, 0, 3]), labels=[2], average='macro'))

def _overlaps(boxes):
    return [(i, j) for i in range(len(boxes)) for j in range(i+1, len(boxes)) if boxes[i].overlaps(boxes[j])]

@pytest.mark.parametrize('c', [10, 100])
def test_plot_report_readable(c):
    "Both confusion matrices, axes naming the class, no overlapping numbers or tick labels, legends outside the panels"
    rng = np.random.default_rng(0)
    prior = np.exp(-np.arange(c)/(c/4)); prior /= prior.sum()
    y = rng.choice(c, 30*c, p=prior)
    z = rng.normal(size=(len(y), c)) + 2*np.eye(c)[y]
    P = softmax(z, 1)                                              # as from a model trained on a balanced prior
    fig = plot_report(P, y, train_prior=np.full(c, 1/c), target_prior=prior)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    cms = [a for a in fig.axes if a.get_xlabel() == 'predicted class']
    assert len(cms) == 2 and all(a.get_ylabel() == 'true class' for a in cms)
    for a in cms:
        texts = [t.get_window_extent(r) for t in a.texts]
        assert len(texts) == (c*c if c <= 12 else 0)
        assert not _overlaps(texts)
        for labels in (a.get_xticklabels(), a.get_yticklabels()):
            shown = [t.get_window_extent(r) for t in labels if t.get_text()]
            assert 5 <= len(shown) <= 25 and not _overlaps(shown)
    panels = [a.get_window_extent(r) for a in fig.axes]
    for a in fig.axes:
        leg = a.get_legend()
        if leg is not None: assert not any(leg.get_window_extent(r).overlaps(b) for b in panels), a.get_title()
    pr = next(a for a in fig.axes if a.get_xlabel() == 'recall')
    assert len(pr.get_lines()) == min(c, 10) and (c <= 10 or 'rarest' in pr.get_title())
    plt.close(fig)

def test_report_bad_inputs(setup):
    with pytest.raises(ValueError, match='NaN'): imbalance_report(np.array([[.5, np.nan], [.5, .5]]), np.array([0, 1]))
    with pytest.raises(ValueError, match='NaN'): plot_report(np.array([[.5, np.nan], [.5, .5]]), np.array([0, 1]))
    learn, _ = small_learner('binary')
    learn.dls.valid = learn.dls.valid.new(learn.dls.valid.dataset.new_empty())
    with pytest.raises(ValueError, match="^imbalance_report predicts the learner's validation set, but it has none"): imbalance_report(learn)
    with pytest.raises(ValueError, match="^plot_report predicts the learner's validation set, but it has none"): plot_report(learn)
    with pytest.raises(TypeError, match="the decisions are the learner's own"): imbalance_report(setup['os_learn'], thresh=.3)
    with pytest.raises(ValueError, match='look like logits'):
        imbalance_report(np.array([[2., -1.], [0., 1.]]), np.array([0, 1]), train_prior=[.5, .5], target_prior=[.9, .1])


def _report_warnings(*args, **kwargs):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        rep = imbalance_report(*args, **kwargs)
    return rep, [str(o.message) for o in w if str(o.message).startswith('imbalance_report:')]

@pytest.mark.parametrize('loss', ['balanced_softmax', 'ldam'])
def test_report_columns_of_the_new_losses(setup, loss):
    """The report's columns are what the learner returns and decides: balanced softmax trains a uniform prior (uncorrected
    mean probability ~0.26, corrected ~0.02); LDAM's probabilities are the softmax of its scaled logits, and its margins
    get the warning that the corrected column is approximate."""
    dls = setup['dls']
    lf = BalancedSoftmaxLoss(dls) if loss == 'balanced_softmax' else LDAMLoss(dls)
    learn = fit(dls, [PriorCorrection()], loss_func=lf)
    ldl = dls.test_dl(setup['test'], with_labels=True)
    rep, warned = _report_warnings(learn, dl=ldl)
    assert bool(warned) == (loss == 'ldam') and all('approximate' in m for m in warned)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        p, y, d = preds(learn, ldl, with_decoded=True)
        learn.prior_correction.enabled = False
        raw, _ = preds(learn, ldl)
        learn.prior_correction.enabled = True
    get = lambda m, c, col: rep.loc[(m, c), col]
    assert get('mean_prob', 'pos', 'uncorrected') == pytest.approx(raw[:, 1].mean().item(), abs=1e-6)
    assert get('mean_prob', 'pos', 'corrected') == pytest.approx(p[:, 1].mean().item(), abs=1e-6)
    assert get('recall', 'pos', 'corrected') == pytest.approx(skm.recall_score(y.view(-1), d))
    assert get('log_loss', 'all', 'corrected') == pytest.approx(skm.log_loss(y.view(-1), p.double()/p.double().sum(1, keepdim=True)), rel=1e-5)
    if loss == 'balanced_softmax':
        assert get('mean_prob', 'pos', 'uncorrected') > 5*RATE and abs(get('mean_prob', 'pos', 'corrected') - RATE) < TOL

def test_report_warns_for_the_asymmetric_loss():
    "AsymmetricLoss's probabilities are not a prior shift away from calibrated ones: the report says so, and scores them as given"
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn, _ = small_learner('multilabel', cbs=[PriorCorrection()], epochs=2, loss_func=lambda dls: AsymmetricLoss())
        p, y = preds(learn, learn.dls.valid)
    rep, warned = _report_warnings(learn)
    assert warned and 'AsymmetricLoss' in warned[0] and 'does not undo' in warned[0]
    np.testing.assert_allclose(rep.loc['mean_prob', 'corrected'].to_numpy(), p.mean(0).numpy(), atol=1e-6)


@pytest.mark.parametrize('kind', ['binary', 'multiclass'])
def test_report_uses_a_rule_tuned_before_the_correction_for_the_corrected_column(kind):
    "A threshold (offsets) tuned on the uncorrected probabilities, then PriorCorrection and calibrate(): every column that uses it decides as it did"
    import imbalance_fastai.metrics, imbalance_fastai.calibration   # noqa: F401 (patch Learner.tune_threshold, Learner.calibrate)
    learn, _ = small_learner(kind, epochs=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.tune_threshold()
    _, y, d0 = preds(learn, learn.dls.valid, with_decoded=True)
    rec0 = skm.recall_score(y.view(-1).numpy(), d0.numpy(), average=None)
    learn.add_cb(PriorCorrection(train_prior=[.2, .8] if kind == 'binary' else [.2, .3, .5]))
    with learn.no_bar(): rep = imbalance_report(learn)
    np.testing.assert_allclose(rep.loc['recall', 'corrected'].drop('all', errors='ignore').to_numpy(), rec0)
    with warnings.catch_warnings(), learn.no_bar():
        warnings.simplefilter('ignore')
        learn.calibrate()
        rep = imbalance_report(learn)
    np.testing.assert_allclose(rep.loc['recall', 'calibrated'].drop('all', errors='ignore').to_numpy(), rec0)
    _, _, d1 = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d1.numpy(), d0.numpy())

def test_report_refuses_logits():
    "sklearn's raw 'y_prob contains values lower than 0' becomes an error that says what to pass"
    z = np.array([[-1., 3.], [8., -4.], [0., 1.]])
    with pytest.raises(ValueError, match=r'learn_or_probs must be probabilities in \[0, 1\].*logits.*get_preds'): imbalance_report(z, [1, 0, 1])
    with pytest.raises(ValueError, match=r'learn_or_probs must be probabilities'): imbalance_report(np.array([-1., 3., .5]), [1, 0, 1])


def _sklearn_scores(P, Y, ml, D):
    "The report's column as it was computed before the one-confusion-matrix path: scikit-learn's metrics one by one (the reference)"
    from imbalance_fastai.report import _safe
    c = P.shape[1]; labels = np.arange(c)
    Yh = Y if ml else Y[:, None]==labels
    prec, rec, f1, sup = skm.precision_recall_fscore_support(Y, D, labels=None if ml else labels, average=None, zero_division=0)
    onecls = lambda k: Yh[:, k].all() or not Yh[:, k].any()
    auc = np.array([np.nan if onecls(k) else skm.roc_auc_score(Yh[:, k], P[:, k]) for k in range(c)])
    ap = np.array([np.nan if onecls(k) else skm.average_precision_score(Yh[:, k], P[:, k]) for k in range(c)])
    nanmean = lambda a: np.nanmean(a) if (~np.isnan(a)).any() else np.nan
    if ml:
        mean_over = lambda f, X, **kw: float(np.nanmean([_safe(f, Y[:, k], X[:, k], **kw) for k in range(c)]))
        allm = dict(accuracy=skm.accuracy_score(Y, D), balanced_accuracy=mean_over(skm.balanced_accuracy_score, D),
                    macro_f1=skm.f1_score(Y, D, average='macro', zero_division=0), mcc=mean_over(skm.matthews_corrcoef, D),
                    roc_auc=nanmean(auc), average_precision=nanmean(ap),
                    log_loss=mean_over(skm.log_loss, P, labels=[0, 1]), brier=mean_over(skm.brier_score_loss, P, pos_label=1))
    else:
        Pn = P/P.sum(1, keepdims=True)
        allm = dict(accuracy=skm.accuracy_score(Y, D), balanced_accuracy=_safe(skm.balanced_accuracy_score, Y, D),
                    macro_f1=skm.f1_score(Y, D, average='macro', zero_division=0), mcc=skm.matthews_corrcoef(Y, D),
                    roc_auc=auc[1] if c==2 else nanmean(auc), average_precision=ap[1] if c==2 else nanmean(ap),
                    log_loss=skm.log_loss(Y, Pn, labels=labels),
                    brier=skm.brier_score_loss(Y, P[:, 1], pos_label=1) if c==2 else skm.brier_score_loss(Y, Pn, labels=labels))
    return np.concatenate([prec, rec, f1, sup, auc, ap]), allm


@pytest.mark.parametrize('seed', range(6))
def test_scores_equal_sklearn_one_by_one(seed):
    "The report's one-confusion-matrix, two-sorts-per-class path gives scikit-learn's numbers to the last bit: tied scores, absent and never-decided classes, single-class columns, rule decisions, multi-label"
    from imbalance_fastai.report import _scores
    from imbalance_fastai.calibration import _as_preds
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(50, 3000)), int(rng.choice([2, 3, 7]))
    P = rng.dirichlet(np.ones(c)*.5, n)
    if seed % 2: P = np.round(P, 2); P /= P.sum(1, keepdims=True)    # many tied scores
    if seed % 3 == 2: P = P.astype(np.float32)
    y = rng.choice(c, n, p=np.r_[.6, np.full(c-1, .4/(c-1))])
    if c > 2: y[y == c-1] = 0                                           # an absent class
    D = P.argmax(1) if seed < 4 else rng.choice(c, n)                   # rule-like decisions: classes decided that never appear
    for Pi, Yi, ml, Di in [(P, y, False, D), (P, np.eye(c, dtype=bool)[y] | (rng.random((n, c)) < .1), True, P > .3)]:
        if ml: Yi[:, 0] = True                                          # a label on every row: no AUC
        Pk, Yk, mlk = _as_preds(Pi, Yi, ml)
        rule = (lambda Q: Di)
        got = _scores(Pk, Yk, mlk, rule)
        per, allm = _sklearn_scores(Pk, Yk, mlk, Di)
        np.testing.assert_array_equal(got.to_numpy()[:6*c], per)
        for k, v in allm.items(): assert got[(k, 'all')] == v or (np.isnan(v) and np.isnan(got[(k, 'all')])), (k, got[(k, 'all')], v)


def test_report_refuses_rows_that_are_not_softmax_probabilities():
    "Independent sigmoid outputs (rows summing to 0.9..1.7) with class codes: refused with the numbers, not scored as if normalised; a softmax copied to float64 from bfloat16 is not"
    import numpy as np, torch
    from imbalance_fastai.report import imbalance_report
    from imbalance_fastai.calibration import expected_calibration_error
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    sig = 1 / (1 + np.exp(-rng.normal(size=(200, 3))))
    for f in (lambda: imbalance_report(sig, y), lambda: expected_calibration_error(sig, y)):
        with pytest.raises(ValueError, match=r"rows must sum to 1 \(softmax probabilities\), but 19[0-9] of 200 sum to between 0.4"):
            f()
    sm = torch.softmax(torch.randn(200, 3, generator=torch.Generator().manual_seed(0)), 1)
    r = imbalance_report(sm.bfloat16().double(), torch.as_tensor(y))
    assert 0 <= r.loc[('balanced_accuracy', 'all'), 'uncorrected'] <= 1
