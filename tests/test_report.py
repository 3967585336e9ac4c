"The imbalance report against scikit-learn, from arrays and from a trained learner."
import numpy as np, pytest
import sklearn.metrics as skm
from trained import RATE, TOL
from imbalance_fastai.prior import correct_prior
from imbalance_fastai.metrics import expected_calibration_error
from imbalance_fastai.report import imbalance_report


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
