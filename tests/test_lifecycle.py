"""A fastai learner's whole lifecycle with the library's callbacks and losses, driven as a fastai user drives it: `lr_find`,
`fit` (twice), `fit_one_cycle`, `fine_tune`, `validate`, `get_preds` on a `test_dl`, `predict`, `show_results`,
`ClassificationInterpretation`, `export`/`load_learner`, `to_fp16`, callbacks added and removed mid-session, and learners
that share one `DataLoaders` (and fastai's default loss object)."""
import pickle, warnings
import numpy as np, pytest, torch
from torch import nn
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from fastai.learner import Learner, load_learner
from fastai.callback.core import Callback
from fastai.callback.schedule import fit_one_cycle, lr_find, SchedLin  # noqa: F401 (patch Learner)
from fastai.callback.fp16 import MixedPrecision  # noqa: F401 (patches Learner.to_fp16)
from fastai.callback.progress import ProgressCallback  # noqa: F401 (patches Learner.no_bar)
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
from fastai.data.core import DataLoaders
from fastai.data.transforms import IndexSplitter
from fastai.interpret import ClassificationInterpretation
from fastai.losses import CrossEntropyLossFlat
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed, TensorImage

from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection
from imbalance_fastai.losses import FocalLoss, BalancedSoftmaxLoss, LogitAdjustedLoss, class_weights
from imbalance_fastai.longtail import DeferredReweighting, LDAMLoss, AsymmetricLoss
from imbalance_fastai.decouple import tau_normalize
import imbalance_fastai.metrics, imbalance_fastai.calibration  # noqa: F401 (patch Learner.tune_threshold, Learner.calibrate)
from trained import small_dls

torch.set_num_threads(1)
BS = 40   # small_dls: 400 train rows (257, 102, 41 of each class): undersampled, 123 rows, 3 full batches and 3 rows


CALLBACKS = {
    'oversample': lambda: [OverSamplingCallback(seed=0)],
    'undersample': lambda: [OverSamplingCallback('undersample', seed=0)],
    'classes_per_batch': lambda: [OverSamplingCallback(classes_per_batch=2, seed=0)],
    'alpha_schedule': lambda: [OverSamplingCallback(alpha=SchedLin(0., 1.), seed=0)],
    'deferred+prior': lambda: [OverSamplingCallback(defer_epochs=1, seed=0), PriorCorrection()],
    'undersample+prior': lambda: [OverSamplingCallback('undersample', seed=0), PriorCorrection()],
    'prior': lambda: [PriorCorrection()],
    'drw+prior': lambda: [DeferredReweighting(start_epoch=1), PriorCorrection()],
}
LOSSES = {
    'default': lambda dls: None,
    'focal': lambda dls: FocalLoss(),
    'weighted': lambda dls: CrossEntropyLossFlat(weight=class_weights(dls)),
    'logit_adjusted': lambda dls: LogitAdjustedLoss(dls),
    'balanced_softmax': lambda dls: BalancedSoftmaxLoss(dls),
    'ldam': lambda dls: LDAMLoss(dls),
}


def learner(cbs='oversample', loss='default', path=None, dls=None, **kwargs):
    "A tabular learner on `small_dls('multiclass')` (targets `(bs, 1)`) with the named callbacks and loss"
    if dls is None: dls, _ = small_dls('multiclass', bs=BS)
    set_seed(0)
    return tabular_learner(dls, layers=[16], cbs=CALLBACKS[cbs]() if isinstance(cbs, str) else cbs,
                           loss_func=LOSSES[loss](dls), path=path, **kwargs)

def fit(learn, n=2, how='fit', **kwargs):
    with warnings.catch_warnings(), learn.no_bar(), learn.no_logging():
        warnings.simplefilter('ignore')
        getattr(learn, how)(n, **kwargs)
    return learn

def preds(learn, dl=None, **kwargs):
    with warnings.catch_warnings(), learn.no_bar():
        warnings.simplefilter('ignore')
        return learn.get_preds(dl=dl, with_decoded=True, **kwargs)

def dl_state(dl): return dl, len(dl), dl.n, dl.shuffle, dl.drop_last, dl.bs, type(dl)

def _test_rows(learn):
    _, df = small_dls('multiclass', bs=BS)
    return learn.dls.test_dl(df.iloc[400:480]), df


@pytest.mark.parametrize('cbs', [k for k in CALLBACKS if k != 'drw+prior'])
def test_lr_find_sweeps_its_range_and_leaves_the_learner_as_it_was(cbs, tmp_path):
    "lr_find restores the model: dls, loss, what the callbacks recorded and the predictions are those of the last fit"
    learn = fit(learner(cbs, path=tmp_path))
    train, lf, before = dl_state(learn.dls.train), learn.loss_func, preds(learn)
    os = getattr(learn, 'over_sampling', None)
    counts, prior = (None, None) if os is None else (os.sampled_counts.copy(), os.train_prior)
    with learn.no_bar(): learn.lr_find(num_it=8, stop_div=False, show_plot=False)
    # fastai sizes lr_find as one epoch of the natural DataLoader (10 batches), which undersampled holds 3
    assert len(learn.recorder.lrs) == 8 and learn.recorder.lrs[-1] == pytest.approx(1e-7 * (10 / 1e-7) ** (7 / 8))
    assert dl_state(learn.dls.train) == train and learn.loss_func is lf
    after = preds(learn)
    torch.testing.assert_close(after[0], before[0]); assert torch.equal(after[2], before[2])
    if os is not None:   # a deferred fit ended balanced, a scheduled one at alpha=1; lr_find's one epoch is natural, or at alpha=0
        assert counts.equals(os.sampled_counts); np.testing.assert_allclose(os.train_prior, prior)


def test_lr_find_with_training_metrics_of_the_decisions_keeps_the_priors(tmp_path):
    "Training metrics of the learner's decisions (MinorityRecall) read the corrected outputs in fit: not lr_find's priors either"
    from imbalance_fastai.metrics import MinorityRecall
    learn = learner('deferred+prior', path=tmp_path, metrics=[MinorityRecall()])
    learn.recorder.train_metrics = True
    fit(learn)
    with learn.no_bar(): learn.lr_find(num_it=6, show_plot=False)   # within its first, natural, epoch
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)


@pytest.mark.parametrize('given_to_fit', [False, True])
def test_prior_correction_keeps_what_deferred_reweighting_trained_with(given_to_fit, tmp_path):
    "The weights of the last fit's DeferredReweighting stay in the correction: after lr_find, and once a fit's own callback is gone"
    drw = DeferredReweighting(start_epoch=1)
    learn = learner([PriorCorrection()] if given_to_fit else [drw, PriorCorrection()], path=tmp_path)
    fit(learn, 3, cbs=drw if given_to_fit else None)
    w, before = drw.applied_weight, preds(learn)
    prior = learn.prior_correction.train_prior
    assert w is not None and abs(prior - 1/3).max() < .05   # class-balanced weights on natural batches: about balanced
    with learn.no_bar(): learn.lr_find(num_it=6, show_plot=False)   # stops in lr_find's first epoch, before its switch epoch
    np.testing.assert_allclose(learn.prior_correction.train_prior, prior)
    torch.testing.assert_close(preds(learn)[0], before[0])


def test_lr_find_keeps_deferred_reweightings_applied_weight(tmp_path):
    "lr_find is a mock fit: the weights the last real fit trained with stay DeferredReweighting's applied_weight"
    learn = fit(learner('drw+prior', path=tmp_path), 3)
    w = learn.deferred_reweighting.applied_weight
    with learn.no_bar(): learn.lr_find(num_it=6, show_plot=False)
    assert learn.deferred_reweighting.applied_weight is not None and torch.equal(learn.deferred_reweighting.applied_weight, w)


class Drawn(Callback):
    "Record the rows of every resampled training epoch, across fits"
    order = OverSamplingCallback.order + 1
    def __init__(self): self.rows = []
    def after_train(self): self.rows.append(np.sort(self.learn.dl.last_idxs))

@pytest.mark.parametrize('how', ['fit', 'fit_one_cycle', 'fine_tune'])
def test_every_fit_draws_new_epochs_and_restores_the_dataloaders(how):
    "fit twice, fit_one_cycle, fine_tune (two fits): with a seed, each fit goes on with its stream; `dls` stay exactly as passed"
    learn = learner([OverSamplingCallback('undersample', seed=0), Drawn()])
    train = dl_state(learn.dls.train)
    fit(learn, 1, how); fit(learn, 1, how)
    n = 2 * (2 if how == 'fine_tune' else 1)
    assert len(learn.drawn.rows) == n
    # undersampling keeps the 41 rarest rows and draws 41 of each other class afresh: no two epochs take the same rows
    assert len({a.tobytes() for a in learn.drawn.rows}) == n
    assert dl_state(learn.dls.train) == train and learn.over_sampling.resampler is None
    assert learn.over_sampling.sampled_counts.values.tolist() == [[41, 41, 41]]   # the last fit's one epoch
    again = learner([OverSamplingCallback('undersample', seed=0), Drawn()])
    fit(again, 2 * n if how == 'fine_tune' else n, 'fit')
    assert all(np.array_equal(a, b) for a, b in zip(learn.drawn.rows, again.drawn.rows))   # the seed reproduces the session


@pytest.mark.parametrize('cbs,loss', [(c, 'default') for c in CALLBACKS] + [('deferred+prior', l) for l in LOSSES if l != 'default']
                         + [('drw+prior', 'ldam'), ('undersample', 'focal')])
def test_export_load_learner_predicts_and_decides_the_same(cbs, loss, tmp_path):
    "After export and load_learner: the same probabilities and decisions on a test_dl and in predict (the prior correction, the rule)"
    learn = fit(learner(cbs, loss, path=tmp_path))
    if hasattr(learn, 'prior_correction'): learn.tune_threshold()   # a rule of the learner's own, on the corrected probabilities
    with learn.no_bar(): learn.validate()
    tdl, df = _test_rows(learn)
    p = preds(learn, tdl)
    learn.export('model.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path / 'model.pkl')
    q = preds(loaded, loaded.dls.test_dl(df.iloc[400:480]))
    torch.testing.assert_close(q[0], p[0]); assert torch.equal(q[2], p[2])
    assert repr(loaded.decision) == repr(learn.decision)
    with loaded.no_bar(), learn.no_bar():
        (_, c1, p1), (_, c2, p2) = learn.predict(df.iloc[420]), loaded.predict(df.iloc[420])
    assert int(c1) == int(c2) == int(p[2][20]); torch.testing.assert_close(p2, p1)


def test_interpretation_and_show_results_follow_the_learners_decisions():
    "ClassificationInterpretation decides as get_preds(with_decoded=True) does: the corrected model's balanced decisions"
    learn = fit(learner([OverSamplingCallback(seed=0), PriorCorrection()]), 3)
    probs, targs, dec = preds(learn)
    assert not torch.equal(dec, probs.argmax(1))   # balanced decisions, not the corrected argmax (the rare class more often)
    with learn.no_bar():
        interp = ClassificationInterpretation.from_learner(learn)
        learn.show_results(max_n=4)
    plt.close('all')
    expected = np.zeros((3, 3), np.int64)
    np.add.at(expected, (targs.view(-1).numpy(), dec.view(-1).numpy()), 1)
    assert np.array_equal(interp.confusion_matrix(), expected)


def test_to_fp16_on_cpu_keeps_corrected_probabilities_and_decisions():
    learn = learner([OverSamplingCallback(seed=0), PriorCorrection()]).to_fp16()
    fit(learn)
    probs, _, dec = preds(learn)
    assert probs.dtype == torch.float32 and torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(len(probs)), atol=1e-3, rtol=0)
    assert torch.equal(dec, learn.decide(probs))
    assert learn.over_sampling.sampled_counts.values.tolist() == [[133, 134, 133], [133, 133, 134]]   # 400 rows, balanced


class TrainTargets(Callback):
    def before_fit(self): self.ys = []
    def after_batch(self):
        if self.training: self.ys.append(self.yb[0].view(-1))

def test_callbacks_added_and_removed_mid_session():
    learn = fit(learner([]), 1)
    plain_lf = learn.loss_func
    learn.add_cb(OverSamplingCallback(seed=0))
    rec = TrainTargets()
    fit(learn, 1, cbs=rec)
    assert np.bincount(torch.cat(rec.ys).numpy(), minlength=3).min() > 100   # balanced: 1/3 of 400 rows each, not 41
    raw = preds(learn)[0]
    learn.add_cb(PriorCorrection())
    corrected = preds(learn)[0]
    assert corrected[:, 2].mean() < raw[:, 2].mean() / 1.5   # the rarest class (8%) brought down from about 1/3
    learn.remove_cb(learn.prior_correction)
    assert learn.loss_func is plain_lf
    torch.testing.assert_close(preds(learn)[0], raw)
    learn.remove_cb(learn.over_sampling)
    fit(learn, 1, cbs=rec)
    assert np.bincount(torch.cat(rec.ys).numpy(), minlength=3)[2] < 60   # natural again: 41 of 400 rows
    assert not hasattr(learn, 'over_sampling')


def test_cbs_at_construction_and_add_cb_later_train_and_predict_the_same():
    def run(at_init):
        cbs = [OverSamplingCallback(seed=1), PriorCorrection()]
        learn = learner(cbs if at_init else [])
        if not at_init:
            for cb in cbs: learn.add_cb(cb)
        return preds(fit(learn))
    a, b = run(True), run(False)
    torch.testing.assert_close(a[0], b[0]); assert torch.equal(a[2], b[2])


N = 300
_rng = np.random.default_rng(0)
Y = _rng.choice(3, N, p=[.75, .18, .07])
X = torch.randn(N, 3, 8, 8) + torch.tensor(Y, dtype=torch.float32).view(-1, 1, 1, 1)
VOCAB = np.array(['cat', 'dog', 'eel'])
def get_x(i): return TensorImage(X[i])
def get_y(i): return VOCAB[Y[i]]
def image_dls(bs=32):
    "A DataBlock of tiny in-memory images (3x8x8 tensors), 75/18/7%; its `loss_func` is the block's one object"
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=get_x, get_y=get_y, splitter=IndexSplitter(range(225, N)))
    return dblock.dataloaders(np.arange(N), bs=bs)
def cnn(): return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def test_two_learners_on_one_dataloaders_share_nothing_written(tmp_path):
    "Everything done to one learner leaves the DataLoaders and fastai's default loss, which both learners hold, as they were"
    dls = image_dls()
    shared, train = dls.loss_func, dl_state(dls.train)
    snap = pickle.dumps(shared)
    other = Learner(dls, cnn(), cbs=OverSamplingCallback('undersample', seed=0))
    a = Learner(dls, cnn(), path=tmp_path, cbs=[OverSamplingCallback(seed=0), DeferredReweighting(start_epoch=1), PriorCorrection()])
    assert a.loss_func is not shared and other.loss_func is shared
    fit(a); fit(other, 1); fit(a, 1, 'fit_one_cycle')
    with a.no_bar(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        a.lr_find(num_it=10, show_plot=False); a.tune_threshold(); a.calibrate(); a.export('a.pkl')
    assert pickle.dumps(shared) == snap and other.loss_func is shared and other.decision is None
    assert dl_state(dls.train) == train and a.dls.train is dls.train and other.dls.train is dls.train
    assert other.over_sampling.sampled_counts.values.tolist() == [[np.bincount(Y[:225]).min()] * 3]   # its own fit: the rarest count of each
    p, _, d = preds(other)
    assert torch.equal(d, p.argmax(1))
    for cb in (a.over_sampling, a.prior_correction):   # a callback object is one learner's: a second one is refused
        with pytest.raises(ValueError, match=f'this {type(cb).__name__} is attached to another Learner already'): Learner(dls, cnn(), cbs=cb)
    assert a.over_sampling.learn is a and a.loss_func.correction is a.prior_correction


@pytest.mark.parametrize('drop_last', [True, False])
def test_undersampled_epochs_follow_the_train_dataloaders_drop_last(drop_last):
    "The callback's epochs are batched as `dls.train` is: 123 undersampled rows in batches of 40, the last 3 kept only without drop_last"
    dls, _ = small_dls('multiclass', bs=BS)
    dls = DataLoaders(dls.train.new(drop_last=drop_last), dls.valid)
    train = dl_state(dls.train)
    learn = learner(cbs=[OverSamplingCallback('undersample', seed=0)], dls=dls)
    rec = TrainTargets()
    fit(learn, 1, cbs=rec)
    assert [len(y) for y in rec.ys] == [40, 40, 40] + ([] if drop_last else [3])
    assert dl_state(learn.dls.train) == train


def test_image_datablock_lifecycle(tmp_path):
    dls = image_dls()
    learn = Learner(dls, cnn(), path=tmp_path, loss_func=FocalLoss(), cbs=[OverSamplingCallback(seed=0), PriorCorrection()])
    with learn.no_bar(): learn.lr_find(num_it=10, show_plot=False)
    fit(learn, 2, 'fit_one_cycle', lr_max=1e-2)
    with learn.no_bar(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.validate(); learn.show_results(max_n=3); plt.close('all')
        tdl = learn.dls.test_dl(np.arange(225, N))
        p = learn.get_preds(dl=tdl, with_decoded=True)
        _, c, probs = learn.predict(np.int64(230))
    assert int(c) == int(p[2][5]); torch.testing.assert_close(probs, p[0][5])
    learn.export('img.pkl')
    loaded = load_learner(tmp_path / 'img.pkl')
    q = preds(loaded, loaded.dls.test_dl(np.arange(225, N)))
    torch.testing.assert_close(q[0], p[0]); assert torch.equal(q[2], p[2])


@pytest.mark.parametrize('strategy', ['oversample', 'repeat_factor'])
def test_multilabel_lifecycle(strategy, tmp_path):
    "MultiCategoryBlock targets: resampled, corrected per label, a threshold per label, all kept through export"
    dls, df = small_dls('multilabel', bs=BS)
    kw = dict(thresh=.3) if strategy == 'repeat_factor' else {}
    set_seed(0)
    learn = tabular_learner(dls, layers=[16], path=tmp_path, loss_func=AsymmetricLoss(),
                            cbs=[OverSamplingCallback(strategy, seed=0, **kw), PriorCorrection()])
    with learn.no_bar(): learn.lr_find(num_it=10, show_plot=False)
    fit(learn, 2, 'fit_one_cycle')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        rule = learn.tune_threshold()
    assert learn.decision.multilabel and len(learn.decision.thresh) == 3
    p = preds(learn, learn.dls.test_dl(df.iloc[400:]))
    assert torch.equal(p[2], p[0] > torch.as_tensor(learn.decision.thresh, dtype=p[0].dtype))
    learn.export('ml.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path / 'ml.pkl')
    q = preds(loaded, loaded.dls.test_dl(df.iloc[400:]))
    torch.testing.assert_close(q[0], p[0]); assert torch.equal(q[2], p[2])
    assert repr(loaded.decision) == repr(learn.decision) and rule is not None


def test_retrain_classifier_and_tau_normalize_through_export(tmp_path):
    "cRT then τ-norm on a prior-corrected learner: lr_find leaves them be, and export keeps the weights and the priors"
    learn = fit(learner('prior', path=tmp_path), 2)
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, learn.prior_correction.natural_prior)
    with learn.no_bar(), learn.no_logging(): learn.retrain_classifier(2)
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)   # the classifier was re-trained balanced
    tau_normalize(learn, 1.)
    before = preds(learn)
    with learn.no_bar(): learn.lr_find(num_it=10, show_plot=False)
    after = preds(learn)
    torch.testing.assert_close(after[0], before[0]); assert torch.equal(after[2], before[2])
    tdl, df = _test_rows(learn)
    p = preds(learn, tdl)
    learn.export('crt.pkl')
    loaded = load_learner(tmp_path / 'crt.pkl')
    q = preds(loaded, loaded.dls.test_dl(df.iloc[400:480]))
    torch.testing.assert_close(q[0], p[0]); assert torch.equal(q[2], p[2])
    np.testing.assert_allclose(loaded.prior_correction.sampled_prior, [1/3] * 3)


@pytest.mark.parametrize('kind,rule', [('binary', dict(thresh=.3)), ('multiclass', dict(costs=[[0, 1, 1], [5, 0, 1], [20, 1, 0]])),
                                       ('multilabel', dict(thresh=[.2, .3, .4]))])
def test_the_learners_rule_survives_lr_find_and_another_fit(kind, rule, tmp_path):
    "A rule set with set_decision stays the learner's through lr_find and a further fit; decide() agrees with get_preds"
    dls, _ = small_dls(kind, bs=BS)
    set_seed(0)
    learn = fit(tabular_learner(dls, layers=[16], path=tmp_path, cbs=[OverSamplingCallback(seed=0), PriorCorrection()]), 1)
    learn.set_decision(**rule)
    r, p = repr(learn.decision), preds(learn)
    with learn.no_bar(): learn.lr_find(num_it=6, show_plot=False)
    q = preds(learn)
    assert repr(learn.decision) == r and torch.equal(q[2], p[2])
    fit(learn, 1)
    p = preds(learn)
    assert repr(learn.decision) == r and torch.equal(torch.as_tensor(learn.decide(p[0])), p[2])


def test_priors_follow_the_weights_a_checkpoint_loads(tmp_path):
    """`learn.load` of a checkpoint puts back the weights of another fit: the priors PriorCorrection corrects from are those
    weights' (it read them once and kept them, so a plain checkpoint loaded after a resampled fit was corrected as balanced)"""
    from fastai.callback.schedule import fit_one_cycle  # noqa: F401
    learn = fit(learner('prior', path=tmp_path), 2)
    pc = learn.prior_correction
    natural = np.array(pc.natural_prior)
    learn.save('plain')
    fit(learn, 2, cbs=OverSamplingCallback(seed=0))
    np.testing.assert_allclose(pc.sampled_prior, [1/3] * 3)
    learn.save('balanced')
    learn.load('plain')
    p = preds(learn)[0]
    np.testing.assert_allclose(pc.sampled_prior, natural)                    # the plain weights' prior: nothing to correct
    with learn.no_bar(), learn.removed_cbs(pc): raw = learn.get_preds()[0]
    torch.testing.assert_close(p, raw)
    learn.load('balanced'); preds(learn)
    np.testing.assert_allclose(pc.sampled_prior, [1/3] * 3)                  # and back


def test_an_attached_oversampler_s_old_fit_is_not_the_prior_of_a_plain_fit_after_it():
    "A plain fit with the attached OverSamplingCallback taken off (`removed_cbs`): a PriorCorrection added then reads the natural prior"
    learn = fit(learner(cbs=[OverSamplingCallback(seed=0)]), 2)
    with learn.removed_cbs(learn.over_sampling): fit(learn, 2)
    learn.add_cb(PriorCorrection())
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, learn.prior_correction.natural_prior)


def test_tau_norm_keeps_the_prior_of_the_retrained_classifier(tmp_path):
    "τ-norm rescales the cRT head: a PriorCorrection attached after it reads the balanced prior, as one attached before does, also after export"
    learn = fit(learner('prior', path=tmp_path), 2)
    learn.remove_cb(learn.prior_correction)
    with learn.no_bar(), learn.no_logging(): learn.retrain_classifier(2)
    tau_normalize(learn, 1.)
    learn.add_cb(PriorCorrection())
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)
    learn.remove_cb(learn.prior_correction)
    learn.export('crt.pkl')
    loaded = load_learner(tmp_path / 'crt.pkl')
    loaded.add_cb(PriorCorrection())                                          # the record came with it: no training data needed
    np.testing.assert_allclose(loaded.prior_correction.sampled_prior, [1/3] * 3)
    tau_normalize(learn, 0.)                                                  # back to the retrained weights: still known
    learn.add_cb(PriorCorrection())
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)


def test_a_temperature_fitted_to_other_weights_is_said_stale(tmp_path):
    "`learn.load` of another checkpoint after `calibrate`: the temperature was fitted to other weights, and a prediction says so, once"
    learn = fit(learner('prior', path=tmp_path), 2)
    learn.save('early')
    fit(learn, 2)
    with learn.no_bar(): learn.calibrate()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); preds(learn)
    assert not [o for o in w if 'fitted to other weights' in str(o.message)]   # fitted to these: no word
    learn.load('early')
    for n in (1, 0):   # the first prediction on the loaded weights says so; the next one does not repeat it
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            with learn.no_bar(): learn.get_preds()
        assert len([o for o in w if 'was fitted to other weights than the model holds now' in str(o.message)]) == n


def test_a_loss_set_after_the_fit_is_not_the_one_the_model_was_trained_with():
    "`learn.loss_func = CrossEntropyLossFlat(weight=...)` to set up the next run: the corrected probabilities stay those of the loss the fit trained with"
    learn = fit(learner('prior'), 2)
    before = preds(learn)[0]
    learn.loss_func = CrossEntropyLossFlat(weight=torch.tensor([1., 5., 20.]))
    torch.testing.assert_close(preds(learn)[0], before)
    fit(learn, 1)                                          # trained with it now: its weights count
    s = np.array(learn.prior_correction.natural_prior) * [1., 5., 20.]
    np.testing.assert_allclose(learn.prior_correction.priors(3)[0], s / s.sum(), rtol=1e-6)


class _Interrupt(Callback):
    "Kernel -> Interrupt in the middle of the second epoch (fastai calls no after_fit on a KeyboardInterrupt)"
    def after_batch(self):
        if self.training and self.epoch == 1 and self.iter == 2: raise KeyboardInterrupt


def test_an_interrupted_resampled_fit_leaves_its_prior():
    "A `fit(cbs=OverSamplingCallback())` stopped by Kernel -> Interrupt: its callback comes off without after_fit, and the prior it trained on stays known"
    from imbalance_fastai.callback import resampled_fit
    learn = fit(learner('prior'), 2)
    with pytest.raises(KeyboardInterrupt): fit(learn, 3, cbs=[OverSamplingCallback(seed=0), _Interrupt()])
    np.testing.assert_allclose(resampled_fit(learn)[0].sampled, [1/3] * 3)
    preds(learn)
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, [1/3] * 3)


class _ExportAt(Callback):
    "`learn.export` at the end of an epoch of the fit, as a checkpointing callback would"
    order = 99
    def __init__(self, epoch, fname): self.at, self.fname = epoch, fname
    def after_epoch(self):
        if self.epoch == self.at: self.learn.export(self.fname)


def test_an_export_during_a_resampled_fit_carries_its_prior(tmp_path):
    "Exported at the end of the fit's last epoch (before its after_fit), the learner keeps the prior that fit trained on"
    learn = fit(learner('prior', path=tmp_path), 2)
    fit(learn, 2, cbs=[OverSamplingCallback(seed=0), _ExportAt(1, 'mid.pkl')])
    loaded = load_learner(tmp_path / 'mid.pkl')
    tdl, df = _test_rows(learn)
    p, q = preds(learn, tdl), preds(loaded, loaded.dls.test_dl(df.iloc[400:480]))
    torch.testing.assert_close(q[0], p[0]); assert torch.equal(q[2], p[2])   # the same weights, corrected from the same prior
    np.testing.assert_allclose(loaded.prior_correction.sampled_prior, [1/3] * 3)
