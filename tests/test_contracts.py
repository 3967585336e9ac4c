"""Two promises of the guide, checked over the whole public API:

1. "An unknown keyword is an error, never silently passed on": every public callable that takes `**kwargs` (found by
   reading the code, so that a new one must be added here) refuses a misspelt keyword and names it, also where the
   keywords travel on to fastai's DataLoader, which ignores names it does not know; positional habits of fastai users
   (`retrain_classifier(5, 1e-2)` as `fit_one_cycle(5, 1e-2)`) are refused or mean what the docs say.
2. "Nothing is left half-modified": every function that changes or attaches something, failing part-way (bad input,
   or a later step made to fail), leaves the learner (callbacks, loss, weights, optimizer, DataLoaders), the DataBlock,
   the Datasets, the TabularPandas, the DataFrame and the files exactly as they were; a success leaves alone what it
   should not touch (fastai's shared default loss, a second learner of the same DataBlock).
"""
import copy, gc, inspect, io, os, warnings
from contextlib import redirect_stderr
import numpy as np, pandas as pd, pytest, torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.data.block import DataBlock, CategoryBlock, RegressionBlock
from fastai.data.core import Datasets, FilteredBase
from fastai.data.transforms import ColReader, Categorize
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
import imbalance_fastai.all as A
from imbalance_fastai import calibration, decouple, metrics, sampling
from imbalance_fastai.all import (OverSamplingCallback, PriorCorrection, TemperatureScaling, DecisionRule, DeferredReweighting,
                                  FocalLoss, LDAMLoss, MinorityRecall, Resampler, ResampledDL, ResampledTabDL, ResampledSortedDL,
                                  ImbalancedDatasetSampler, ClassBalancedBatchSampler, StratifiedSplitter, weighted_dataloaders,
                                  imblearn_dataloaders, imblearn_resample, class_weights, compare_file, plot_report, plot_sampling,
                                  tau_normalize, tune_tau, imbalance_report, stratified_split, load_for_compare, get_labels)
from imbalance_fastai.cli import main

torch.set_num_threads(1)
warnings.filterwarnings('ignore', category=UserWarning)

# ---------------------------------------------------------------------------------------------------------------------
# Tiny data: 160 rows, 3 classes (70/20/10%), two features; a TabularPandas, a DataBlock over the frame, its Datasets
N = 160

def _frame(n=N, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[.7, .2, .1])
    return pd.DataFrame({'x0': rng.normal(size=n) + 2*y, 'x1': rng.normal(size=n), 'y': np.array(list('abc'))[y]})

def _to(df=None):
    df = _frame() if df is None else df
    return TabularPandas(df, procs=[Normalize], cont_names=['x0', 'x1'], y_names='y', y_block=CategoryBlock(),
                         splits=StratifiedSplitter(0.25, seed=0, get_y='y')(df))

def _dblock():
    return DataBlock(blocks=(RegressionBlock, CategoryBlock), get_x=ColReader('x0'), get_y=ColReader('y'),
                     splitter=StratifiedSplitter(0.25, seed=0, get_y='y'))

def _learner(cbs=None, loss_func=None, dls=None):
    "A tiny tabular learner without a progress bar (fastai's default loss for the block type unless `loss_func`)"
    set_seed(0)
    learn = tabular_learner(dls if dls is not None else _to().dataloaders(bs=16, num_workers=0), layers=[8], cbs=cbs, loss_func=loss_func)
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    return learn

def _fit(learn, n=1, **kwargs):
    with learn.no_logging(): learn.fit(n, 1e-2, **kwargs)
    return learn

@pytest.fixture(scope='module')
def df(): return _frame()
@pytest.fixture(scope='module')
def to(df): return _to(df)
@pytest.fixture(scope='module')
def dsets(df): return _dblock().datasets(df)
@pytest.fixture(scope='module')
def trained():
    "A learner fitted for one epoch, for the methods that need one (each test copies what it changes)"
    return _fit(_learner(), 2)

# ---------------------------------------------------------------------------------------------------------------------
# Part 1: misspelt keywords
def _takes_kwargs(f):
    "Whether the code of `f` (a function, or a class's `__init__`) takes `**kwargs`, whatever its `__signature__` shows"
    f = f.__init__ if isinstance(f, type) else f
    code = getattr(getattr(f, '__func__', f), '__code__', None)
    return code is not None and bool(code.co_flags & inspect.CO_VARKEYWORDS)

def _kwargs_callables():
    "Names of the public callables taking `**kwargs`: `imbalance_fastai.all.__all__`, and the methods it patches onto fastai's classes"
    names = {n for n in A.__all__ if callable(getattr(A, n)) and _takes_kwargs(getattr(A, n))}
    for cls in (Learner, DataBlock, FilteredBase, Datasets, TabularPandas):
        for k, v in vars(cls).items():
            if (getattr(v, '__module__', '') or '').startswith('imbalance_fastai') and _takes_kwargs(v): names.add(f'{cls.__name__}.{k}')
    return names

KW_NAMES = ['weighted_dataloaders', 'FilteredBase.resampled_dataloaders', 'DataBlock.resampled_dataloaders', 'imblearn_dataloaders',
            'OverSamplingCallback', 'ImbalancedDatasetSampler', 'ClassBalancedBatchSampler', 'ResampledDL', 'ResampledTabDL', 'ResampledSortedDL',
            'class_weights', 'plot_sampling', 'plot_report', 'tau_normalize', 'Learner.retrain_classifier', 'Learner.set_decision', 'compare_file']

def _call_cases(df, to, dsets):
    "{callable: [(call with a misspelt keyword, that keyword)]}"
    lbls, r = list(df.y), lambda src: Resampler(get_labels(src))
    learn = _learner()
    return {
        'weighted_dataloaders': [(lambda: weighted_dataloaders(to, bs_size=16), 'bs_size'), (lambda: weighted_dataloaders(dsets, stratgy='undersample'), 'stratgy'),
                                 (lambda: weighted_dataloaders(_dblock(), df, seeed=1), 'seeed')],
        'FilteredBase.resampled_dataloaders': [(lambda: to.resampled_dataloaders(seeed=1), 'seeed'), (lambda: dsets.resampled_dataloaders(bs_size=8), 'bs_size')],
        'DataBlock.resampled_dataloaders': [(lambda: _dblock().resampled_dataloaders(df, seeed=1), 'seeed'), (lambda: _dblock().resampled_dataloaders(df, item_tfms=[]), 'item_tfms')],
        'imblearn_dataloaders': [(lambda: imblearn_dataloaders(to, 'RandomUnderSampler', seeed=1), 'seeed'), (lambda: imblearn_dataloaders(to, 'SMOTE', stratgy='x'), 'stratgy')],
        'OverSamplingCallback': [(lambda: OverSamplingCallback(stratgy='undersample'), 'stratgy'), (lambda: OverSamplingCallback(seeed=1), 'seeed')],
        'ImbalancedDatasetSampler': [(lambda: ImbalancedDatasetSampler(labels=lbls, seeed=1), 'seeed')],
        'ClassBalancedBatchSampler': [(lambda: ClassBalancedBatchSampler(labels=lbls, classes_per_batch=3, batch_size=6, seeed=1), 'seeed')],
        'ResampledDL': [(lambda: ResampledDL(dsets.train, r(dsets.train), bs=8, seeed=1), 'seeed'), (lambda: ResampledDL(dsets.train, r(dsets.train), bs_size=8), 'bs_size')],
        'ResampledTabDL': [(lambda: ResampledTabDL(to.train, r(to.train), bs=8, seeed=1), 'seeed')],
        'ResampledSortedDL': [(lambda: ResampledSortedDL(dsets.train, res=[1]*len(dsets.train), resampler=r(dsets.train), seeed=1), 'seeed')],
        'class_weights': [(lambda: class_weights(lbls, n_binz=3), 'n_binz'), (lambda: class_weights(pd.Series(lbls), n_binz=3), 'n_binz')],
        'plot_sampling': [(lambda: plot_sampling(weighted_dataloaders(to, bs=16), epoc=1), 'epoc')],
        'plot_report': [(lambda: plot_report(learn, train_prio=[.7, .2, .1]), 'train_prio')],
        'tau_normalize': [(lambda: tau_normalize(learn, taus_=[1.]), 'taus_'), (lambda: tau_normalize(learn, 1., hed='layers'), 'hed')],
        'Learner.retrain_classifier': [(lambda: learn.retrain_classifier(1, seeed=1), 'seeed'), (lambda: learn.retrain_classifier(1, wd=.1), 'wd')],
        'Learner.set_decision': [(lambda: learn.set_decision(thres=.3), 'thres')],
        'compare_file': [],   # filled by the test (it needs a file)
    }

def test_every_kwargs_callable_is_covered(df, to, dsets):
    "The cases below cover every public callable that takes `**kwargs` (a new one fails this test until it gets its case)"
    assert _kwargs_callables() == set(KW_NAMES) == set(_call_cases(df, to, dsets))

@pytest.mark.parametrize('name', sorted(set(KW_NAMES) - {'compare_file'}))
def test_misspelt_keyword_refused(name, df, to, dsets):
    "A misspelt keyword is a TypeError (or ValueError) naming it, raised by the call"
    for call, kw in _call_cases(df, to, dsets)[name]:
        with pytest.raises((TypeError, ValueError), match=kw): call()

def test_compare_file_refuses_misspelt_keyword(tmp_path, df):
    p = tmp_path/'d.csv'; df.to_csv(p, index=False)
    for kw in ('stratgies', 'epoch'):
        with pytest.raises(TypeError, match=kw): compare_file(p, label='y', progress=False, **{kw: 1})

def test_fastai_dataloader_ignores_unknown_keywords(to, dsets):
    "The premise of the tests below: fastai's own DataLoaders swallow a keyword nobody knows"
    to.dataloaders(bs=16, seeed=1, dl_kwargs=[{'seeed': 1}, {'bs_size': 2}])
    dsets.dataloaders(bs=16, seeed=1)

@pytest.mark.parametrize('src', ['to', 'dsets', 'dblock'])
def test_dl_kwargs_unknown_keyword_refused(src, df, to, dsets):
    "`dl_kwargs` (fastai's per-split keywords) reach fastai's DataLoader, which ignores unknown names: they are refused, naming the split"
    call = {'to': lambda kw: weighted_dataloaders(to, bs=16, dl_kwargs=kw), 'dsets': lambda kw: weighted_dataloaders(dsets, bs=16, dl_kwargs=kw),
            'dblock': lambda kw: weighted_dataloaders(_dblock(), df, bs=16, dl_kwargs=kw)}[src]
    with pytest.raises(TypeError, match=r"(?s)(?=.*dl_kwargs\[0\])(?=.*seeed)"): call([{'seeed': 1}, {}])
    with pytest.raises(TypeError, match=r"(?s)(?=.*dl_kwargs\[1\])(?=.*bs_size)"): call([{}, {'bs_size': 2}])
    with pytest.raises(TypeError, match=r"dl_kwargs\[0\].*seed.*weighted_dataloaders"): call([{'seed': 1}, {}])   # the Resampler's, given per split
    dls = call([{'num_workers': 0}, {'bs': 7}])   # keywords fastai's DataLoader knows still pass
    assert dls.valid.bs == 7

@pytest.mark.parametrize('sampler', ['RandomUnderSampler', 'SMOTE'])
def test_imblearn_dl_kwargs_unknown_keyword_refused(sampler, to):
    with pytest.raises(TypeError, match=r"(?s)(?=.*dl_kwargs\[0\])(?=.*seeed)"): imblearn_dataloaders(to, sampler, bs=16, dl_kwargs=[{'seeed': 1}, {}])
    with pytest.raises(TypeError, match=r"(?s)(?=.*dl_kwargs\[1\])(?=.*bs_size)"): imblearn_dataloaders(to, sampler, bs=16, dl_kwargs=[{}, {'bs_size': 1}])
    with pytest.raises(TypeError, match='val_seed'): imblearn_dataloaders(to, sampler, bs=16, val_seed=1)   # seed is imblearn_dataloaders' own

def test_val_prefix_only_for_dataloader_keywords(to, dsets):
    "`val_<name>` goes to the validation DataLoader: refused for a name that is not a DataLoader's (fastai drops it silently)"
    for src in (to, dsets):
        for kw in ('val_shuffle_train', 'val_path', 'val_seed', 'val_alpha'):
            with pytest.raises(TypeError, match=kw): weighted_dataloaders(src, bs=16, **{kw: 1})
        assert weighted_dataloaders(src, bs=16, val_num_workers=0, val_drop_last=False).valid.drop_last is False

@pytest.mark.parametrize('argv,bad', [(['demo', '--quick', '--seed', '3'], '--seed'), (['demo', '--epoch', '2'], '--epoch'),
                                      (['compare', '{csv}', '--label', 'y', '--fold', '3'], '--fold'),
                                      (['compare', '{csv}', '--labl', 'y'], '--labl'), (['compare', '{csv}', '--label', 'y', '--thread', '1'], '--thread'),
                                      (['strategies', '--quick'], '--quick')])
def test_cli_unknown_or_abbreviated_option_refused(argv, bad, tmp_path, df):
    "An option the command lacks is a usage error (exit 2) naming it, before anything runs; an abbreviation is not read as another option (`--seed 3` as `--seeds 3`)"
    p = tmp_path/'d.csv'; df.to_csv(p, index=False)
    err = io.StringIO()
    with redirect_stderr(err): rc = main([a.format(csv=p) for a in argv] + ['--out', str(tmp_path/'out')] * (argv[0] != 'strategies'))
    assert rc == 2 and bad in err.getvalue()
    assert not (tmp_path/'out').exists()

# Positional habits of fastai users
def test_focal_loss_positional_is_fastai_order():
    "`FocalLoss(0.25)` is gamma=0.25, as fastai's `FocalLoss(gamma, weight, reduction)` (not torchvision's alpha): documented, so kept"
    import fastai.losses
    assert FocalLoss(0.25).gamma == fastai.losses.FocalLoss(0.25).gamma == 0.25 and FocalLoss(0.25).alpha is None
    with pytest.raises(ValueError, match='weight'): FocalLoss(2, 0.25)   # a scalar weight (the focal alpha?) is refused
    with pytest.raises(ValueError, match='alpha='): FocalLoss(2, 0.25, mode='binary')
    with pytest.raises(TypeError): FocalLoss(2, None, 'mean', 0.25)   # alpha is keyword-only

def test_fastai_positional_wgts_refused(df, to, dsets):
    "fastai's `weighted_dataloaders(wgts)` positional: our second position is items (a DataBlock's) or the strategy, refused with the fix"
    with pytest.raises(ValueError, match='wgts='): _dblock().resampled_dataloaders(df, np.ones(N))
    with pytest.raises(ValueError, match='wgts='): dsets.resampled_dataloaders(np.ones(len(dsets.train)))
    with pytest.raises(TypeError, match='wgts='): weighted_dataloaders(dsets, np.ones(len(dsets.train)))
    with pytest.raises(TypeError, match='strategy='): weighted_dataloaders(to, 'undersample')
    with pytest.raises(ValueError, match='wgts='): OverSamplingCallback(np.ones(10))

def test_alpha_given_to_a_strategy_that_ignores_it_warns(to):
    "`OverSamplingCallback('repeat_factor', 0.5)` (0.5 meant as thresh) or `Resampler(y, 'undersample', 0.3)`: alpha is partial's, so it warns (as thresh= and ratio= do for the strategies that ignore them); alpha alone means 'partial'"
    from imbalance_fastai.resampler import Resampler
    with pytest.warns(UserWarning, match=r"alpha=0.5 is only used by strategy='partial' .*not 'repeat_factor'; repeat-factor sampling's threshold is thresh="):
        cb = OverSamplingCallback('repeat_factor', 0.5)
    assert cb.strategy == 'repeat_factor'
    y = np.repeat([0, 1, 2], [80, 15, 5])
    for f in (lambda: Resampler(y, 'undersample', 0.3), lambda: weighted_dataloaders(to, strategy='undersample', alpha=0.3, bs=8)):
        with pytest.warns(UserWarning, match=r"alpha=0.3 is only used by strategy='partial' .*not 'undersample'"): f()
    cb = OverSamplingCallback(alpha=0.3)   # alpha alone: partial balance with that exponent (it was oversampling, alpha ignored)
    assert (cb.strategy, cb.alpha) == ('partial', 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # the defaults and the ways that use alpha stay silent
        for a, k in ((('partial',), {'alpha': .3}), ((.3,), {}), (('undersample',), {}), (('repeat_factor',), {'thresh': .5})):
            OverSamplingCallback(*a, **k)
        r = Resampler(y, 'partial', alpha=.3)
        r.sample(0, strategy='undersample'); r.sample(1, alpha=.7); Resampler(y).sample(0, strategy=.2)
    assert np.allclose(Resampler(y, 'partial').shares_for(), Resampler(y, 'partial', alpha=.5).shares_for())   # None: 0.5, as before


def test_retrain_classifier_refuses_fit_one_cycle_order(trained):
    "`learn.retrain_classifier(5, 1e-2)` (as `fit_one_cycle(5, 1e-2)`) would re-train on near-natural batches (alpha=0.01): refused, pointing at lr="
    learn = copy.deepcopy(trained)
    before = _snap(learn)
    with pytest.raises(ValueError, match='lr='): learn.retrain_classifier(1, 1e-2)
    assert _snap(learn) == before

def test_set_decision_positional_threshold_refused(trained):
    learn = copy.deepcopy(trained)
    with pytest.raises(TypeError, match='thresh='): learn.set_decision(0.3)
    assert learn.decision is None

def test_report_with_learner_refuses_array_arguments(trained):
    "`imbalance_report(learn, dl)` (the DataLoader as `targets`) was run on the validation set with `dl` ignored"
    with pytest.raises(TypeError, match='dl='): imbalance_report(trained, trained.dls.valid)
    with pytest.raises(TypeError, match='targets'): imbalance_report(trained, np.zeros(40))

def test_dataloader_as_ds_idx_refused(trained):
    "`learn.tune_threshold(dl=...)`'s and `learn.calibrate(dl=...)`'s dl given in ds_idx's place is named"
    with pytest.raises(TypeError, match='dl='): calibration._eval_dl(trained, trained.dls.valid, None, 'calibrate')
    with pytest.raises(TypeError, match='dl='): copy.deepcopy(trained).calibrate(trained.dls.valid)

def test_imblearn_positional_sampling_strategy_refused(to):
    "`imblearn_dataloaders(to, 'SMOTE', 0.5)` (imbalanced-learn's first argument) landed in bs, and trained nothing until the first batch"
    for s in ('SMOTE', 'RandomUnderSampler'):
        with pytest.raises(ValueError, match='sampling_strategy='): imblearn_dataloaders(to, s, 0.5)

def test_minority_recall_positional_share_refused():
    with pytest.raises(TypeError, match='share='): MinorityRecall(0.3)
    assert MinorityRecall('b').cls == 'b' and MinorityRecall(1).cls == 1

# ---------------------------------------------------------------------------------------------------------------------
# Part 2: nothing half-modified
_SKIP = {'learn', '_learn', '__stored_args__',   # back-references, fastai's copy of the arguments
         'run', '_n_seen', '_shift', '_check', '_warned',   # what any prediction run records: fastai's `run`, PriorCorrection's outputs and checks
         '_fitting'}   # 'a fit is under way', which fastai leaves set after a fit stopped by an error (it calls no event then): what it decides is checked instead

def _value(o, depth=0):
    "A comparable value of `o`: tensors, arrays and frames by content, containers and objects' own fields recursively (4 levels)"
    if isinstance(o, torch.Tensor): return ('T', str(o.dtype), tuple(o.shape), o.detach().cpu().numpy().tobytes())
    if isinstance(o, np.ndarray): return ('A', o.dtype.str, o.shape, o.tobytes() if o.dtype != object else repr(o.tolist()))
    if isinstance(o, (pd.DataFrame, pd.Series)):
        return ('DF', repr(o.dtypes), tuple(o.index), pd.util.hash_pandas_object(o, index=True).to_numpy().tobytes())
    if o is None or isinstance(o, (bool, int, float, str, bytes, np.generic, torch.device, torch.dtype)): return o
    if inspect.isroutine(o) or isinstance(o, type): return ('F', getattr(o, '__qualname__', repr(o)))
    if depth >= 4: return ('O', type(o).__name__)
    if isinstance(o, dict): return ('D', tuple((str(k), _value(v, depth+1)) for k, v in o.items() if k not in _SKIP))
    if isinstance(o, (list, tuple, set, frozenset)) or type(o).__name__ in ('L', 'Pipeline'):
        try: return ('S', type(o).__name__, tuple(_value(v, depth+1) for v in (sorted(o, key=repr) if isinstance(o, (set, frozenset)) else o)))
        except TypeError: pass
    d = getattr(o, '__dict__', None)
    return ('O', type(o).__name__, None if d is None else _value(d, depth+1))

def _snap(learn):
    "What a failing call must leave as it was: the callbacks (the same objects), the loss (the same object, its fields), the weights, the gradients, the optimizer, the DataLoaders (the same objects, their fields)"
    params = list(learn.model.parameters())
    return dict(cbs=[(type(c).__name__, id(c)) for c in learn.cbs], loss=(id(learn.loss_func), _value(learn.loss_func)),
                decision=repr(learn.decision), model={k: _value(v) for k, v in learn.model.state_dict().items()},
                grads=[(p.requires_grad, _value(p.grad)) for p in params], opt=id(learn.opt),
                dls=(id(learn.dls), [(id(dl), type(dl).__name__, _value(vars(dl))) for dl in learn.dls.loaders]),
                hooks=sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in learn.model.modules()),
                ours={type(c).__name__: _value(vars(c)) for c in learn.cbs if type(c).__module__.startswith('imbalance_fastai')})

class _Boom(Callback):
    "Raise at the `at`-th training batch: a step that fails part-way through a fit"
    def __init__(self, at=2): self.at, self.n = at, 0
    def after_batch(self):
        if not self.training: return
        self.n += 1
        if self.n >= self.at: raise RuntimeError('boom')

def _trained(cbs=None, n=1, **kwargs):
    learn = _fit(_learner(cbs, **kwargs), n)
    learn.opt.zero_grad()
    return learn

def _fails(learn, call, exc=(TypeError, ValueError), match=None):
    "`call()` raises `exc`, and leaves `learn` as it was"
    before = _snap(learn)
    with pytest.raises(exc, match=match): call()
    after = _snap(learn)
    assert after == before, [k for k in before if before[k] != after[k]]

def test_tune_threshold_failing_leaves_learner(monkeypatch):
    learn = _trained([PriorCorrection()])
    learn.set_decision(offsets=[0., .1, .2])
    _fails(learn, lambda: learn.tune_threshold('bogus'), match='metric')
    _fails(learn, lambda: learn.tune_threshold(min_recall=2), match='min_recall')
    _fails(learn, lambda: learn.tune_threshold(costs=np.eye(2)), match='costs')
    _fails(learn, lambda: learn.tune_threshold(dl=learn.dls.test_dl(_frame(20).drop(columns='y'))), match='targets')
    monkeypatch.setattr(metrics, 'best_offsets', lambda *a, **k: (_ for _ in ()).throw(RuntimeError('search failed')))
    _fails(learn, lambda: learn.tune_threshold(), RuntimeError)

def test_tune_threshold_never_writes_the_shared_default_loss():
    "fastai's default loss is one object for every learner of the block type: tuning one learner leaves it, and the other learner, alone"
    a, b = _trained(), _trained()
    shared = b.loss_func
    assert a.loss_func is shared   # the premise: fastai shares it
    before, b_before = _value(shared), _snap(b)
    a.tune_threshold()
    assert a.decision is not None and a.loss_func is not shared
    assert _value(shared) == before and _snap(b) == b_before and b.decision is None

def test_calibrate_failing_leaves_learner(monkeypatch):
    learn = _trained([PriorCorrection()])
    learn.add_cb(TemperatureScaling(2.))
    learn.set_decision(offsets=[0., .1, .2])
    _fails(learn, lambda: learn.calibrate(dl=learn.dls.test_dl(_frame(20).drop(columns='y'))), match='targets')
    monkeypatch.setattr(calibration, 'fit_temperature', lambda *a, **k: (_ for _ in ()).throw(RuntimeError('no fit')))
    _fails(learn, lambda: learn.calibrate(), RuntimeError)
    assert [cb.enabled for cb in learn.cbs if isinstance(cb, (TemperatureScaling, PriorCorrection))] == [True, True]

def test_unlabelled_dl_refused_before_predicting(monkeypatch, trained):
    "tune_threshold, calibrate, imbalance_report, tune_tau on a test_dl without labels: refused from the dl's structure, before predicting it (minutes on a large set)"
    learn = copy.deepcopy(trained)
    tab = learn.dls.test_dl(_frame(20).drop(columns='y'))
    dsets = Datasets(list(range(8)), [[lambda o: torch.tensor([float(o)])], [lambda o: 'ab'[o % 2], Categorize()]], splits=[list(range(6)), [6, 7]])
    ddl = dsets.dataloaders(bs=4).test_dl(list(range(4)))   # with_labels=False: one pipeline, n_inp=1
    called = []
    monkeypatch.setattr(Learner, 'get_preds', lambda self, *a, **k: called.append(1) or (_ for _ in ()).throw(AssertionError('predicted')))
    for dl, why in ((tab, r"the rows of this TabularPandas lack its label columns \['y'\]"), (ddl, 'this Datasets has 1 pipelines and n_inp=1')):
        for f in (lambda: learn.tune_threshold(dl=dl), lambda: learn.calibrate(dl=dl), lambda: imbalance_report(learn, dl=dl)):
            with pytest.raises(ValueError, match=f"needs targets, but {why}: it is refused before predicting"): f()
        with pytest.raises(ValueError, match=f"tune_tau needs labels to score tau with, but {why}"): tune_tau(learn, dl=dl)
    assert not called
    assert metrics._eval_dl(learn, 1, learn.dls.test_dl(_frame(20)), 'x') is not None   # rows with the label column pass

def test_retrain_classifier_failing_part_way_leaves_learner():
    "cRT interrupted at its second batch: the weights, requires_grad, gradients, optimizer, callbacks, loss, decisions and DataLoaders are as before"
    learn = _trained([OverSamplingCallback(seed=0), PriorCorrection()])
    learn.set_decision(offsets=[0., .1, .2])
    _fails(learn, lambda: learn.retrain_classifier(2, cbs=[_Boom(2)]), RuntimeError)
    _fails(learn, lambda: learn.retrain_classifier(1, head='nope'), match='head')
    _fails(learn, lambda: learn.retrain_classifier(0), match='epochs')

def test_tau_normalize_and_tune_tau_failing_leave_learner(monkeypatch):
    learn = _trained()
    _fails(learn, lambda: tau_normalize(learn, -1.), match='tau')
    _fails(learn, lambda: tau_normalize(learn, taus=[]), match='taus')
    before = _snap(learn)
    tune_tau(learn)   # scores τ on copies of the weights: the model is unchanged
    assert _snap(learn) == before
    monkeypatch.setattr(Learner, 'get_preds', lambda *a, **k: (_ for _ in ()).throw(RuntimeError('no preds')))
    _fails(learn, lambda: tau_normalize(learn), RuntimeError)   # the forward hook is removed too

def test_prior_correction_refused_leaves_learner():
    learn = _trained()
    learn.set_decision(offsets=[0., .1, .2])
    _fails(learn, lambda: learn.add_cb(PriorCorrection(target_prior=[.5, .5])), match='target_prior')
    learn.add_cb(PriorCorrection())
    _fails(learn, lambda: _fit(learn, 1, cbs=[PriorCorrection()]), match='PriorCorrection')   # a second one, at fit: taken off again

def test_set_decision_refused_leaves_learner():
    learn = _trained([PriorCorrection()])
    learn.set_decision(offsets=[0., .1, .2])
    _fails(learn, lambda: learn.set_decision(offsets=[0., 1.]), match='3')
    _fails(learn, lambda: learn.set_decision(DecisionRule(offsets=[0., 1.])), match='3')
    _fails(learn, lambda: learn.set_decision(thresh=.3, offsets=[0, 0, 0]), match='exactly one')

def test_temperature_scaling_added_and_removed_decides_as_before():
    learn = _trained([PriorCorrection()])
    learn.set_decision(offsets=[0., .3, -.2])
    p = torch.softmax(torch.randn(50, 3), 1)
    d0, off0 = learn.decide(p), learn.decision.offsets.copy()
    ts = TemperatureScaling(2.)
    learn.add_cb(ts); learn.remove_cb(ts)
    np.testing.assert_allclose(learn.decision.offsets, off0, atol=1e-12)
    assert torch.equal(learn.decide(p), d0)

def test_oversampling_callback_failing_fit_leaves_dls():
    "A fit refused at its first epoch (no full batch) or stopped part-way leaves learn.dls (the same DataLoaders, their samplers) and the weights as they were"
    learn = _trained()
    learn.dls.train.bs = 64
    before = _snap(learn)
    with pytest.raises(ValueError, match='bs='): _fit(learn, 1, cbs=[OverSamplingCallback('undersample')])
    assert _snap(learn) == before
    learn.dls.train.bs = 16
    before = _snap(learn)
    with pytest.raises(RuntimeError): _fit(learn, 1, cbs=[OverSamplingCallback(seed=0), _Boom(2)])
    after = _snap(learn)
    assert after['dls'] == before['dls'] and after['cbs'] == before['cbs'] and after['loss'] == before['loss']
    p0, _ = learn.get_preds()
    _fit(learn, 1, cbs=[OverSamplingCallback(seed=0)])   # and the next fit resamples afresh
    assert _snap(learn)['dls'] == before['dls']

def test_decisions_after_a_fit_stopped_by_an_error():
    "A fit stopped by an error (or Ctrl-C) gets no after_fit: the learner's decisions outside fit were those of uncorrected probabilities until the next prediction"
    learn = _trained([OverSamplingCallback(seed=0), PriorCorrection()])
    learn.set_decision(offsets=[0., .1, .2])
    p = torch.softmax(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), 1)
    rule, d = repr(learn.decision), learn.decide(p)
    with pytest.raises(RuntimeError): _fit(learn, 1, cbs=[_Boom(2)])
    assert repr(learn.decision) == rule and torch.equal(learn.decide(p), d)
    probs, _ = learn.get_preds()
    assert repr(learn.decision) == rule and torch.equal(learn.decide(p), d)

def test_deferred_reweighting_leaves_loss():
    "The weights go on a copy of the loss: learn.loss_func (fastai's shared default here) is untouched after the fit, or after a refused one"
    learn = _trained()
    lf, v = learn.loss_func, _value(learn.loss_func)
    _fit(learn, 2, cbs=[DeferredReweighting(start_epoch=1)])
    assert learn.loss_func is lf and _value(lf) == v
    before = _snap(learn)
    with pytest.raises(ValueError, match='weight'): _fit(learn, 2, cbs=[DeferredReweighting(start_epoch=0, weight=[1., 2.])])
    assert _snap(learn) == before

def test_weighted_dataloaders_leaves_datablock_datasets_tabularpandas(monkeypatch, df):
    "Success, bad input and a failing last step leave the DataBlock, the Datasets, the TabularPandas and the DataFrame as fastai's own dataloaders does"
    dblock, frame = _dblock(), df.copy()
    dblock.dataloaders(frame)   # fastai sets up the block's transforms (vocab): the state to keep
    dsets, to = dblock.datasets(frame), _to(frame.copy())
    to.dataloaders(bs=16)
    vals = lambda: (_value(vars(dblock)), _value(dsets), _value(to), _value(frame))
    before = vals()
    weighted_dataloaders(dblock, frame, bs=16, strategy='undersample', seed=0)
    weighted_dataloaders(dsets, bs=16, wgts=np.arange(len(dsets.train)) + 1.)
    weighted_dataloaders(to, bs=16, strategy={'a': .2, 'b': .3, 'c': .5})
    assert vals() == before
    for call in (lambda: weighted_dataloaders(dblock, frame, strategy='bogus'), lambda: weighted_dataloaders(dblock, frame, labels=['a']*3),
                 lambda: weighted_dataloaders(dsets, wgts=[1.]*3), lambda: weighted_dataloaders(to, labels=['a']*3),
                 lambda: weighted_dataloaders(to, bs=1000, strategy='undersample')):
        with pytest.raises((TypeError, ValueError)): call()
        assert vals() == before
    monkeypatch.setattr(sampling, '_check_batches', lambda dl: (_ for _ in ()).throw(RuntimeError('late')))
    for src in ((dblock, frame), (dsets,), (to,)):
        with pytest.raises(RuntimeError): weighted_dataloaders(*src, bs=16)
        assert vals() == before

def test_two_learners_of_one_datablock_stay_independent(df):
    "Two learners of the DataLoaders of one DataBlock: resampling, fitting and tuning one changes nothing of the other"
    from fastai.layers import Lambda
    dblock = _dblock()
    def learner(dls):
        set_seed(0)
        learn = Learner(dls, torch.nn.Sequential(Lambda(lambda x: x.float().view(-1, 1)), torch.nn.Linear(1, 3)), loss_func=CrossEntropyLossFlat())
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
        return learn
    a, b = learner(weighted_dataloaders(dblock, df, bs=16, seed=0)), learner(dblock.resampled_dataloaders(df, bs=16, seed=0))
    assert a.dls.train is not b.dls.train and a.dls.train.resampler is not b.dls.train.resampler
    before = _snap(b)
    _fit(a, 2, cbs=[PriorCorrection()]); a.tune_threshold(); a.calibrate()
    a.dls.train.resampler.sample(epoch=5)
    assert _snap(b) == before and b.decision is None and b.dls.train.resampler.epoch == 0

def test_imblearn_leaves_tabularpandas(to):
    before = _value(to)
    imblearn_resample(to, 'SMOTE', seed=0); imblearn_dataloaders(to, 'RandomUnderSampler', bs=8, seed=0); imblearn_dataloaders(to, 'SMOTE', bs=16, seed=0)
    assert _value(to) == before
    for call in (lambda: imblearn_resample(to, 'SMOTE', sampling_strategy={'zz': 5}), lambda: imblearn_dataloaders(to, 'NoSuchSampler'),
                 lambda: imblearn_dataloaders(to, 'SMOTE', sampling_strategy={'a': 1})):
        with pytest.raises((TypeError, ValueError)): call()
        assert _value(to) == before

def test_imblearn_refuses_a_dataframe(df):
    frame = df.copy()
    for f in (imblearn_resample, imblearn_dataloaders):
        with pytest.raises(TypeError, match='TabularPandas'): f(frame, 'SMOTE')
    assert _value(frame) == _value(df)

def test_splits_leave_dataframe(df):
    frame = df.copy()
    stratified_split(frame['y'], 0.25, seed=0); StratifiedSplitter(0.25, seed=0, get_y='y')(frame); stratified_split(frame.y.astype('category'), .3, 1)
    with pytest.raises(ValueError): StratifiedSplitter(0.25, seed=0, get_y='nope')(frame)
    with pytest.raises(ValueError): stratified_split(frame['y'], 1.5)
    assert _value(frame) == _value(df) and frame.dtypes.equals(df.dtypes)

def test_load_for_compare_leaves_files(tmp_path, df):
    p = tmp_path/'d.csv'
    df.assign(y=df.y.where(df.index % 17 > 0)).to_csv(p, index=False)   # some rows without a label: dropped from the copy only
    stat, data = os.stat(p), p.read_bytes()
    frame, cont, cat = load_for_compare(p, 'y')
    assert len(frame) < len(df) and cont == ['x0', 'x1']
    from imbalance_fastai.compare import InputError
    with pytest.raises(InputError): load_for_compare(p, 'nope')
    with pytest.raises(InputError): load_for_compare(p, 'y', cont_names=['nope'])
    with pytest.raises(TypeError): compare_file(p, label='y', progress=False, stratgies=['plain'])
    assert p.read_bytes() == data and os.stat(p).st_mtime_ns == stat.st_mtime_ns and sorted(os.listdir(tmp_path)) == ['d.csv']
