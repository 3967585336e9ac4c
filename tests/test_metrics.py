"Decision thresholds: known answers, scikit-learn by brute force, and `tune_threshold` on a trained learner through export."
import warnings
import numpy as np, pytest
import sklearn.metrics as skm
from fastai.learner import load_learner
from trained import preds
from imbalance_fastai.metrics import SoftmaxThreshold, best_threshold, threshold_scores



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
