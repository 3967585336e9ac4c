"Prior correction on a trained tabular learner (2% positives): mean probabilities, balanced decisions, export, weighted losses, and the losses of issue 14 (focal alpha, DRW, LDAM, balanced softmax, asymmetric)."
import warnings
import numpy as np, pytest, torch
import sklearn.metrics as skm
from fastcore.basics import noop
from fastai.data.block import RegressionBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.learner import load_learner
from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
from fastai.torch_core import set_seed
from imbalance_fastai.sampling import weighted_dataloaders
from trained import N_TRN, N_VAL, RATE, TOL, CONT, preds, fit, small_learner
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.losses import FocalLoss, BalancedSoftmaxLoss
from imbalance_fastai.longtail import LDAMLoss, DeferredReweighting, AsymmetricLoss
from imbalance_fastai.prior import PriorCorrection, correct_prior, loss_prior_factor
import imbalance_fastai.calibration   # noqa: F401 (patches Learner.calibrate)


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

def test_decisions_stay_balanced_while_probabilities_are_corrected(setup):
    """Acceptance: oversampling + PriorCorrection() keeps the balanced accuracy of the decisions while the mean corrected
    probability matches the prior. The default decisions are the balanced model's, argmax(p/prior): for a model trained on
    balanced batches exactly its own argmax (a row may flip only at a float32 tie, so we allow one of the 160 positives)."""
    learn, tdl, y = setup['os_learn'], setup['tdl'], setup['y_test']
    p, _, dec = preds(learn, tdl, with_decoded=True)
    assert abs(p[:, 1].mean().item() - RATE) < TOL
    ba, ba_raw = skm.balanced_accuracy_score(y, dec), skm.balanced_accuracy_score(y, setup['raw'].argmax(1))
    assert abs(ba - ba_raw) <= 1/(2*y.sum()), (ba, ba_raw)
    np.testing.assert_array_equal(dec.numpy(), (p[:, 1] > learn.prior_correction.target_prior[1]).long().numpy())
    # decision='accuracy' (the argmax of the corrected probabilities, the default before) gives most of it away
    learn.remove_cb(learn.prior_correction)
    try:
        learn.add_cb(PriorCorrection(decision='accuracy'))
        pa, _, acc = preds(learn, tdl, with_decoded=True)
        np.testing.assert_allclose(pa.numpy(), p.numpy(), atol=1e-6)   # the same probabilities
        np.testing.assert_array_equal(acc.numpy(), pa.argmax(1).numpy())
        assert skm.balanced_accuracy_score(y, acc) < ba - .1
        assert skm.accuracy_score(y, acc) > skm.accuracy_score(y, dec)
    finally:
        learn.remove_cb(learn.prior_correction)
        learn.add_cb(PriorCorrection())

def test_partial_resampling_decides_as_the_balanced_model(setup):
    """With partial resampling (class shares ~ sqrt(n_c), a 87.5/12.5 prior here) the model's own argmax is not balanced;
    PriorCorrection's decisions are. Seen: balanced accuracy 0.818 against 0.717 for the raw argmax and 0.829 for full
    oversampling. The margins allowed (0.05 above the raw argmax, 0.03 of full oversampling) are about 2 and 1 standard errors of
    a recall measured on 160 positives (0.03)."""
    learn = fit(setup['dls'], [OverSamplingCallback('partial', seed=0), PriorCorrection()])
    np.testing.assert_allclose(learn.prior_correction.train_prior, [.875, .125])
    y = setup['y_test']
    p, _, dec = preds(learn, setup['tdl'], with_decoded=True)
    learn.prior_correction.enabled = False
    raw, _ = preds(learn, setup['tdl'])
    assert abs(p[:, 1].mean().item() - RATE) < TOL
    ba = skm.balanced_accuracy_score(y, dec)
    assert ba > skm.balanced_accuracy_score(y, raw.argmax(1)) + .05
    _, _, full = preds(setup['os_learn'], setup['tdl'], with_decoded=True)
    assert abs(ba - skm.balanced_accuracy_score(y, full)) < .03

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
    _, cls, one = loaded.predict(test.iloc[0])
    np.testing.assert_allclose(one.numpy(), setup['corrected'][0], atol=1e-5)
    _, _, dec = preds(loaded, loaded.dls.test_dl(test), with_decoded=True)
    _, _, dec0 = preds(learn, setup['tdl'], with_decoded=True)
    np.testing.assert_array_equal(dec.numpy(), dec0.numpy())                       # the balanced decisions, exported too
    assert cls == dec[0]

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


# ---------------------------------------------------------------- the losses of issue 14

def _single_logit_dls(setup):
    "The same rows with a 0/1 float target: one positive-class logit"
    df = setup['df'].assign(t=(setup['df'].y == 'pos').astype(np.float32))
    to = TabularPandas(df, procs=[Normalize], cont_names=CONT, y_names='t', y_block=RegressionBlock(),
                       splits=[list(range(N_TRN)), list(range(N_TRN, N_TRN + N_VAL))])
    return to.dataloaders(bs=1024, num_workers=0)

@pytest.mark.parametrize('kw', [dict(alpha=.98), dict(weight=[1., 49.])])
def test_binary_focal_alpha_and_weight_move_the_prior(setup, kw):
    """FocalLoss(mode='binary') weighs the positives by alpha (the negatives by 1-alpha), or by weight=[negative, positive]:
    49:1 on 2% positives is a balanced training prior, which PriorCorrection corrects back to 2% (it used to read only
    `weight`, as alpha). A loss weighted 49:1 trains noisier than balanced batches (over seeds 0-4 the corrected mean was
    0.021-0.027): 2*TOL still tells a correction (0.02) from none (about 0.25)."""
    dls = _single_logit_dls(setup)
    learn = fit(dls, [PriorCorrection()], loss_func=FocalLoss(gamma=0., mode='binary', **kw), n_out=1)
    pc = learn.prior_correction
    np.testing.assert_allclose(pc.train_prior, [.5], rtol=1e-5)
    np.testing.assert_allclose(pc.target_prior, [RATE])
    tdl = dls.test_dl(setup['test'])
    p, _, d = preds(learn, tdl, with_decoded=True)
    pc.enabled = False
    raw, _ = preds(learn, tdl)
    pc.enabled = True
    np.testing.assert_allclose(p.numpy(), correct_prior(raw.numpy(), .5, RATE), atol=1e-5)
    assert raw.mean().item() > 5*RATE and abs(p.mean().item() - RATE) < 2*TOL, (raw.mean(), p.mean())
    np.testing.assert_array_equal(d.numpy().reshape(-1), (p.view(-1) > RATE).long().numpy())   # the balanced model's decisions
    np.testing.assert_array_equal(learn.decide(p).numpy(), d.numpy())                          # and outside get_preds

def test_multilabel_focal_alpha_moves_each_labels_odds():
    "Multi-label focal alpha multiplies each label's odds by alpha/(1-alpha); its weight scales both terms of a label and shifts nothing"
    learn, _ = small_learner('multilabel', cbs=[PriorCorrection()], epochs=2,
                             loss_func=lambda dls: FocalLoss(gamma=0., mode='multilabel', alpha=[.5, .8, .9], weight=[2., 1., 1.]))
    pc = learn.prior_correction
    nat = np.asarray(pc.natural_prior)
    odds = nat/(1 - nat)*[1, 4, 9]
    np.testing.assert_allclose(pc.train_prior, odds/(1 + odds), rtol=1e-6)
    p, _, d = preds(learn, learn.dls.valid, with_decoded=True)
    pc.enabled = False
    raw, _ = preds(learn, learn.dls.valid)
    pc.enabled = True
    np.testing.assert_allclose(p.numpy(), correct_prior(raw.numpy(), pc.train_prior, nat, multilabel=True), atol=1e-5)
    np.testing.assert_array_equal(d.numpy(), (p > torch.tensor(nat, dtype=torch.float32)).numpy())

def test_deferred_reweighting_is_read_and_composes_with_the_decision_loss(setup, tmp_path):
    """DRW trains the last 3 of 6 epochs with a class-weighted copy of the loss and puts the original back after fit:
    the model was last trained on the weighted prior (here 0.31 positives), which PriorCorrection reads from `trained_loss`,
    so the corrected mean is back at 2% (seeds 0-4: 0.017-0.023). The learner's own DecisionLoss (made by PriorCorrection,
    holding a rule) is the loss DRW copies: after fit the learner has it back with its rule, the copy is tied to the same
    PriorCorrection (it was a deep copy of the callback and of the learner behind it), and fastai's shared default loss
    inside is never written to."""
    drw = DeferredReweighting(start_epoch=3)
    set_seed(0)
    learn = tabular_learner(setup['dls'], layers=[16], cbs=[drw, PriorCorrection()])
    own = learn.loss_func
    shared = own.loss_func
    before = dict(vars(shared))
    learn.set_decision(thresh=.3)
    own = learn.loss_func
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(6, 5e-2)
    assert learn.loss_func is own and own.loss_func is shared and learn.decision.thresh == .3
    assert vars(shared).keys() == before.keys() and all(vars(shared)[k] is before[k] for k in before) and shared.func.weight is None
    tl, pc = drw.trained_loss, learn.prior_correction
    assert tl is not own and tl.correction is pc and tl.loss_func is not shared
    w = drw.applied_weight.numpy()
    q = np.array([1 - RATE, RATE])*w
    np.testing.assert_allclose(pc.train_prior, q/q.sum(), rtol=1e-5)
    assert .25 < pc.train_prior[1] < .35
    p, _, d = preds(learn, setup['tdl'], with_decoded=True)
    pc.enabled = False
    raw, _ = preds(learn, setup['tdl'])
    pc.enabled = True
    assert raw[:, 1].mean().item() > 5*RATE and abs(p[:, 1].mean().item() - RATE) < TOL, (raw[:, 1].mean(), p[:, 1].mean())
    np.testing.assert_array_equal(d.numpy(), (p[:, 1] > .3).long().numpy())            # the learner's own rule
    np.testing.assert_array_equal(learn.decide(p).numpy(), d.numpy())
    learn.export(tmp_path/'drw.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'drw.pkl')
    lp, _, ld = preds(loaded, loaded.dls.test_dl(setup['test']), with_decoded=True)
    np.testing.assert_allclose(lp.numpy(), p.numpy(), atol=1e-5)
    np.testing.assert_array_equal(ld.numpy(), d.numpy())

def test_deferred_reweighting_weights_reach_a_wrapped_loss():
    "The learner's loss is its DecisionLoss: DRW's weight must reach the FocalLoss inside the copy (it was set on the wrapper, and the last epochs trained unweighted)"
    drw = DeferredReweighting(start_epoch=1)
    learn, _ = small_learner('multiclass', cbs=[drw, PriorCorrection()], epochs=2, loss_func=lambda dls: FocalLoss(gamma=0.))
    tl, w = drw.trained_loss, drw.applied_weight
    assert 'weight' not in vars(tl) and torch.equal(tl.loss_func.weight, w)
    torch.manual_seed(0)
    x, y = torch.randn(64, 3), torch.randint(0, 3, (64,))
    assert torch.allclose(tl(x, y), FocalLoss(gamma=0., weight=w)(x, y))
    assert not torch.allclose(tl(x, y), FocalLoss(gamma=0.)(x, y))
    assert learn.loss_func.loss_func.weight is None                                       # the learner's own loss: unweighted again
    q = np.asarray(learn.prior_correction.natural_prior)*w.numpy()
    np.testing.assert_allclose(learn.prior_correction.train_prior, q/q.sum(), rtol=1e-5)

def test_ldam_shift_goes_to_the_scaled_logits(setup):
    """LDAMLoss's probabilities are softmax(s*z): the shift must be added to s*z (the learner's logits get shift/s), else it is
    s=30 times too large. The corrected probabilities are exactly the Bayes correction of the model's own softmax(30 z)."""
    learn = fit(setup['dls'], [OverSamplingCallback(seed=0), PriorCorrection()], loss_func=LDAMLoss(setup['dls'], max_m=0.))
    pc = learn.prior_correction
    np.testing.assert_allclose(pc.train_prior, [.5, .5])
    p, _ = preds(learn, setup['tdl'])
    pc.enabled = False
    raw, _ = preds(learn, setup['tdl'])
    z, _ = preds(learn, setup['tdl'], act=noop)
    pc.enabled = True
    np.testing.assert_allclose(raw.numpy(), torch.softmax(30*z, 1).numpy(), atol=1e-6)
    np.testing.assert_allclose(p.numpy(), correct_prior(raw.numpy(), [.5, .5], [1 - RATE, RATE]), atol=1e-5)
    assert raw[:, 1].mean().item() > 5*RATE and p[:, 1].mean().item() > RATE/2   # 30 times the shift would leave ~0

def test_balanced_softmax_trains_a_balanced_prior(setup):
    """BalancedSoftmaxLoss(dls) adds log(prior) to the logits while training: the raw logits are the balanced model's
    (train prior uniform), and PriorCorrection brings them back to 2% (seeds 0-4: 0.018-0.022) while deciding as the
    balanced model (balanced accuracy within .03, a standard error of 160 positives' recall, of oversampling's)."""
    learn = fit(setup['dls'], [PriorCorrection()], loss_func=BalancedSoftmaxLoss(setup['dls']))
    np.testing.assert_allclose(learn.prior_correction.train_prior, [.5, .5], rtol=1e-5)
    p, _, d = preds(learn, setup['tdl'], with_decoded=True)
    y = setup['y_test']
    assert abs(p[:, 1].mean().item() - RATE) < TOL
    _, _, full = preds(setup['os_learn'], setup['tdl'], with_decoded=True)
    assert abs(skm.balanced_accuracy_score(y, d) - skm.balanced_accuracy_score(y, full)) < .03

def test_asymmetric_loss_correction_is_approximate_and_says_so():
    """AsymmetricLoss has no class weights (loss_prior_factor: None) but its focusing raises the probabilities beyond any
    prior shift: PriorCorrection still applies the Bayes shift it can, and warns that it is approximate, also after
    calibrate (a temperature does not undo it)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn, _ = small_learner('multilabel', cbs=[PriorCorrection(target_prior=[.1, .1, .1])], epochs=3,
                                 loss_func=lambda dls: AsymmetricLoss())
    pc = learn.prior_correction
    assert loss_prior_factor(learn.loss_func, multilabel=True) is None
    np.testing.assert_allclose(pc.train_prior, pc.natural_prior)
    with pytest.warns(UserWarning, match=r"AsymmetricLoss\(gamma_neg=4, gamma_pos=1, clip=0.05\).*approximate.*does not undo"):
        p, y = preds(learn, learn.dls.valid)
    pc.enabled = False
    raw, _ = preds(learn, learn.dls.valid)
    pc.enabled = True
    np.testing.assert_allclose(p.numpy(), correct_prior(raw.numpy(), pc.natural_prior, [.1]*3, multilabel=True), atol=1e-5)
    assert (raw.mean(0) > y.float().mean(0) + .05).all(), (raw.mean(0), y.float().mean(0))   # the bend: far above each label's rate
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with learn.no_bar(): learn.calibrate()
    with pytest.warns(UserWarning, match='approximate'): preds(learn, learn.dls.valid)

def test_no_warning_for_losses_that_do_not_bend(setup):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        preds(setup['os_learn'], setup['tdl'])


# ---------------------------------------------------------------- rules set before the correction

@pytest.mark.parametrize('kind', ['binary', 'multiclass', 'multilabel'])
def test_rule_tuned_before_the_correction_keeps_its_decisions(kind):
    "A rule tuned on the uncorrected probabilities is re-expressed when PriorCorrection is added (it used to be reused on the corrected ones)"
    import imbalance_fastai.metrics   # noqa: F401 (patches Learner.tune_threshold)
    learn, _ = small_learner(kind, epochs=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # few rows of the rare class
        learn.tune_threshold()
    tuned = learn.decision
    _, _, d0 = preds(learn, learn.dls.valid, with_decoded=True)
    prior = None if kind == 'multilabel' else [.2, .8] if kind == 'binary' else [.2, .3, .5]   # a train prior far from the natural one
    learn.add_cb(PriorCorrection(train_prior=prior) if prior else PriorCorrection(train_prior=[.5, .5, .5]))
    p, _, d1 = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d1.numpy(), d0.numpy())
    assert not np.allclose(np.atleast_1d(getattr(learn.decision, tuned.kind)), np.atleast_1d(getattr(tuned, tuned.kind)))
    assert not (tuned(p) == d1).all(), "the test is void: the old rule decides the same on the corrected probabilities"
    learn.remove_cb(learn.prior_correction)                 # and back to the uncorrected probabilities
    _, _, d2 = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d2.numpy(), d0.numpy())
    np.testing.assert_allclose(np.atleast_1d(getattr(learn.decision, tuned.kind)), np.atleast_1d(getattr(tuned, tuned.kind)), atol=1e-9)

def test_priors_that_do_not_fit_the_learner_are_refused_when_attached():
    "train_prior/target_prior of the wrong length or with unknown class names: refused by add_cb (and at construction), the learner unchanged"
    learn, _ = small_learner('multiclass')
    lf, cbs = learn.loss_func, list(learn.cbs)
    for kw, msg in ((dict(train_prior=[.5, .5]), r'train_prior has 2 values but this learner has 3 classes'),
                    (dict(target_prior=[.2, .2, .2, .4]), r'target_prior has 4 values but this learner has 3 classes'),
                    (dict(target_prior={'zz': 1.}), r"target_prior names classes not in the vocab: \['zz'\]")):
        with pytest.raises(ValueError, match=msg): learn.add_cb(PriorCorrection(**kw))
        assert learn.loss_func is lf and list(learn.cbs) == cbs and not hasattr(learn, 'prior_correction')
        with pytest.raises(ValueError, match=msg): tabular_learner(learn.dls, layers=[4], cbs=PriorCorrection(**kw))
    learn.add_cb(PriorCorrection(target_prior={'a': .5, 'b': .3, 'c': .2}))   # one share per class of the vocab: fine
    for bad in ('abc', ['a', 'b', 'c']):
        with pytest.raises((TypeError, ValueError), match=r'target_prior must be .*one share per class.*\{class: share\}'): PriorCorrection(target_prior=bad)

def _wine_rare(n_rare=10):
    "scikit-learn's wine with class 2 cut to `n_rare` rows, a stratified quarter as the validation set"
    import pandas as pd
    from sklearn.datasets import load_wine
    from fastai.tabular.data import TabularDataLoaders
    from imbalance_fastai.data import StratifiedSplitter
    X, y = load_wine(return_X_y=True)
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:n_rare]]
    df = pd.DataFrame(X[keep], columns=[f'f{i}' for i in range(13)]); df['y'] = y[keep].astype(str)
    _, val = StratifiedSplitter(valid_pct=.25, seed=0)(df.y)
    return TabularDataLoaders.from_df(df, cont_names=list(df.columns[:-1]), y_names='y', procs=[Normalize], valid_idx=list(val),
                                      bs=16, num_workers=0), df.iloc[val]

def test_uncalibrated_probabilities_are_warned_about():
    "An under-trained plain model over-rates the rare class; dividing by its prior then decides it for most rows: PriorCorrection says so"
    set_seed(0)
    dls, valid = _wine_rare()
    learn = tabular_learner(dls, layers=[16], cbs=[PriorCorrection()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4)   # barely trained: probabilities near uniform
    tdl = learn.dls.test_dl(valid)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        preds(learn, tdl)               # only on the validation set: other data may have another prior
    with pytest.warns(UserWarning, match=r"mean probability of class '2' is .* but its prior is 0.076.*not calibrated.*learn.calibrate\(\).*tune_threshold"):
        p, y, d = preds(learn, learn.dls.valid, with_decoded=True)
    assert (d == 2).float().mean() > .5 and (y == 2).float().mean() < .1   # what the warning is about (seen: all 35 rows)
    assert p[:, 2].mean() > 3*learn.prior_correction.natural_prior[2]       # the page's example: seen 0.33 for a prior of 0.076
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        preds(learn, learn.dls.valid)   # once per fit

def test_calibrated_probabilities_are_not_warned_about(setup):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        p, _ = preds(setup['os_learn'], setup['os_learn'].dls.valid)
    assert abs(p[:, 1].mean().item() - RATE) < TOL


def test_priors_of_a_resampled_fit_outlive_its_callback(setup, tmp_path):
    """fastai takes fit(cbs=...)'s callbacks off when the fit ends, and retrain_classifier trains through one: a
    PriorCorrection or estimate_prior added afterwards must still correct from the balanced prior the model saw, not
    from the natural one (which left the probabilities uncorrected and the balanced decisions doubly re-weighted)."""
    from imbalance_fastai.calibration import estimate_prior
    import imbalance_fastai.decouple   # noqa: F401 (patches Learner.retrain_classifier)
    dls, tdl, y = setup['dls'], setup['tdl'], setup['y_test']
    set_seed(0)   # setup's os_learn, but with the callback given to the fit only
    once = tabular_learner(dls, layers=[16], loss_func=CrossEntropyLossFlat())
    with once.no_bar(), once.no_logging(): once.fit_one_cycle(4, 5e-2, cbs=OverSamplingCallback(seed=0))
    assert not any(isinstance(cb, OverSamplingCallback) for cb in once.cbs)
    raw, _ = preds(once, tdl)
    np.testing.assert_allclose(raw.double().numpy(), setup['raw'], atol=1e-5)   # the same model as os_learn
    rate = estimate_prior(once, tdl)[1]
    assert abs(rate - RATE) < TOL, f"estimate_prior read the natural prior as the trained one: {rate:.4f} for a {RATE} rate"
    once.add_cb(PriorCorrection())
    np.testing.assert_allclose(once.prior_correction.train_prior, [.5, .5])
    p, _, dec = preds(once, tdl, with_decoded=True)
    assert abs(p[:, 1].mean().item() - RATE) < TOL
    assert skm.balanced_accuracy_score(y, dec) >= skm.balanced_accuracy_score(y, raw.argmax(1)) - 1/(2*y.sum())
    once.remove_cb(once.prior_correction)
    once.export(tmp_path/'once.pkl')                       # the record goes with the learner, whose dls are exported empty
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'once.pkl')
    loaded.add_cb(PriorCorrection())
    np.testing.assert_allclose(loaded.prior_correction.train_prior, [.5, .5])
    np.testing.assert_allclose(loaded.prior_correction.target_prior, [1 - RATE, RATE], atol=1e-9)
    with once.no_bar(), once.no_logging(): once.fit(1, 1e-3)   # trained on naturally: the natural prior again
    once.add_cb(PriorCorrection())
    np.testing.assert_allclose(once.prior_correction.train_prior, [1 - RATE, RATE])
    once.remove_cb(once.prior_correction)
    with once.no_bar(), once.no_logging(): once.retrain_classifier(1, lr=1e-2)   # cRT: class-balanced batches
    once.add_cb(PriorCorrection())
    np.testing.assert_allclose(once.prior_correction.train_prior, [.5, .5])
    with pytest.raises(ValueError, match='tol must be'): estimate_prior(once, tdl, tol=-1)


def test_correction_attached_after_load_learner(setup, tmp_path):
    """A PriorCorrection attached to a learner from load_learner: weighted_dataloaders' priors come with its (empty) train
    DataLoader; a plain learner's are gone with its rows, which is refused when attached, not at the first prediction."""
    from imbalance_fastai.losses import class_weights
    wdls = weighted_dataloaders(setup['to'], bs=1024, num_workers=0, seed=0)
    set_seed(0)
    w = tabular_learner(wdls, layers=[16])
    with w.no_bar(), w.no_logging(): w.fit(1, 1e-2)
    w.export(tmp_path/'w.pkl')
    plain = tabular_learner(setup['dls'], layers=[16], loss_func=CrossEntropyLossFlat(weight=class_weights(setup['dls'])))
    plain.export(tmp_path/'p.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        lw, lp = load_learner(tmp_path/'w.pkl'), load_learner(tmp_path/'p.pkl')
    lw.add_cb(PriorCorrection())
    np.testing.assert_allclose(lw.prior_correction.train_prior, [.5, .5])
    np.testing.assert_allclose(lw.prior_correction.target_prior, [1 - RATE, RATE], atol=1e-9)
    p, _ = preds(lw, lw.dls.test_dl(setup['test']))
    assert abs(p[:, 1].mean().item() - RATE) < 2*TOL
    n_cbs, loss = len(lp.cbs), lp.loss_func
    for kw in ({}, {'target_prior': [1 - RATE, RATE]}):
        with pytest.raises(ValueError, match=r'cannot know the prior the model was trained on \(the train split is empty.*attach it before learn.export'):
            lp.add_cb(PriorCorrection(**kw))
    assert len(lp.cbs) == n_cbs and lp.loss_func is loss and not hasattr(lp, 'prior_correction')   # refused: the learner as it was
    lp.add_cb(PriorCorrection(train_prior=[.5, .5], target_prior=[1 - RATE, RATE]))
    np.testing.assert_allclose(lp.prior_correction.train_prior, [.5, .5])


def test_attaching_reads_the_train_labels_once(setup, monkeypatch):
    "Attaching checks that the trained prior can be known and keeps it: one read of the train labels (a DataBlock's get_y runs per item)"
    import imbalance_fastai.prior as prior_mod
    calls = []
    real = prior_mod._learner_priors
    monkeypatch.setattr(prior_mod, '_learner_priors', lambda learn: calls.append(1) or real(learn))
    learn = tabular_learner(setup['dls'], layers=[4])
    learn.add_cb(PriorCorrection())
    assert len(calls) == 1
    np.testing.assert_allclose(learn.prior_correction.train_prior, [1 - RATE, RATE])
