"Decision thresholds and offsets: known answers, scikit-learn by brute force, `tune_threshold` on trained learners (never leaking to another learner, through export), and the training metrics."
import warnings
import numpy as np, pytest, torch
import sklearn.metrics as skm
from fastai.learner import load_learner
from fastai.tabular.learner import tabular_learner
from trained import preds, small_learner, small_dls
from imbalance_fastai.decisions import apply_offsets
from imbalance_fastai.prior import PriorCorrection
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.metrics import (best_threshold, threshold_scores, best_offsets, minority_classes, minority_recall,
                                      MinorityRecall, AvgPrecisionMacro)

torch.set_num_threads(1)

def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return load_learner(path)

def test_best_threshold_known_answer():
    p = np.arange(1, 100)/100
    assert best_threshold(p, p > .7) == pytest.approx(.705)                      # F1 = 1 only between .70 and .71
    assert best_threshold(p, p > .7, 'mcc') == pytest.approx(.705)
    # The most precise threshold that keeps every positive: just below the lowest-scored positive (.3)
    y = (p > .7) | (p == .3)
    assert best_threshold(p, y, 'precision', min_recall=1.) == pytest.approx(.295)

@pytest.mark.parametrize('metric', ['f1', 'macro_f1', 'mcc', 'balanced_accuracy', 'youden'])
def test_best_threshold_is_best_by_sklearn(metric):
    rng = np.random.default_rng(1)
    y = rng.random(500) < .1   # small: scikit-learn is called once per distinct threshold
    p = 1/(1 + np.exp(-(rng.standard_normal(500) + 2.5*y - 3)))
    sk = {'f1': skm.f1_score, 'mcc': skm.matthews_corrcoef, 'balanced_accuracy': skm.balanced_accuracy_score,
          'macro_f1': lambda a, b: skm.f1_score(a, b, average='macro', labels=[0, 1], zero_division=0),
          'youden': lambda a, b: 2*skm.balanced_accuracy_score(a, b) - 1}[metric]
    grid = np.r_[np.unique(p), 0.]   # every distinct decision
    best = max(sk(y, p > g) for g in grid)
    t = best_threshold(p, y, metric)
    assert sk(y, p > t) == pytest.approx(best)
    assert threshold_scores(p, y)[metric].max() == pytest.approx(best)

def test_best_threshold_floor_by_brute_force():
    rng = np.random.default_rng(2)
    y = rng.random(400) < .1
    p = np.clip(rng.random(400)*.6 + .4*y, 0, 1)
    grid = np.unique(p) - 1e-9
    ok = [g for g in grid if skm.precision_score(y, p > g, zero_division=0) >= .8]
    best = max(skm.recall_score(y, p > g) for g in ok)
    t = best_threshold(p, y, 'recall', min_precision=.8)      # "maximise recall subject to precision >= 0.8"
    assert skm.precision_score(y, p > t) >= .8 and skm.recall_score(y, p > t) == pytest.approx(best)

def _multiclass(seed, n=1500, prior=(.6, .25, .1, .05)):
    rng = np.random.default_rng(seed)
    y = rng.choice(len(prior), n, p=prior)
    z = rng.normal(size=(n, len(prior))) + 1.2*np.eye(len(prior))[y] + np.log(prior)
    return np.exp(z)/np.exp(z).sum(1, keepdims=True), y

SK = {'balanced_accuracy': skm.balanced_accuracy_score, 'mcc': skm.matthews_corrcoef,
      'macro_f1': lambda a, b: skm.f1_score(a, b, average='macro')}

@pytest.mark.parametrize('metric', list(SK))
def test_best_offsets_never_lower_the_metric(metric):
    "From zeros and from the balanced offsets, on 10 draws: the tuned score (by scikit-learn) is never below the start's"
    for seed in range(10):
        P, y = _multiclass(seed)
        for init in (None, -np.log([.6, .25, .1, .05]), np.array([0., -np.inf, 0., 0.])):
            o = best_offsets(P, y, metric, init=init)
            start = apply_offsets(P, np.zeros(4) if init is None else init)
            assert SK[metric](y, apply_offsets(P, o)) >= SK[metric](y, start) - 1e-12, (seed, init)
            if init is not None and np.isinf(init).any(): assert np.isneginf(o[1])   # a -inf offset stays fixed

def test_best_offsets_improve_on_the_argmax_and_match_a_grid():
    "Tuned offsets beat the argmax, and no offset vector of a coarse brute-force grid beats them on the same data"
    P, y = _multiclass(0, n=800, prior=(.7, .2, .1))
    o = best_offsets(P, y, 'balanced_accuracy')
    ba = skm.balanced_accuracy_score(y, apply_offsets(P, o))
    assert ba > skm.balanced_accuracy_score(y, P.argmax(1)) + .05
    g = np.linspace(-1, 4, 26)
    grid_best = max(skm.balanced_accuracy_score(y, apply_offsets(P, [0, a, b])) for a in g for b in g)
    assert ba >= grid_best - 1e-12

def test_best_offsets_segmentation_axis():
    rng = np.random.default_rng(0)
    Y = rng.choice(3, size=(4, 6, 6), p=[.8, .15, .05])
    z = rng.normal(size=(4, 3, 6, 6)) + 1.5*np.eye(3)[Y].transpose(0, 3, 1, 2)
    P = np.exp(z)/np.exp(z).sum(1, keepdims=True)
    o = best_offsets(P, Y, axis=1)
    flat = np.moveaxis(P, 1, -1).reshape(-1, 3)
    np.testing.assert_array_equal(apply_offsets(P, o, axis=1).reshape(-1), apply_offsets(flat, o))
    assert skm.balanced_accuracy_score(Y.reshape(-1), apply_offsets(flat, o)) >= skm.balanced_accuracy_score(Y.reshape(-1), flat.argmax(1))

def test_tune_threshold_then_export(setup, tmp_path):
    "Binary: the tuned threshold is the best F1 of the corrected probabilities, decodes follow it, export keeps it, and nothing is left on the shared loss"
    learn = setup['os_learn']
    try:
        t = learn.tune_threshold('f1')
        p, y, dec = preds(learn, learn.dls.valid, with_decoded=True)
        np.testing.assert_array_equal(dec.numpy(), (p[:, 1] > t).long().numpy())
        f1 = skm.f1_score(y.view(-1), dec)
        assert f1 == pytest.approx(threshold_scores(p[:, 1], y.view(-1)).f1.max())
        assert f1 >= skm.f1_score(y.view(-1), p.argmax(1))
        learn.export(tmp_path/'tuned.pkl')
        loaded = load(tmp_path/'tuned.pkl')
        assert loaded.decision.thresh == t
        _, _, dec2 = preds(loaded, loaded.dls.test_dl(setup['test']), with_decoded=True)
        _, _, dec1 = preds(learn, setup['tdl'], with_decoded=True)
        np.testing.assert_array_equal(dec2.numpy(), dec1.numpy())
        assert 'decodes' not in vars(learn.loss_func.loss_func) and 'thresh' not in vars(learn.loss_func.loss_func)
    finally: learn.set_decision()   # back to PriorCorrection's default for the other tests

@pytest.mark.parametrize('kind,metric', [('binary', 'mcc'), ('multiclass', 'balanced_accuracy'), ('multilabel', 'f1')])
def test_tuned_rules_never_leak(kind, metric, tmp_path):
    "tune_threshold on one learner of a block type: a second and a later one keep fastai's decodes, before and after export/load_learner"
    a, df = small_learner(kind, epochs=3)
    b, _ = small_learner(kind, seed=1, epochs=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # few rows of a rare class in the small validation set
        with a.no_bar(): tuned = a.tune_threshold(metric)
    assert np.ndim(tuned) == (1 if kind != 'binary' else 0)
    c, _ = small_learner(kind, seed=2)
    for learn in (b, c):
        p, _, d = preds(learn, learn.dls.valid, with_decoded=True)
        np.testing.assert_array_equal(d.numpy(), (p > .5 if kind == 'multilabel' else p.argmax(1)).numpy())
    a.export(tmp_path/'a.pkl'); b.export(tmp_path/'b.pkl')
    la, lb = load(tmp_path/'a.pkl'), load(tmp_path/'b.pkl')
    np.testing.assert_allclose(np.asarray(la.decision.offsets if kind == 'multiclass' else la.decision.thresh), tuned)
    assert lb.decision is None
    d2, _ = small_learner(kind, seed=3)
    p, _, d = preds(d2, d2.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d.numpy(), (p > .5 if kind == 'multilabel' else p.argmax(1)).numpy())

@pytest.mark.parametrize('metric', ['balanced_accuracy', 'macro_f1', 'mcc'])
def test_multiclass_tuning_never_lowers_the_metric(metric):
    "On the validation set it tunes on, a multiclass learner's metric after tuning is at least that of its decisions before (PriorCorrection's balanced ones)"
    learn, _ = small_learner('multiclass', cbs=[OverSamplingCallback(seed=0), PriorCorrection()], epochs=3, n=1500)
    p, y, before = preds(learn, learn.dls.valid, with_decoded=True)
    sk = {**SK, 'macro_f1': lambda a, b: skm.f1_score(a, b, average='macro')}[metric]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with learn.no_bar(): o = learn.tune_threshold(metric)
    _, _, after = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(after.numpy(), apply_offsets(p, o))
    assert sk(y.view(-1), after) >= sk(y.view(-1), before) - 1e-12

def test_tune_threshold_warns_on_few_rows_and_refuses_what_it_cannot_do():
    learn, df = small_learner('multiclass')
    with pytest.warns(UserWarning, match="fewer than 10 rows"):
        with learn.no_bar(): learn.tune_threshold(dl=learn.dls.test_dl(df.iloc[400:460], with_labels=True))
    with pytest.raises(ValueError, match='are for binary and multi-label models'): learn.tune_threshold('recall', min_precision=.9)
    with pytest.raises(ValueError, match='metric must be one of'): learn.tune_threshold('youden')
    learn.dls.valid = learn.dls.valid.new(learn.dls.valid.dataset.new_empty() if hasattr(learn.dls.valid.dataset, 'new_empty') else [])
    with pytest.raises(ValueError, match='it has none'): learn.tune_threshold()

def test_multilabel_few_rows_warning_names_the_labels():
    "The warning names a multi-label model's labels by their vocab, as it names a multiclass model's classes"
    learn, df = small_learner('multilabel')
    with pytest.warns(UserWarning, match=r"\{'a': \d+, 'b': \d+, 'c': \d+\}"):
        with learn.no_bar(): learn.tune_threshold('f1', dl=learn.dls.test_dl(df.iloc[400:440], with_labels=True))

def test_costs_give_bayes_decisions():
    learn, _ = small_learner('multilabel', epochs=2)
    t = learn.tune_threshold(costs=[[0, 1], [4, 0]])                 # a missed label costs 4 false alarms: threshold 1/5
    np.testing.assert_allclose(t, .2)
    p, _, d = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d.numpy(), (p > .2).numpy())
    rule = small_learner('multiclass')[0].tune_threshold(costs=np.array([[0, 1, 1], [3, 0, 1], [9, 9, 0]]))
    assert rule.kind == 'costs'

def test_minority_classes_and_recall():
    "MinorityRecall() is the mean recall of the rarest 30% of the train split's classes, read from the learner"
    learn, df = small_learner('multiclass', cbs=[OverSamplingCallback(seed=0)], epochs=2)
    assert minority_classes(learn.dls) == [2]                        # c: 8% of the train rows; 30% of 3 classes is 1
    mr = MinorityRecall()
    learn.metrics = [mr, MinorityRecall('b'), AvgPrecisionMacro()]
    with learn.no_bar(): vals = learn.validate()
    p, y, _ = preds(learn, learn.dls.valid, with_decoded=True)
    d = p.argmax(1).numpy()
    assert vals[1] == pytest.approx(minority_recall(y.numpy(), d, [2]))
    assert vals[2] == pytest.approx(skm.recall_score(y.view(-1), d, labels=[1], average='macro'))
    Yh = y.view(-1).numpy()[:, None] == np.arange(3)
    assert vals[3] == pytest.approx(skm.average_precision_score(Yh, p.numpy(), average='macro'))
    assert mr.classes == [2]

def test_minority_recall_multilabel():
    "On a multi-label learner MinorityRecall() scores the rarest label's recall (it used to fail at the first validation batch), in fit and after a tuned threshold"
    learn, _ = small_learner('multilabel', epochs=2)
    assert minority_classes(learn.dls) == [2]                        # label c: 10% positives; 30% of 3 labels is 1
    learn.metrics = [MinorityRecall(), MinorityRecall('b')]
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    in_fit = list(learn.recorder.values[-1][2:])
    for thresh in (None, .2):                                        # fastai's 0.5, then a lower threshold (more positives)
        if thresh is not None: learn.set_decision(thresh=thresh)
        with learn.no_bar(): vals = list(learn.validate()[1:])
        _, y, d = preds(learn, learn.dls.valid, with_decoded=True)
        want = [skm.recall_score(y[:, k].numpy(), d[:, k].numpy()) for k in (2, 1)]
        assert vals == pytest.approx(want)
        if thresh is None: assert in_fit == pytest.approx(want)
    assert want[0] > 0 and vals[0] >= in_fit[0]

def test_avg_precision_macro_multilabel():
    "The recorder's crash 'inconsistent numbers of samples' on multi-label data: now macro AP over the labels"
    dls, _ = small_dls('multilabel')
    learn = tabular_learner(dls, layers=[16], metrics=AvgPrecisionMacro())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    p, y = preds(learn, learn.dls.valid)
    assert learn.recorder.values[-1][-1] == pytest.approx(skm.average_precision_score(y.numpy(), p.numpy(), average='macro'), abs=1e-6)

def test_avg_precision_macro_reads_the_scaled_softmax():
    "LDAMLoss's probabilities are softmax(s*z): the training metric scores those, not softmax(z), whose per-class ranking differs"
    from scipy.special import softmax
    from fastcore.basics import noop
    from imbalance_fastai.longtail import LDAMLoss
    learn, _ = small_learner('multiclass', epochs=3, loss_func=LDAMLoss)
    learn.metrics = AvgPrecisionMacro()
    with learn.no_bar(): ap = learn.validate()[1]
    p, y = preds(learn, learn.dls.valid)
    z, _ = preds(learn, learn.dls.valid, act=noop)
    Yh = y.view(-1).numpy()[:, None] == np.arange(3)
    assert ap == pytest.approx(skm.average_precision_score(Yh, p.numpy(), average='macro'), abs=1e-6)
    assert abs(ap - skm.average_precision_score(Yh, softmax(z.numpy(), 1), average='macro')) > 1e-4   # the test tells them apart

def test_tune_threshold_with_the_new_losses():
    "tune_threshold reads each loss's activation: balanced softmax (2-class softmax: one threshold), the asymmetric loss (one per label)"
    from imbalance_fastai.losses import BalancedSoftmaxLoss
    from imbalance_fastai.longtail import AsymmetricLoss
    learn, _ = small_learner('binary', epochs=2, loss_func=BalancedSoftmaxLoss)
    with learn.no_bar(): t = learn.tune_threshold()
    p, y, d = preds(learn, learn.dls.valid, with_decoded=True)
    assert isinstance(t, float) and np.array_equal(d.numpy(), (p[:, 1] > t).long().numpy())
    assert skm.f1_score(y.view(-1), d) == pytest.approx(max(skm.f1_score(y.view(-1), p[:, 1] > g) for g in np.r_[0., p[:, 1].unique().numpy()]))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                     # few positives of label c in the tuning rows
        ml, _ = small_learner('multilabel', epochs=2, loss_func=lambda dls: AsymmetricLoss())
        with ml.no_bar(): tm = ml.tune_threshold()
    p, y, d = preds(ml, ml.dls.valid, with_decoded=True)
    assert tm.shape == (3,) and np.array_equal(d.numpy(), (p > torch.tensor(tm)).numpy())
    for k in range(3): assert skm.f1_score(y[:, k], d[:, k]) == pytest.approx(skm.f1_score(y[:, k], p[:, k] > best_threshold(p[:, k], y[:, k])))


# ---------------------------------------------------------------- one implementation of each score, as scikit-learn's

def test_count_scores_are_sklearns_with_absent_classes():
    "The one confusion-count scorer (metrics' `_counts_score`, which compare's scores use): macro-F1 over the classes that appear, as f1_score"
    from imbalance_fastai.metrics import _counts_score
    from imbalance_fastai.scores import score_predictions
    rng = np.random.default_rng(0)
    y = rng.choice(5, 400, p=[.5, .3, .2, 0, 0])            # classes 3 and 4 have no rows
    D = np.stack([np.where(rng.random(400) < .7, y, rng.choice(4, 400)) for _ in range(3)])   # class 3 decided, 4 never
    cnt = lambda v: np.stack([np.bincount(x, minlength=5) for x in v]).astype(float)
    tp, pred, true = cnt([d[d == y] for d in D]), cnt(D), np.bincount(y, minlength=5).astype(float)
    sk = {'macro_f1': lambda a, b: skm.f1_score(a, b, average='macro'), 'mcc': skm.matthews_corrcoef,
          'balanced_accuracy': skm.balanced_accuracy_score}
    P = np.full((400, 5), .2)
    for m, f in sk.items():
        want = [f(y, d) for d in D]
        np.testing.assert_allclose(_counts_score(tp, pred, true, m), want, rtol=1e-12)
        np.testing.assert_allclose([score_predictions(P, y, [2], d)[m] for d in D], want, rtol=1e-12)
    assert _counts_score(tp, pred, true, 'macro_f1')[0] != pytest.approx((2*tp/(pred + true + (pred + true == 0)))[0].mean())   # not the mean over all 5

def test_weighted_average_precision_is_sklearns_with_unit_weights():
    "compare's PR-AUC (weighted, for the bootstrap) with unit weights is scikit-learn's macro AP over the classes with rows, ties included"
    from imbalance_fastai.scores import _pr_auc
    rng = np.random.default_rng(1)
    y = rng.choice(4, 300, p=[.6, .3, .1, 0])
    P = np.round(rng.dirichlet(np.ones(4), 300), 1)          # many ties
    want = np.mean([skm.average_precision_score(y == k, P[:, k]) for k in range(3)])
    np.testing.assert_allclose(_pr_auc(P, y, np.ones((2, 300))), [want, want], rtol=1e-12)
    w = rng.multinomial(300, np.full(300, 1/300))[None].astype(float)   # and a weight is a repeated row
    r = np.repeat(np.arange(300), w[0].astype(int))
    np.testing.assert_allclose(_pr_auc(P, y, w), [np.mean([skm.average_precision_score(y[r] == k, P[r, k]) for k in np.unique(y[r])])], rtol=1e-12)

@pytest.mark.parametrize('cbs', [[], [PriorCorrection()], [PriorCorrection(decision='accuracy')]])
def test_minority_recall_scores_the_learners_decisions(cbs):
    "validate()'s MinorityRecall is minority_recall of get_preds(with_decoded=True)'s decisions: with and without PriorCorrection, and after tune_threshold"
    learn, _ = small_learner('multiclass', cbs=cbs, epochs=3)
    learn.metrics = [MinorityRecall(), MinorityRecall('b'), AvgPrecisionMacro()]
    def check():
        with learn.no_bar(): vals = learn.validate()
        p, y, d = preds(learn, learn.dls.valid, with_decoded=True)
        y = y.view(-1).numpy()
        assert vals[1] == pytest.approx(minority_recall(y, d.numpy(), [2]))
        assert vals[2] == pytest.approx(minority_recall(y, d.numpy(), [1]))
        assert vals[3] == pytest.approx(skm.average_precision_score(y[:, None] == np.arange(3), p.numpy(), average='macro'), abs=1e-6)
        return p, d.numpy()
    p, d = check()
    if cbs and cbs[0].decision == 'balanced': assert (d != p.argmax(1).numpy()).any()   # the balanced rule is not the argmax: the test tells them apart
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.tune_threshold('macro_f1')
    check()

def _cancer_learner():
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from fastai.tabular.data import TabularDataLoaders
    from fastai.tabular.core import Normalize
    from fastai.torch_core import set_seed
    from imbalance_fastai.data import StratifiedSplitter
    X, y = load_breast_cancer(return_X_y=True)
    df = pd.DataFrame(X, columns=[f'f{i}' for i in range(X.shape[1])]); df['y'] = np.where(y == 1, 'benign', 'malignant')
    _, val = StratifiedSplitter(valid_pct=.3, seed=0)(df.y)
    set_seed(0)
    dls = TabularDataLoaders.from_df(df, cont_names=list(df.columns[:-1]), y_names='y', procs=[Normalize], valid_idx=list(val),
                                     bs=64, num_workers=0)
    learn = tabular_learner(dls, layers=[16])
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    return learn

def test_a_precision_floor_alone_maximises_recall():
    "README: `min_precision=` is 'maximise recall with precision at least p' (and `min_recall=` alone: the most precision)"
    learn = _cancer_learner()
    p, y = preds(learn, learn.dls.valid)
    p, y = p[:, 1].numpy(), y.view(-1).numpy()
    df = threshold_scores(p, y)
    for floor, got, want in (('min_precision', 'recall', 'precision'), ('min_recall', 'precision', 'recall')):
        for v in (.9, .97):   # at .9 the best F1 under the floor has less recall (precision) than the best: the test tells them apart
            t = learn.tune_threshold(**{floor: v})
            sc = threshold_scores(p, y, [t]).iloc[0]
            assert sc[want] >= v
            assert sc[got] == pytest.approx(df[df[want] >= v][got].max())
            assert best_threshold(p, y, **{floor: v}) == t
    assert threshold_scores(p, y, [learn.tune_threshold(min_precision=.97, metric='f1')]).iloc[0].f1 == pytest.approx(
        df[df.precision >= .97].f1.max())   # an explicit metric is maximised under the floor

def test_thresholds_refuse_logits_and_floors_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r'probs must be probabilities in \[0, 1\].*logits.*get_preds'):
        best_threshold(np.array([-1., 3., 8., -4.]), [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r'probs must be probabilities in \[0, 1\]'): threshold_scores([.2, 1.5], [0, 1])
    for kw in (dict(min_recall=-1), dict(min_precision=1.5), dict(min_precision=float('nan'))):
        nm = next(iter(kw))
        with pytest.raises(ValueError, match=rf'{nm} must be a number in \[0, 1\]'): best_threshold([.2, .8], [0, 1], **kw)
    learn, _ = small_learner('binary')
    with pytest.raises(ValueError, match=r'min_recall must be a number in \[0, 1\]'): learn.tune_threshold(min_recall=-1)
    assert learn.decision is None


def _digits_learner(cbs, metrics, seed=0):
    "long_tailed_digits(20), a stratified quarter of it as the validation set (pixels constant on the rest left out), as the README"
    import pandas as pd
    from fastai.tabular.data import TabularDataLoaders
    from fastai.tabular.core import Normalize
    from fastai.torch_core import set_seed
    from imbalance_fastai.data import StratifiedSplitter, long_tailed_digits
    trn, _ = long_tailed_digits(20, seed=seed)
    _, val = StratifiedSplitter(valid_pct=.25, seed=seed)(trn.label)
    rest = trn.drop(index=trn.index[val])
    cont = [c for c in trn.columns[:-1] if rest[c].std() > 0]
    set_seed(seed)
    dls = TabularDataLoaders.from_df(trn, cont_names=cont, y_names='label', procs=[Normalize], valid_idx=list(val), bs=32, num_workers=0)
    return tabular_learner(dls, layers=[32], metrics=metrics, cbs=cbs)

@pytest.mark.parametrize('case', ['prior', 'accuracy', 'oversample', 'tuned', 'calibrated'])
def test_training_metrics_score_the_decisions_the_learner_makes_after_fit(case):
    "Inside fit, Decided and MinorityRecall score what validate() and get_preds(with_decoded=True) decide after it; the losses see the raw outputs"
    from fastai.metrics import BalancedAccuracy
    from imbalance_fastai.metrics import Decided
    import imbalance_fastai.calibration   # noqa: F401 (patch Learner: calibrate)
    cbs = {'accuracy': [PriorCorrection(decision='accuracy')], 'oversample': [OverSamplingCallback(seed=0), PriorCorrection()]}.get(case, [PriorCorrection()])
    learn = _digits_learner(cbs, [Decided(BalancedAccuracy()), MinorityRecall()])
    with warnings.catch_warnings(), learn.no_bar(), learn.no_logging():
        warnings.simplefilter('ignore')
        learn.fit_one_cycle(3, 1e-2)
        if case in ('tuned', 'calibrated'):   # a rule of the learner's own (tuned on corrected probabilities), or a temperature, then another fit
            learn.tune_threshold() if case == 'tuned' else learn.calibrate()
            learn.fit_one_cycle(2, 1e-3)
        rec = learn.recorder.values[-1]
        vals = learn.validate()
        p, y, d = preds(learn, learn.dls.valid, with_decoded=True)
        learn.prior_correction.enabled = False
        raw_loss = learn.validate()[0] if case != 'calibrated' else None
    y, d = y.view(-1).numpy(), d.numpy()
    rare = learn.metrics[1].classes
    rec, vals = [float(v) for v in rec], [float(v) for v in vals]
    assert rec[2:] == pytest.approx(vals[1:])
    assert rec[2:] == pytest.approx([skm.balanced_accuracy_score(y, d), minority_recall(y, d, rare)])
    assert (d != p.argmax(1).numpy()).any() or case == 'accuracy'   # the decisions are not the argmax of what get_preds returns
    if raw_loss is not None: assert rec[1] == pytest.approx(raw_loss)   # valid_loss: the model's outputs, uncorrected

@pytest.mark.parametrize('kind', ['binary', 'multiclass'])
def test_tune_threshold_takes_fastai_metrics_of_decisions(kind):
    "BalancedAccuracy(), F1Score(average='macro'), MatthewsCorrCoef() tune as their names do; other AccumMetrics by their function; probability metrics are refused"
    from fastai.metrics import BalancedAccuracy, F1Score, MatthewsCorrCoef, RocAuc, APScoreBinary, AccumMetric
    learn, _ = small_learner(kind, epochs=3)
    p, y = preds(learn, learn.dls.valid)
    y = y.view(-1).numpy()
    def tune(metric):
        learn.set_decision()   # (multiclass tuning starts from the rule in force)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return learn.tune_threshold(metric=metric)
    for m, name in ((BalancedAccuracy(), 'balanced_accuracy'), (F1Score(average='macro'), 'macro_f1'), (MatthewsCorrCoef(), 'mcc')):
        np.testing.assert_array_equal(tune(m), tune(name))
    tuned = tune(BalancedAccuracy())
    adj = tune(BalancedAccuracy(adjusted=True))   # not a built-in score: called as scikit-learn's, with its kwargs
    rev = tune(AccumMetric(lambda d, t: skm.balanced_accuracy_score(t.numpy(), d.numpy())))   # (preds, targs), tensors
    f = lambda a, b: skm.balanced_accuracy_score(a, b, adjusted=True)
    if kind == 'binary':
        assert tuned == best_threshold(p[:, 1], y, 'balanced_accuracy') == best_threshold(p[:, 1], y, BalancedAccuracy())
        assert adj == best_threshold(p[:, 1], y, f) and rev == best_threshold(p[:, 1], y, skm.balanced_accuracy_score)
    else:
        np.testing.assert_array_equal(tuned, best_offsets(p, y, BalancedAccuracy()))
        np.testing.assert_array_equal(adj, best_offsets(p, y, f))
        np.testing.assert_array_equal(rev, best_offsets(p, y, skm.balanced_accuracy_score))
    for bad in (RocAuc(), APScoreBinary()):
        with pytest.raises(TypeError, match='metric .* scores probabilities'): learn.tune_threshold(metric=bad)
    with pytest.raises(TypeError, match='metric .* scores probabilities'): learn.tune_threshold(metric=AvgPrecisionMacro())
    with pytest.raises(TypeError, match='metric must be one of'): learn.tune_threshold(metric=3)
    with pytest.raises(TypeError, match='metric must be one of'): best_offsets(np.eye(3), [0, 1, 2], metric=[.5])


def _old_best_for_class(logp, o, y, k, c, metric, max_candidates):
    "The coordinate step as it was before `_top_two`: a full `logp + o` per class (the reference)"
    from imbalance_fastai.metrics import _counts_score
    L = logp + o
    L[:, k] = -np.inf
    a = L.argmax(1)
    b = L[np.arange(len(L)), a] - logp[:, k]
    bs = np.sort(b[np.isfinite(b)])
    if len(bs)==0: return None
    u = bs[np.r_[True, bs[1:]!=bs[:-1]]]
    cands = np.r_[u[0]-1, (u[:-1]+u[1:])/2, u[-1]+1]
    true = np.bincount(y, minlength=c).astype(float)
    tp0, pred0 = np.bincount(a[a==y], minlength=c), np.bincount(a, minlength=c)
    yk, ya = (y==k).astype(float), (y==a).astype(float)
    def _scores(cs):
        if callable(metric): return np.array([metric(y, np.where(b<o_k, k, a)) for o_k in cs])
        K = len(cs)
        seg = np.searchsorted(cs, b, side='right')
        ik, ia = seg*c + k, seg*c + a
        cnt = lambda i, w=None: np.bincount(i, weights=w, minlength=(K+1)*c).reshape(K+1, c)
        dpred, dtp = cnt(ik) - cnt(ia), cnt(ik, yk) - cnt(ia, ya)
        return _counts_score(tp0 + dtp.cumsum(0)[:K], pred0 + dpred.cumsum(0)[:K], true, metric)
    lo, hi = 0, len(cands)
    while True:
        idx = np.arange(lo, hi) if hi-lo<=max_candidates else np.linspace(lo, hi-1, min(max_candidates, 1024)).round().astype(int)
        scores = _scores(cands[idx])
        best = np.flatnonzero(scores==scores.max())
        q = best[len(best)//2]
        if len(idx)==hi-lo: return scores[q], cands[idx[q]]
        lo, hi = idx[max(q-1, 0)], idx[min(q+1, len(idx)-1)]+1


def _old_best_offsets(P, y, metric, init, max_iter, maxc):
    "best_offsets' search as it was (the reference), on float probabilities `(n, c)` and int64 codes"
    from imbalance_fastai.metrics import _score_decisions
    from imbalance_fastai.decisions import _log_probs
    c = P.shape[1]
    o = np.zeros(c) if init is None else np.asarray(init, float).copy()
    logp = _log_probs(P)
    best = _score_decisions(y, (logp+o).argmax(1), c, metric)
    for _ in range(max_iter):
        moved = False
        for k in np.flatnonzero(np.isfinite(o)):
            found = _old_best_for_class(logp, o, y, k, c, metric, maxc)
            if found is None or found[0]<=best+1e-12: continue
            new = o.copy(); new[k] = found[1]
            score = _score_decisions(y, (logp+new).argmax(1), c, metric)
            if score>best+1e-12: o, best, moved = new, score, True
        if not moved: break
    return o


@pytest.mark.parametrize('seed', range(8))
def test_best_offsets_equal_the_full_sum_per_class(seed):
    "The top-two search (one `logp + o` per pass, rows updated after a kept move) returns the old per-class search's offsets exactly: tied probabilities, absent classes, fixed (-inf) classes, each metric, coarse-to-fine grids"
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(200, 3000)), int(rng.choice([3, 5, 8]))
    P = rng.dirichlet(np.ones(c)*.7, n)
    if seed % 2: P = np.round(P, 1) + 1e-3; P /= P.sum(1, keepdims=True)    # many exact ties between classes
    y = rng.choice(c, n, p=np.r_[.5, np.full(c-1, .5/(c-1))])
    y[y==c-1] = 1                                                         # an absent class
    init = None if seed < 5 else np.r_[0., -np.inf, np.zeros(c-2)]       # a class fixed out
    metric = ['balanced_accuracy', 'macro_f1', 'mcc'][seed % 3]
    maxc = [None, 16, 300][seed % 3]
    got = best_offsets(P, y, metric, init=init, max_iter=10, max_candidates=maxc)
    ref = _old_best_offsets(P, y.astype(np.int64), metric, init, 10, maxc or max(256, 2**22//c))
    np.testing.assert_array_equal(got, ref)
