"Temperature scaling and prior estimation on trained learners: held-out ECE, the order with PriorCorrection, export, and EM on a synthetic label shift."
import warnings
import numpy as np, pandas as pd, pytest, torch
from scipy.special import expit, softmax
from fastai.data.block import CategoryBlock
from fastai.learner import load_learner
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from fastcore.basics import noop
import sklearn.metrics as skm
from trained import make, preds, fit, MU, CONT, RATE, TOL
from imbalance_fastai.longtail import LDAMLoss
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection, logit_shift
from imbalance_fastai.report import imbalance_report
from imbalance_fastai.calibration import (TemperatureScaling, expected_calibration_error, estimate_prior, em_prior,
                                          fit_temperature)

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def overfit():
    "A 10%-rare problem with 8 noise features, 600 train rows and a wide net trained 10 epochs: over-confident (seen: T = 3)"
    set_seed(0)
    n = 6600
    df = pd.DataFrame({'y': np.where(np.arange(n) % 10 == 0, 'rare', 'common')})
    df['x'] = np.where(df.y == 'rare', 1., -1.) + np.random.randn(n)
    noise = [f'n{i}' for i in range(8)]
    for c in noise: df[c] = np.random.randn(n)
    to = TabularPandas(df, procs=[Normalize], cont_names=['x']+noise, y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(600)), list(range(600, 1600))])
    dls = to.dataloaders(bs=64, num_workers=0)
    learn = tabular_learner(dls, layers=[64, 64], cbs=[OverSamplingCallback(seed=0), PriorCorrection()])
    with learn.no_bar(), learn.no_logging(): learn.fit(10, 3e-2)
    return learn, df

def test_temperature_lowers_held_out_ece(overfit, tmp_path):
    "Fitted on the validation set, scored on 5000 other rows: the ECE at least halves (seen 0.09 -> 0.02), decisions unchanged, kept through export"
    learn, df = overfit
    held = learn.dls.test_dl(df.iloc[1600:], with_labels=True)
    p0, y, d0 = preds(learn, held, with_decoded=True)
    with learn.no_bar(): T = learn.calibrate()
    try:
        p1, _, d1 = preds(learn, held, with_decoded=True)
        e0, e1 = expected_calibration_error(p0, y), expected_calibration_error(p1, y)
        assert T > 1.5 and e1 < e0/2, (T, e0, e1)
        np.testing.assert_array_equal(d1.numpy(), d0.numpy())
        rep = imbalance_report(learn, dl=held)                   # the report shows the ECE before and after, on the held-out rows
        assert list(rep.columns) == ['uncorrected', 'corrected', 'calibrated']
        assert rep.loc[('ece', 'all'), 'calibrated'] == pytest.approx(e1) and rep.loc[('ece', 'all'), 'corrected'] == pytest.approx(e0)
        # the order: logits divided by T first, then the prior shift
        with learn.no_bar():
            learn.temperature_scaling.enabled = learn.prior_correction.enabled = False
            z, _ = learn.get_preds(dl=held, act=noop)
            learn.temperature_scaling.enabled = learn.prior_correction.enabled = True
        shift = logit_shift(*learn.prior_correction.priors(2))
        np.testing.assert_allclose(p1.numpy(), softmax(z.numpy()/T + shift, 1), atol=1e-5)
        learn.export(tmp_path/'cal.pkl')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            loaded = load_learner(tmp_path/'cal.pkl')
        assert loaded.temperature_scaling.temperature == T
        pl, _ = preds(loaded, loaded.dls.test_dl(df.iloc[1600:]))
        np.testing.assert_allclose(pl.numpy(), p1.numpy(), atol=1e-5)
    finally: learn.remove_cb(learn.temperature_scaling)

def test_temperature_ignores_the_prior_shift():
    "fit_temperature with the shift recovers the temperature of logits drawn at another prior; without it, it does not"
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20000, 2))*2
    shift = np.log([.95, .05]) - np.log([.5, .5])
    y = (rng.random(20000) < softmax(z + shift, 1)[:, 1]).astype(int)
    assert fit_temperature(2*z, y, shift=shift) == pytest.approx(2, rel=.05)
    assert abs(fit_temperature(2*z, y) - 2) > .2

def test_estimate_prior_recovers_a_shifted_prior(setup):
    """Train at 2% positives, deploy at 20%: estimate_prior finds 20% from unlabelled rows.
    EM on the Bayes posterior of this generative model is off by its sampling error only (8000 rows: sd 0.0045, we allow 3 sd);
    the learner's own estimate also carries the error of a model fitted on 400 positives (seen: 0.209-0.222 over seeds and
    0.19-0.22 over architectures), so 0.03 is allowed there."""
    for seed in (10, 11):
        dep = make(8000, seed, .2)
        bayes = expit(dep[CONT].to_numpy() @ MU - MU @ MU/2)     # p(pos | x) at a balanced prior
        assert em_prior(bayes, [.5, .5])[1] == pytest.approx(.2, abs=3*.0045)
        with setup['os_learn'].no_bar(): est = estimate_prior(setup['os_learn'], setup['dls'].test_dl(dep))
        assert est.shape == (2,) and est.sum() == pytest.approx(1) and est[1] == pytest.approx(.2, abs=.03), est
    learn = setup['os_learn']
    tdl = setup['dls'].test_dl(dep)
    natural, _ = preds(learn, tdl)
    learn.remove_cb(learn.prior_correction)
    try:
        learn.add_cb(PriorCorrection(target_prior=est))
        adapted, _ = preds(learn, tdl)
        assert abs(adapted[:, 1].mean().item() - .2) < .03 and natural[:, 1].mean().item() < .12
    finally:
        learn.remove_cb(learn.prior_correction); learn.add_cb(PriorCorrection())

def test_estimate_prior_from_a_plain_learner(setup):
    "Without resampling the model was trained on the natural 2% prior: EM starts from it and still moves to the deployment prior"
    dep = make(8000, 12, .2)
    with setup['plain'].no_bar(): est = estimate_prior(setup['plain'], setup['dls'].test_dl(dep))
    assert .15 < est[1] < .27, est       # seen 0.24: plain training on 400 positives is less calibrated in the tail

def test_bad_inputs(setup, overfit):
    learn, _ = overfit
    with pytest.raises(ValueError, match='temperature must be a positive number'): TemperatureScaling(-1)
    with pytest.raises(ValueError, match='calibrate needs targets'):
        with learn.no_bar(): learn.calibrate(dl=learn.dls.test_dl(overfit[1].iloc[:50].drop(columns='y')))
    with pytest.raises(ValueError, match='train_prior has 3 values but probs has 2 columns'): em_prior(np.full((4, 2), .5), [.2, .3, .5])
    with pytest.raises(ValueError, match='look like logits'): em_prior(np.array([[2., -1.]]), [.5, .5])

@pytest.mark.parametrize('max_m', [0., .5])
def test_ldam_is_calibrated_on_its_scaled_logits(setup, max_m):
    """LDAMLoss (s=30) on balanced batches of the 2% problem. Its softmax(30 z) on an unnormalised head is over-confident by a
    seed-dependent amount: without margins, prior correction alone gave a mean of 0.020-0.035 over seeds 0-4, and after
    `learn.calibrate()` (T fitted on 30 z with the prior shift: 1.05-1.55) 0.019-0.021, within TOL. With the default margins
    (max_m=0.5) the corrected mean was 0.22-0.25 with a log-loss 25 times plain training's, and PriorCorrection warns; after
    calibrate (T 8.7-10.8) 0.025-0.027 and a log-loss within 6% of plain's: the margins leave a bias that a temperature does
    not remove, hence 2*TOL there, and 10% on the log-loss. A temperature fitted on the unscaled z would be 30 times too small."""
    learn = fit(setup['dls'], [OverSamplingCallback(seed=0), PriorCorrection()], loss_func=LDAMLoss(setup['dls'], max_m=max_m))
    y, tdl, pc = setup['y_test'], setup['tdl'], learn.prior_correction
    ll_plain = skm.log_loss(y, setup['plain_p'])
    if max_m:
        with pytest.warns(UserWarning, match='margins of LDAMLoss.*approximate.*learn.calibrate'): p0, _ = preds(learn, tdl)
        assert p0[:, 1].mean().item() > .1 and skm.log_loss(y, p0.double()) > 10*ll_plain
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with learn.no_bar(): T = learn.calibrate()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        p, _ = preds(learn, tdl)
    assert not [o for o in w if 'approximate' in str(o.message)]                  # calibrated: no warning
    assert abs(p[:, 1].mean().item() - RATE) < (2*TOL if max_m else TOL), p[:, 1].mean()
    assert skm.log_loss(y, p.double()) < 1.1*ll_plain
    pc.enabled = learn.temperature_scaling.enabled = False
    z, _ = preds(learn, tdl, act=noop)
    pc.enabled = learn.temperature_scaling.enabled = True
    shift = logit_shift(pc.train_prior, pc.target_prior)
    np.testing.assert_allclose(p.double().numpy(), softmax(30*z.double().numpy()/T + shift, 1), atol=1e-5)


def _ref_em(P, s, multilabel=False, tol=1e-13, steps=200_000):
    "The textbook EM update (Saerens et al. 2002) in float64, one (n, c) array a step, from `s`, until no share moves more than `tol`: (prior, steps)"
    P, s = np.asarray(P, np.float64), np.asarray(s, np.float64)
    if P.ndim == 1 and not multilabel: P, s = np.stack([1-P, P], 1), (np.r_[1-s, s] if len(s) == 1 else s)
    if P.ndim == 1: P = P[:, None]
    if multilabel: pi, step = s.copy(), lambda pi: np.clip((P*(r := pi/(1-pi)/(s/(1-s)))/(P*r + 1 - P)).mean(0), 1e-12, 1-1e-12)
    else:
        s = s/s.sum(); pi, w = s.copy(), np.divide(1., s, out=np.zeros_like(s), where=s > 0)
        step = lambda pi: ((q := P*(pi*w))/np.maximum(q.sum(1, keepdims=True), np.finfo(np.float64).tiny)).mean(0)
    for k in range(1, steps+1):
        new = step(pi)
        if np.abs(new-pi).max() < tol: return new, k
        pi = new
    return pi, steps

def _shifted(n, c, sep, q, s, seed):
    "Bayes posteriors `(n, c)` for prior `s` of rows drawn at prior `q`: class k's score is N(sep, 1) on column k, N(0, 1) elsewhere (smaller sep: more overlap)"
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) + sep*np.eye(c)[rng.choice(c, n, p=q)]
    return softmax(sep*z + np.log(s), 1)

def _problems():
    "(name, probs, train_prior, kwargs): what em_prior must solve like the textbook EM"
    u4, s5 = np.full(4, .25), np.array([.3, .2, .2, 0., .3])
    sep = _shifted(4000, 4, 3., [.5, .3, .15, .05], u4, 0)
    over = _shifted(5000, 4, .8, [.55, .25, .15, .05], u4, 1)
    zero = _shifted(4000, 5, 1.5, [.4, .3, .2, 0., .1], np.array([.3, .2, .2, 1e-9, .3]), 2)
    zero[:, 3] = 0; zero /= zero.sum(1, keepdims=True); zero[:40] = np.eye(5)[3]   # train prior 0, and 40 rows only it supports
    unsup = _shifted(4000, 4, 1.2, [.5, .3, .2, 0.], u4, 3); unsup[:, 2] = 0; unsup /= unsup.sum(1, keepdims=True)   # no row supports class 2
    rng = np.random.default_rng(4)
    yb = rng.random(6000) < .3; pb = expit(1.2*(rng.normal(size=6000) + 1.2*yb) - .72 + np.log(.1/.9))   # binary, trained at 10% positives
    yl = rng.random((6000, 5)) < [.02, .1, .3, .5, .7]; sl = np.array([.1, .2, .3, .4, .5])
    pl = expit(.8*(rng.normal(size=(6000, 5)) + .8*yl) - .32 + np.log(sl/(1-sl)))   # multi-label, overlapping
    return [('separated', sep, u4, {}), ('overlapping', over, u4, {}), ('overlapping float32', over.astype(np.float32), u4, {}),
            ('train prior 0', zero, s5, {}), ('class no row supports', unsup, u4, {}), ('binary (n,)', pb, [.1], {}),
            ('multi-label', pl, sl, dict(multilabel=True)), ('multi-label float32', pl.astype(np.float32), sl, dict(multilabel=True))]

@pytest.mark.parametrize('name,P,s,kw', _problems(), ids=[p[0] for p in _problems()])
def test_em_prior_reaches_the_textbook_fixed_point(name, P, s, kw):
    """em_prior (SQUAREM) gives the fixed point of the textbook update run to 1e-13: within 1e-6 at the default tol=1e-8 (it
    stops when one EM step moves no share more than tol, which leaves about tol/(1-rate) to go: 1e-7 when the rate is .9),
    within 1e-9 at tol=1e-12; and a valid prior (each label inside (0,1)) that sums as the textbook's does (below 1 when
    rows are supported by no class of the estimate)"""
    ref, _ = _ref_em(P, s, **kw)
    est = em_prior(P, s, **kw)
    np.testing.assert_allclose(est, ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(em_prior(P, s, tol=1e-12, **kw), ref, atol=1e-9, rtol=0)
    if kw: assert ((est > 0) & (est < 1)).all()
    else: assert (est >= 0).all() and abs(est.sum() - ref.sum()) < 1e-12
    if name == 'train prior 0': assert est[3] == 0 and abs(est.sum() - (1 - 40/4000)) < 1e-12
    if name == 'class no row supports': assert est[2] == 0

@pytest.mark.parametrize('dtype,kw', [(np.float64, {}), (np.float32, {}), (np.float64, dict(multilabel=True))])
def test_em_prior_needs_far_fewer_evaluations_than_plain_em(dtype, kw):
    """On overlapping classes plain EM needs hundreds of steps (seen: 548 to 1e-13, softmax); em_prior's max_iter counts
    evaluations of the EM map, and 60 are enough to be within 1e-6 of the fixed point, where 60 plain steps are 1e-3 away"""
    if kw:
        rng = np.random.default_rng(5); sl = np.array([.1, .3, .5])
        y = rng.random((5000, 3)) < [.03, .2, .6]
        P, s = expit(.6*(rng.normal(size=(5000, 3)) + .6*y) - .18 + np.log(sl/(1-sl))).astype(dtype), sl
    else: P, s = _shifted(5000, 4, .8, [.55, .25, .15, .05], np.full(4, .25), 1).astype(dtype), np.full(4, .25)
    ref, k = _ref_em(P, s, **kw)
    assert k > 300, k
    assert np.abs(_ref_em(P, s, steps=60, **kw)[0] - ref).max() > 1e-3
    np.testing.assert_allclose(em_prior(P, s, max_iter=60, **kw), ref, atol=1e-6, rtol=0)

def test_em_prior_first_steps_are_textbook_steps_summed_in_float64():
    """max_iter=1 and 2 are one and two plain EM steps. On float32 probabilities of 200,000 rows (several chunks, a partial
    last one) they equal the textbook steps on the same values in float64 to 1e-13: sums in float32 (or float32 products)
    would be 1e-8 away, and would lose the tol=1e-8 over 10^7 rows"""
    rng = np.random.default_rng(6)
    P = rng.dirichlet(np.ones(10)*.5, 200_003).astype(np.float32); s = rng.dirichlet(np.ones(10)*3)
    Q = rng.random((200_003, 3)).astype(np.float32); sl = np.array([.2, .5, .7])
    for k in (1, 2):
        np.testing.assert_allclose(em_prior(P, s, max_iter=k), _ref_em(P, s, tol=-1, steps=k)[0], atol=1e-13, rtol=0)
        np.testing.assert_allclose(em_prior(Q, sl, True, max_iter=k), _ref_em(Q, sl, True, tol=-1, steps=k)[0], atol=1e-13, rtol=0)

@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_em_prior_does_not_copy_probs(dtype):
    "Probabilities of 10^6 rows x 10 classes are read in chunks, float32 kept float32: the peak stays below 40 bytes a row (seen 34, the input checks' temporaries; a float64 copy alone is 80)"
    import tracemalloc
    P = np.random.default_rng(7).dirichlet(np.ones(10), 1_000_000).astype(dtype)
    tracemalloc.start(); tracemalloc.reset_peak()
    try: em_prior(P, np.full(10, .1), max_iter=3)
    finally: peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert peak < 40*len(P), peak/len(P)

@pytest.mark.parametrize('kw', [{}, dict(multilabel=True)])
def test_em_prior_every_budget_gives_a_valid_prior_no_worse_than_plain_em(kw):
    """Stopped after any number of evaluations (max_iter 1..80), em_prior returns a valid prior (non-negative, summing to 1;
    multi-label: inside (0,1)), and its log-likelihood is never below that of the plain EM step from the start (the
    first evaluation), and at 80 within rounding of the fixed point's. A class whose estimate goes to 0 (boundary) included."""
    if kw:
        rng = np.random.default_rng(8); sl = np.array([.1, .3, .5, .4])
        y = rng.random((4000, 4)) < [.001, .2, .6, 0.]
        P, s = expit(.7*(rng.normal(size=(4000, 4)) + .7*y) - .245 + np.log(sl/(1-sl))), sl
        ll = lambda pi: (np.log(P*pi/s + (1-P)*(1-pi)/(1-s))).sum()
    else:
        P, s = _shifted(5000, 5, .7, [.9, .04, .03, .02, .01], np.array([.05, .05, .1, .3, .5]), 9), np.array([.05, .05, .1, .3, .5])
        ll = lambda pi: np.log(P @ (pi/s)).sum()
    ref, _ = _ref_em(P, s, **kw)
    first = ll(em_prior(P, s, max_iter=1, **kw))
    for k in range(1, 81):
        est = em_prior(P, s, max_iter=k, **kw)
        if kw: assert ((est > 0) & (est < 1)).all(), (k, est)
        else: assert (est >= 0).all() and abs(est.sum() - 1) < 1e-12, (k, est)
        assert ll(est) >= first - 1e-9, k
    assert ll(est) >= ll(ref) - 1e-6

def _recorded(monkeypatch, name):
    "Record every (prior, reference) em_prior's EM map is evaluated at"
    import imbalance_fastai.calibration as cal
    calls, make = [], getattr(cal, name)
    def wrapped(*a):
        F = make(*a)
        def G(pi, ref=None): calls.append((pi.copy(), None if ref is None else ref.copy())); return F(pi, ref)
        return G
    monkeypatch.setattr(cal, name, wrapped)
    return calls

def _skewed(seed):
    "5 overlapping classes, trained at [.05,.05,.1,.3,.5], deployed at [.9,.04,.03,.02,.01]: the rarest class's estimate goes to 0 (seen: extrapolations 0.01 below in log-likelihood)"
    rng = np.random.default_rng(seed); s = np.array([.05, .05, .1, .3, .5])
    y = rng.choice(5, 5000, p=[.9, .04, .03, .02, .01])
    return softmax(.7*(rng.normal(size=(5000, 5)) + .7*np.eye(5)[y]) + np.log(s), 1), s

def _rare_labels(seed):
    "6 overlapping labels, one with 0.1% positives and one with none: extrapolations leave (0,1)"
    rng = np.random.default_rng(seed); sl = np.linspace(.1, .5, 6)
    y = rng.random((5000, 6)) < np.r_[np.linspace(.001, .6, 5), 0]
    return expit(.5*rng.standard_normal((5000, 6)) + .25*(y-.5) + np.log(sl/(1-sl))), sl

@pytest.mark.parametrize('kind,seed', [('softmax', 1), ('softmax', 3), ('sigmoid', 0), ('sigmoid', 1)])
def test_em_prior_continues_only_from_valid_priors_no_worse_than_plain_em(monkeypatch, kind, seed):
    """SQUAREM's safeguards, seen from the EM map: every prior it is evaluated at is a valid prior (non-negative, summing
    to 1; multi-label: inside (0,1)); and after each extrapolated cycle (checked against the plain iterate it replaced,
    `ref`), the prior the iteration goes on from is no worse in log-likelihood than that plain iterate (within 1e-9).
    On these problems multi-label extrapolations leave (0,1) and softmax ones lower the likelihood: both safeguards act"""
    sm = kind == 'softmax'
    P, s = (_skewed if sm else _rare_labels)(seed)
    calls = _recorded(monkeypatch, '_softmax_map' if sm else '_sigmoid_map')
    if sm: ll = lambda pi: np.log(P @ (pi/s)).sum()
    else: ll = lambda pi: np.log(P*pi/s + (1-P)*(1-pi)/(1-s)).sum(0)   # per label
    est = em_prior(P, s, multilabel=not sm, tol=1e-12)
    for pi, _ in calls:
        if sm: assert (pi >= 0).all() and abs(pi.sum() - 1) < 1e-12, pi
        else: assert ((pi >= 1e-12) & (pi <= 1-1e-12)).all(), pi
    checks = [(i, ref) for i, (_, ref) in enumerate(calls) if ref is not None]
    assert checks
    for i, ref in checks:
        nxt = calls[i+1][0] if i+1 < len(calls) else est
        assert (ll(nxt) >= ll(ref) - 1e-9).all(), (i, ll(nxt) - ll(ref))


def test_estimate_prior_says_when_the_model_is_far_from_calibrated(setup):
    """An untrained model's probabilities (mean p(pos) near 1/2 at a 2% rate) give EM nothing to stand on: the estimate comes
    with a warning naming the validation rows' mean and share; the trained learners' estimates come without one."""
    dep = setup['dls'].test_dl(make(2000, 13, .2))
    set_seed(0)
    raw = tabular_learner(setup['dls'], layers=[16])
    with raw.no_bar(), pytest.warns(UserWarning, match=r"estimate_prior: on the 4000 validation rows the mean calibrated probability of class \d is .*far from calibrated"):
        estimate_prior(raw, dep)
    for nm in ('os_learn', 'plain'):
        with setup[nm].no_bar(), warnings.catch_warnings():
            warnings.simplefilter('error', UserWarning)
            estimate_prior(setup[nm], dep)


def test_a_temperature_that_saturates_the_probabilities_drops_the_tuned_threshold(setup):
    """calibrate() on a validation set the model separates fits a temperature near 0; the tuned threshold, moved with the
    probabilities, would be 1 - 2.5e-13, which float32 probabilities cannot exceed: the rule decided no row positive. It is dropped
    with a warning instead (a moderate temperature keeps the decisions exactly)."""
    learn = fit(setup['dls'], [], epochs=1)
    tdl = setup['tdl']
    learn.set_decision(thresh=.7)
    _, _, before = preds(learn, tdl, with_decoded=True)
    learn.add_cb(TemperatureScaling(.5))
    _, _, d = preds(learn, tdl, with_decoded=True)
    assert torch.equal(d, before) and 0 < learn.loss_func.rule.thresh < 1
    learn.remove_cb(learn.temperature_scaling)
    learn.set_decision(thresh=.7)
    with pytest.warns(UserWarning, match=r"decision rule DecisionRule\(thresh=0.7\) was set on the probabilities before, and no rule decides the same"):
        learn.add_cb(TemperatureScaling(.029))
    p, _, d = preds(learn, tdl, with_decoded=True)
    assert learn.loss_func.rule is None and torch.equal(d, p.argmax(1))
