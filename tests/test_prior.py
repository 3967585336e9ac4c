"Prior correction on a trained tabular learner (2% positives): mean probabilities, balanced decisions, export, weighted losses."
import warnings
import numpy as np, torch
import sklearn.metrics as skm
from fastai.data.block import RegressionBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.learner import load_learner
from fastai.losses import BCEWithLogitsLossFlat
from fastai.torch_core import set_seed
from imbalance_fastai.sampling import weighted_dataloaders
from trained import N_TRN, N_VAL, RATE, TOL, CONT, preds, fit
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection, correct_prior


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
