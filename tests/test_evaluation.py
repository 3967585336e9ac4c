"""Prior correction, thresholds and the imbalance report on a trained tabular learner (2% positives, tens of thousands of rows).

The data: 3 continuous features, x | y ~ N(y*MU, I), exactly 2% positives in every split. Under this generative model
the label shift assumption holds exactly (p(x|y) is the same in every split), so prior correction must recover the natural
probabilities. Two learners are trained once per module with the same data, seed, model and schedule: one on
balanced batches (`OverSamplingCallback`) with `PriorCorrection`, one plainly (no callback).
"""
import warnings
import numpy as np, pandas as pd, pytest, torch
import sklearn.metrics as skm
import fastai.callback.schedule, fastai.callback.progress   # noqa: F401 (patch Learner: fit_one_cycle, no_bar)
from fastai.data.block import CategoryBlock, RegressionBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.learner import load_learner
from fastai.losses import CrossEntropyLossFlat, BCEWithLogitsLossFlat
from fastai.torch_core import set_seed
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.sampling import weighted_dataloaders
from imbalance_fastai.evaluation import (PriorCorrection, SoftmaxThreshold, correct_prior, best_threshold, threshold_scores,
                                         expected_calibration_error, imbalance_report)

N_TRN, N_VAL, N_TST, RATE = 20_000, 4_000, 8_000, 0.02
MU = np.array([1.5, 1.0, 0.5])
CONT = ['x0', 'x1', 'x2']
# A 2% rate measured on N_TST rows has a standard error of sqrt(.02*.98/8000) = 0.0016. The mean corrected probability
# estimates that rate from a model fitted on 20k rows (400 positives, whose own rate estimate has an error of 0.001), so
# three of those standard errors, 0.005, is the sampling error we allow (the uncorrected mean is about 0.25).
TOL = 0.005

def make(n, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, int); y[rng.permutation(n)[:int(round(n*RATE))]] = 1
    x = rng.standard_normal((n, 3)) + y[:, None]*MU
    return pd.DataFrame({**{c: x[:, i] for i, c in enumerate(CONT)}, 'y': np.where(y == 1, 'pos', 'neg')})

def fit(dls, cbs, seed=0, epochs=4, lr=5e-2):
    set_seed(seed)
    learn = tabular_learner(dls, layers=[16], loss_func=CrossEntropyLossFlat(), cbs=cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn

def preds(learn, dl, **kwargs):
    with learn.no_bar(): return learn.get_preds(dl=dl, **kwargs)

@pytest.fixture(scope='module')
def setup():
    warnings.filterwarnings('ignore', category=UserWarning)
    df = pd.concat([make(N_TRN, 0), make(N_VAL, 1)], ignore_index=True)
    test = make(N_TST, 2)
    to = TabularPandas(df, procs=[Normalize], cont_names=CONT, y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(N_TRN)), list(range(N_TRN, N_TRN + N_VAL))])
    dls = to.dataloaders(bs=1024, num_workers=0)
    os_learn = fit(dls, [OverSamplingCallback(seed=0), PriorCorrection()])
    plain = fit(dls, [])
    tdl = dls.test_dl(test)
    y_test = (test.y == 'pos').to_numpy().astype(int)
    corrected, _ = preds(os_learn, tdl)
    os_learn.prior_correction.enabled = False
    raw, _ = preds(os_learn, tdl)
    os_learn.prior_correction.enabled = True
    plain_p, _ = preds(plain, tdl)
    norm = lambda p: (p/p.sum(1, keepdims=True)).double().numpy()   # float32 softmax, summed again in float64
    return dict(df=df, test=test, to=to, dls=dls, os_learn=os_learn, plain=plain, tdl=tdl, y_test=y_test,
                corrected=norm(corrected), raw=norm(raw), plain_p=norm(plain_p))

def test_priors_recorded(setup):
    pc = setup['os_learn'].prior_correction
    np.testing.assert_allclose(pc.train_prior, [.5, .5])
    np.testing.assert_allclose(pc.target_prior, [1 - RATE, RATE])
    assert pc.vocab == ['neg', 'pos']

def test_mean_probability_is_corrected(setup):
    raw, corrected = setup['raw'][:, 1].mean(), setup['corrected'][:, 1].mean()
    assert setup['y_test'].mean() == RATE
    assert raw > 5*RATE, f"the oversampled model should overstate the 2% rate, mean probability {raw:.4f}"
    assert abs(corrected - RATE) < TOL, f"corrected mean probability {corrected:.4f} is not within {TOL} of {RATE}"
    np.testing.assert_allclose(setup['corrected'], correct_prior(setup['raw'], [.5, .5], [1 - RATE, RATE]), atol=1e-5)

def test_log_loss_no_worse_than_plain(setup):
    y = setup['y_test']
    ll_corr, ll_plain = skm.log_loss(y, setup['corrected']), skm.log_loss(y, setup['plain_p'])
    ll_raw = skm.log_loss(y, setup['raw'])
    assert ll_corr <= 1.05*ll_plain, f"log-loss with correction {ll_corr:.4f} is more than 5% above plain training's {ll_plain:.4f}"
    assert ll_raw > 2*ll_corr

def test_decodes_follow_corrected_probabilities(setup):
    learn, tdl = setup['os_learn'], setup['tdl']
    p, _, dec = preds(learn, tdl, with_decoded=True)
    np.testing.assert_array_equal(dec.numpy(), p.argmax(1).numpy())
    assert dec.float().mean() < setup['raw'].argmax(1).mean()   # far fewer positives than the balanced model's argmax

def test_correction_survives_export(setup, tmp_path):
    learn, test = setup['os_learn'], setup['test']
    learn.export(tmp_path/'model.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'model.pkl')
    assert len(loaded.dls.train.dataset) == 0 and getattr(loaded.dls.train, 'resampler', None) is None
    p, _ = preds(loaded, loaded.dls.test_dl(test))
    np.testing.assert_allclose(p.double().numpy(), setup['corrected'], atol=1e-5)
    assert abs(p[:, 1].mean().item() - RATE) < TOL
    _, _, one = loaded.predict(test.iloc[0])
    np.testing.assert_allclose(one.numpy(), setup['corrected'][0], atol=1e-5)

def test_weighted_dataloaders_prior_survives_export(setup, tmp_path):
    "Priors captured when the callback is attached, exported without any fit or prediction"
    wdls = weighted_dataloaders(setup['to'], bs=1024, num_workers=0, seed=0)
    set_seed(0)
    learn = tabular_learner(wdls, layers=[16], cbs=PriorCorrection())
    np.testing.assert_allclose(learn.prior_correction.train_prior, [.5, .5])
    before, _ = preds(learn, wdls.test_dl(setup['test'].iloc[:500]))
    learn.export(tmp_path/'w.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'w.pkl')
    after, _ = preds(loaded, loaded.dls.test_dl(setup['test'].iloc[:500]))
    np.testing.assert_allclose(after.numpy(), before.numpy(), atol=1e-6)
    loaded.prior_correction.enabled = False
    raw, _ = preds(loaded, loaded.dls.test_dl(setup['test'].iloc[:500]))
    np.testing.assert_allclose(after.numpy(), correct_prior(raw.numpy(), [.5, .5], [1 - RATE, RATE]), atol=1e-5)

def test_class_weighted_sigmoid_loss(setup):
    "One positive-class logit (BCE with pos_weight): the shift is logit(target) - logit(train), read from pos_weight"
    df = setup['df'].assign(t=(setup['df'].y == 'pos').astype(np.float32))
    to = TabularPandas(df, procs=[Normalize], cont_names=CONT, y_names='t', y_block=RegressionBlock(),
                       splits=[list(range(N_TRN)), list(range(N_TRN, N_TRN + N_VAL))])
    dls = to.dataloaders(bs=1024, num_workers=0)
    set_seed(0)
    learn = tabular_learner(dls, layers=[16], n_out=1, loss_func=BCEWithLogitsLossFlat(pos_weight=torch.tensor([49.])),
                            cbs=PriorCorrection())
    p, _ = preds(learn, dls.valid)
    np.testing.assert_allclose(learn.prior_correction.train_prior, [.5])
    np.testing.assert_allclose(learn.prior_correction.target_prior, [RATE])
    learn.prior_correction.enabled = False
    raw, _ = preds(learn, dls.valid)
    assert p.shape == raw.shape == (N_VAL, 1)
    np.testing.assert_allclose(p.numpy(), correct_prior(raw.numpy(), .5, RATE), atol=1e-5)

def test_best_threshold_known_answer():
    p = np.arange(1, 100)/100
    assert best_threshold(p, p > .7) == pytest.approx(.705)                      # F1 = 1 only between .70 and .71
    assert best_threshold(p, p > .7, 'mcc') == pytest.approx(.705)
    # The most precise threshold that keeps every positive: just below the lowest-scored positive (.3)
    y = (p > .7) | (p == .3)
    assert best_threshold(p, y, 'precision', min_recall=1.) == pytest.approx(.295)

@pytest.mark.parametrize('metric', ['f1', 'mcc', 'balanced_accuracy', 'youden'])
def test_best_threshold_is_best_by_sklearn(metric):
    rng = np.random.default_rng(1)
    y = rng.random(500) < .1   # small: scikit-learn is called once per distinct threshold
    p = 1/(1 + np.exp(-(rng.standard_normal(500) + 2.5*y - 3)))
    sk = {'f1': skm.f1_score, 'mcc': skm.matthews_corrcoef, 'balanced_accuracy': skm.balanced_accuracy_score,
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
    ok = [g for g in grid if skm.recall_score(y, p > g) >= .9]
    best = max(skm.precision_score(y, p > g, zero_division=0) for g in ok)
    t = best_threshold(p, y, 'precision', min_recall=.9)
    assert skm.recall_score(y, p > t) >= .9 and skm.precision_score(y, p > t) == pytest.approx(best)

def test_tune_threshold_then_export(setup, tmp_path):
    learn = setup['os_learn']
    try:
        t = learn.tune_threshold('f1')
        assert isinstance(learn.loss_func.decodes, SoftmaxThreshold)
        p, y, dec = preds(learn, learn.dls.valid, with_decoded=True)
        np.testing.assert_array_equal(dec.numpy(), (p[:, 1] > t).long().numpy())
        f1 = skm.f1_score(y.view(-1), dec)
        assert f1 == pytest.approx(threshold_scores(p[:, 1], y.view(-1)).f1.max())
        assert f1 >= skm.f1_score(y.view(-1), p.argmax(1))
        learn.export(tmp_path/'tuned.pkl')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            loaded = load_learner(tmp_path/'tuned.pkl')
        assert loaded.loss_func.decodes.thresh == t
        _, _, dec2 = preds(loaded, loaded.dls.test_dl(setup['test']), with_decoded=True)
        _, _, dec1 = preds(learn, setup['tdl'], with_decoded=True)
        np.testing.assert_array_equal(dec2.numpy(), dec1.numpy())
    finally: del learn.loss_func.decodes   # back to argmax for the other tests

def _check_against_sklearn(rep, P, y, col):
    "The binary report's numbers are scikit-learn's on the same arrays"
    get = lambda m, c='all': rep.loc[(m, c), col]
    d = P.argmax(1)
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
    _check_against_sklearn(rep, correct_prior(raw, [.5, .5], [1 - RATE, RATE]), y, 'corrected')
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
