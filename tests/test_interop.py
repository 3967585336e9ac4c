"""Our resampled DataLoaders and `OverSamplingCallback` beside fastai's own DataLoader contract and callbacks.

Part 1 ports the cases of fastai's notebooks that apply to a resampled DataLoader (`02_data.load`, `03_data.core`,
`14a_callback.data`): it must still behave as fastai's (`len`, `n`, `bs`, `drop_last`, `new`, `one_batch`, `show_batch`,
`test_dl`, devices, pickling, the `before_iter`/`after_iter` hooks, workers). Part 2 runs the callback (every strategy),
`retrain_classifier` and the factory's DataLoaders with fastai's callbacks and training loops, and checks that each epoch
resamples the train split only, that the counts the callback records are right, and that fastai's callback does what it
does without ours.
"""
import pickle, warnings
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastai.data.core import Datasets, TfmdDL
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock, MultiCategoryBlock
from fastai.data.transforms import IndexSplitter, FuncSplitter, ToTensor
from fastai.callback.data import PartialDL, CollectDataCallback
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat, BCEWithLogitsLossFlat
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback, CSVLogger, ShowGraphCallback
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback, ReduceLROnPlateau
from fastai.callback.training import GradientAccumulation, ShortEpochCallback
from fastai.callback.mixup import MixUp, CutMix
from fastai.callback.schedule import combined_cos, SchedLin  # (the module patches Learner.fit_one_cycle, fit_flat_cos, fine_tune)
from fastai.callback.fp16 import MixedPrecision  # noqa: F401 (patches Learner.to_fp16, to_bf16)
from fastai.torch_core import set_seed
from fastai.data.transforms import Transform

from imbalance_fastai.sampling import weighted_dataloaders, ResampledDL
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.distributed import ShardedDL
from imbalance_fastai.decouple import retrain_classifier  # noqa: F401 (patches Learner)

torch.set_num_threads(1)

N, N_VALID = 500, 100     # 400 train rows: 360 'common', 40 'rare'


Y = np.where(np.arange(N) % 10 == 0, 'rare', 'common')   # items are row numbers: inputs and labels are read from arrays
X = np.stack([np.where(Y == 'rare', 1., -1.), np.zeros(N)], 1).astype(np.float32) + np.random.default_rng(0).normal(size=(N, 2)).astype(np.float32)
ITEMS = list(range(N))
def _x(i): return torch.from_numpy(X[i])
def _y(i): return Y[i]


def _dblock(**kwargs): return DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=_x, get_y=_y,
                                        splitter=IndexSplitter(list(range(N - N_VALID, N))), **kwargs)


def _dls(bs=50, batch_tfms=None, **kwargs): return _dblock(batch_tfms=batch_tfms).dataloaders(ITEMS, bs=bs, num_workers=0, **kwargs)


def _rdls(bs=50, batch_tfms=None, **kwargs): return weighted_dataloaders(_dblock(batch_tfms=batch_tfms), ITEMS, bs=bs, num_workers=0, **kwargs)


def _learner(dls, cbs=None, **kwargs):
    set_seed(0)
    learn = Learner(dls, nn.Linear(2, 2), loss_func=CrossEntropyLossFlat(), cbs=cbs, **kwargs)
    learn.remove_cb(ProgressCallback)
    return learn


def _targets(dl): return torch.cat([b[1] for b in dl])


class Reg(nn.Module):
    "fastai's `synth_learner` model: `a*x + b`"
    def __init__(self): super().__init__(); self.a, self.b = nn.Parameter(torch.ones(1)), nn.Parameter(torch.zeros(1))
    def forward(self, x): return x * self.a + self.b


class Batches(Callback):
    "Record the train batches' targets (as the DataLoader gave them, before MixUp's loss sees them) and the steps taken"
    order = 1   # before MixUp/CutMix (they change xb, not yb, for a loss with y_int) and GradientAccumulation
    def before_fit(self): self.ys, self.steps, self.lens = [], 0, []
    def before_train(self): self.ys.append([])
    def after_train(self): self.lens.append(self.n_iter)
    def before_batch(self):
        if self.training: self.ys[-1].append(self.yb[0].detach().cpu().view(len(self.yb[0]), -1))
    def after_step(self): self.steps += 1
    def epoch_ys(self): return [torch.cat(e).view(-1).numpy() if e else np.zeros(0, np.int64) for e in self.ys]


# ---------------------------------------------------------------------------------------------------------------------
# Part 1: a resampled DataLoader behaves as fastai's
# ---------------------------------------------------------------------------------------------------------------------
def test_fastai_weighted_dl_notebook_examples():
    "14a_callback.data: fastai's `weighted_dataloaders` examples, through `resampled_dataloaders` and `weighted_dataloaders`"
    lbls = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])   # 10 items: 8 train, 2 valid
    dblock = DataBlock(blocks=[CategoryBlock], getters=[lambda i: lbls[i]], splitter=FuncSplitter(lambda i: i >= 8))
    dset = dblock.datasets(list(range(10)))
    dls = dset.resampled_dataloaders(bs=1, wgts=range(8), after_item=[ToTensor()])
    assert type(dls.train) is ResampledDL and (len(dls.train), len(dls.valid)) == (8, 2)
    dls.show_batch()                                  # "if len(wgts) != 8, this will fail"
    with pytest.raises(ValueError, match='wgts has 7 values but the train split has 8'):
        dset.resampled_dataloaders(bs=1, wgts=range(7))
    dls = weighted_dataloaders(dblock, list(range(10)), wgts=np.arange(10), bs=1)   # per source item, as fastai's DataBlock one
    dls.show_batch()
    # fastai's positional `wgts` land on `strategy`: refused with the fix, never taken as a strategy
    with pytest.raises(ValueError, match='wgts=...'): dset.resampled_dataloaders(range(8), bs=1)

    # 160 items weighted by their value, a synth-like learner with `CollectDataCallback`, one epoch
    n = 160
    dsets = Datasets(torch.arange(n).float())
    dls = weighted_dataloaders(dsets, wgts=range(n), bs=16, seed=0)
    assert len(dls.train) == 10 and dls.train.n == 160
    learn = Learner(dls, Reg(), loss_func=lambda p, *y: p.mean(), cbs=CollectDataCallback)
    learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fit(1)
    t = torch.cat(list(learn.collect_data.data.itemgot(0, 0))).view(-1)
    assert len(t) == 160 and (t == 0).sum() == 0   # weight 0: never drawn
    # mean of a draw with P(i) = i / sum(i): sum(i^2)/sum(i) = (2n-1)/3 = 106.3; SD 37.6, so the SE of 160 draws is 3
    assert abs(t.mean().item() - (2 * n - 1) / 3) < 12


def test_partial_dl_contract_as_natural_subsample():
    """fastai's `PartialDL(partial_n=32)`: 2 batches of 16 distinct rows, a fresh subset each epoch. Ours is
    `strategy='natural', n_samples=32, replacement=False`, and it is stratified: each class keeps its share of the 32 rows
    (floor or ceiling of it). A deliberate difference: stratifying needs labels, so data without a target passes uniform
    `wgts` (no labels needed then), which gives `PartialDL`'s epochs exactly."""
    dsets = Datasets(torch.arange(160).float())
    fa = dsets.partial_dataloaders(partial_n=32, bs=16, num_workers=0)
    assert isinstance(fa.train, PartialDL)
    uniform = dsets.resampled_dataloaders(wgts=np.ones(160), n_samples=32, replacement=False, bs=16, seed=0, num_workers=0)   # (wgts take no strategy)
    labelled = _rdls(bs=16, strategy='natural', n_samples=32, replacement=False, seed=0)
    for dl in (fa.train, uniform.train, labelled.train):
        assert len(dl) == 2
        epochs = [torch.cat([b[0] if len(b) == 1 else b[0][:, 0] for b in dl]) for _ in range(3)]
        for e in epochs: assert len(e) == 32 and len(e.unique()) == 32   # no row twice in an epoch
        assert not torch.equal(epochs[0].sort()[0], epochs[1].sort()[0])
    rare = [int((labelled.train.resampler.labels.codes[labelled.train.get_idxs()] == 1).sum()) for _ in range(50)]
    assert set(rare) <= {3, 4} and 0.1 < np.mean(rare) - 3 < 0.3   # 3.2 expected: 4 in a fifth of the epochs (SE 0.06)
    with pytest.raises(ValueError, match='no target'): dsets.resampled_dataloaders('natural', n_samples=32, bs=16)


@pytest.mark.parametrize('strategy,kw,n_epoch', [('oversample', {}, 400), ('undersample', {}, 80),
                                                  ('natural', {'n_samples': 123}, 123), ('oversample', {'n_samples': 2.}, 800)])
@pytest.mark.parametrize('drop_last', [True, False])
def test_len_n_bs_drop_last_match_iteration(strategy, kw, n_epoch, drop_last):
    "`len(dl)` is what iterating gives, `n` is the epoch's rows, batches are `bs` (the last one partial without drop_last)"
    dl = _rdls(bs=30, strategy=strategy, seed=0, drop_last=drop_last, **kw).train
    want = n_epoch // 30 + (0 if drop_last or n_epoch % 30 == 0 else 1)
    assert dl.n == n_epoch and dl.bs == 30 and dl.drop_last is drop_last and len(dl) == want
    for _ in range(2):
        sizes = [len(b[1]) for b in dl]
        assert len(sizes) == want and sizes[:-1] == [30] * (want - 1)
        assert sizes[-1] == (30 if drop_last or n_epoch % 30 == 0 else n_epoch % 30)
        assert len(dl.last_idxs) == n_epoch   # the epoch drawn (drop_last drops its tail only when batching)


def test_new_keeps_the_resampler_only_for_the_same_dataset():
    dls = _rdls(seed=0)
    r = dls.train.resampler
    small = dls.train.new(bs=8)
    assert type(small) is ResampledDL and small.resampler is r and small.bs == 8 and len(small) == 400 // 8
    assert np.bincount(np.concatenate([r.labels.codes[small.get_idxs()] for _ in range(3)]), minlength=2).tolist() == [600, 600]
    ordered = dls.train.new(shuffle=False, drop_last=False)   # what get_preds(ds_idx=0) makes: every row once, in order
    assert torch.equal(_targets(ordered), _targets(_dls().train.new(shuffle=False, drop_last=False)))
    assert list(ordered.get_idxs()) == list(range(400))
    other = dls.train.new(dls.valid.dataset)              # another dataset: the resampler (its labels) does not apply
    assert other.resampler is None and other.n == 100
    plain = dls.train.new(cls=TfmdDL)                      # a class that cannot resample: a plain DataLoader
    assert type(plain) is TfmdDL and not hasattr(plain, 'resampler')


class TrainOnly(Transform):
    "A train-only batch transform (fastai's `split_idx=0`): `TfmdDL.before_iter` tells it which split it is in"
    split_idx, order = 0, 5
    def encodes(self, x: torch.Tensor): return x + 100 if x.is_floating_point() else x


def test_one_batch_show_batch_test_dl_and_valid_untouched():
    rdls, plain = _rdls(seed=0, batch_tfms=TrainOnly()), _dls(batch_tfms=TrainOnly())
    xb, yb = rdls.one_batch()
    assert xb.shape == (50, 2) and yb.shape == (50,) and (xb[:, 0] > 90).all()   # the train-only transform applied
    assert rdls.train.resampler.epoch == 1                                        # one_batch draws an epoch, as fastai's
    dec = rdls.train.decode_batch(rdls.one_batch(), max_n=3)     # what show_batch shows (a plain tensor input has no `show`)
    assert len(dec) == 3 and {d[1] for d in dec} <= {'common', 'rare'}
    assert type(rdls.valid) is ResampledDL and rdls.valid.resampler is None and not rdls.valid.shuffle
    for a, b in zip(rdls.valid, plain.valid):                                    # validation: as fastai makes it
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and (a[0][:, 0] < 90).all()
    for dls in (rdls, plain):
        tdl = dls.test_dl(ITEMS[:7])
        assert getattr(tdl, 'resampler', None) is None and len(tdl) == 1 and len(tdl.one_batch()[0]) == 7
        ldl = dls.test_dl(ITEMS[:7], with_labels=True)
        assert torch.equal(ldl.one_batch()[1], torch.tensor([dls.vocab.o2i[v] for v in Y[:7]]))


def test_devices_follow_dataloaders_to():
    rdls = _rdls(seed=0, device='cpu')
    assert rdls.train.device == torch.device('cpu') and rdls.one_batch()[0].device.type == 'cpu'
    rdls.to(torch.device('meta'))   # a device every torch has: the batches go where the DataLoaders were sent
    assert rdls.train.device == rdls.valid.device == torch.device('meta')
    assert rdls.one_batch()[0].device.type == 'meta' and rdls.train.resampler is not None
    rdls.cpu()
    assert rdls.train.device.type == 'cpu' and rdls.one_batch()[0].device.type == 'cpu'


def _epochs(dl, k=3): return [np.asarray(dl.get_idxs()).tolist() for _ in range(k)]


def test_pickled_dataloaders_go_on_with_the_same_epochs():
    "`pickle` (what `learn.export` and multiprocessing spawn use) keeps the sampler's seed and epoch counter"
    dls = _rdls(seed=3)
    dls.train.get_idxs()
    copy = pickle.loads(pickle.dumps(dls))
    assert type(copy.train) is ResampledDL and copy.train.resampler.epoch == dls.train.resampler.epoch == 1
    assert _epochs(copy.train) == _epochs(dls.train)
    assert torch.equal(_targets(copy.valid), _targets(dls.valid))


def test_before_iter_after_iter_hooks_and_workers():
    "fastai's `_methods` hooks pass through the factory; with workers the batches are exactly the epoch drawn in the main process"
    calls = []
    dls = _rdls(seed=0, bs=40, before_iter=lambda: calls.append('before'), after_iter=lambda: calls.append('after'))
    list(dls.train); list(dls.valid)
    assert calls == ['before', 'after'] * 2
    dl = dls.train.new(num_workers=2)
    assert dl.fake_l.num_workers == 2 and dl.resampler is dls.train.resampler
    ys = torch.cat([b[1] for b in dl]).numpy()
    assert len(ys) == 400 and np.bincount(ys).tolist() == [200, 200]
    assert np.array_equal(ys, dl.resampler.labels.codes[dl.last_idxs])          # the main process's epoch, in its order


def test_get_idxs_randomize_and_set_seed():
    "Epochs come from the sampler's `(seed, epoch)`: neither fastai's `randomize` (its per-DataLoader `rng`) nor numpy's global seed move them"
    a, b = _rdls(seed=5).train, _rdls(seed=5).train
    b.randomize(); np.random.seed(123); b.rng.seed(7)
    assert _epochs(a) == _epochs(b)
    set_seed(11); c = _rdls().train
    set_seed(11); d = _rdls().train
    assert _epochs(c) == _epochs(d) and _epochs(c, 1) != _epochs(a, 1)
    idxs = np.asarray(_rdls(seed=5).train.get_idxs())
    assert idxs.dtype.kind == 'i' and len(idxs) == 400 and idxs.min() >= 0 and idxs.max() < 400


def test_n_of_fastai_dataloaders():
    "fastai's `n=` (rows of the train DataLoader) is not the resampled epoch's length, which `n_samples` sets"
    with pytest.raises((TypeError, ValueError), match='n_samples'): _rdls(seed=0, n=100)
    with pytest.raises(TypeError, match='n=100.*n_samples=100'): _rdls(seed=0, dl_kwargs=[{'n': 100}, {}])   # fastai's per-split form


def test_datablock_transforms_passed_twice_are_refused_as_fastai_does():
    "fastai's `DataBlock.dataloaders` refuses `after_batch=`/`after_item=` (the DataBlock's `batch_tfms`/`item_tfms` are those): ours must not drop the DataBlock's"
    with pytest.raises(TypeError, match='after_batch'): _dls(batch_tfms=TrainOnly(), after_batch=[])
    with pytest.raises(TypeError, match='after_batch.*batch_tfms'): _rdls(batch_tfms=TrainOnly(), after_batch=[])
    with pytest.raises(TypeError, match='after_item.*item_tfms'): _rdls(after_item=[])


# ---------------------------------------------------------------------------------------------------------------------
# Part 2: OverSamplingCallback, retrain_classifier and the factory's DataLoaders with fastai's callbacks
# ---------------------------------------------------------------------------------------------------------------------
class Epochs(Callback):
    "Record, per training epoch, the epoch the twin drew (`last_idxs`), and the validation targets"
    order = 70
    def before_fit(self): self.idxs, self.valid = [], []
    def after_train(self): self.idxs.append(np.asarray(self.learn.dl.last_idxs).copy())
    def before_validate(self): self.valid.append([])
    def after_batch(self):
        if not self.training: self.valid[-1].append(self.yb[0].detach().cpu())


RARE_W = np.where(np.arange(N - N_VALID) % 10 == 0, 3., 1.)   # the rare rows (one in ten) weigh 3: a quarter of the draws
STRATEGIES = {   # callback arguments -> the class counts [common, rare] of each of 3 epochs of 400 train rows (80 undersampled)
    'oversample': ({}, [[200, 200]] * 3),
    'undersample': ({'strategy': 'undersample'}, [[40, 40]] * 3),
    'natural': ({'strategy': 'natural'}, [[360, 40]] * 3),
    'partial': ({'strategy': 'partial', 'alpha': .5}, [[300, 100]] * 3),   # shares sqrt(360) : sqrt(40) = 3 : 1
    'alpha float': ({'strategy': .5}, [[300, 100]] * 3),
    'alpha schedule': ({'alpha': 'SchedLin'}, [[360, 40], [300, 100], [200, 200]]),
    'shares': ({'strategy': {'common': .7, 'rare': .3}}, [[280, 120]] * 3),
    'wgts': ({'wgts': RARE_W}, [[300, 100]] * 3),
    'defer_epochs': ({'defer_epochs': 1}, [[360, 40], [200, 200], [200, 200]]),
    'wgts deferred': ({'wgts': RARE_W, 'defer_epochs': 2}, [[360, 40], [360, 40], [300, 100]]),
    'classes_per_batch': ({'classes_per_batch': 2}, [[200, 200]] * 3),
    'balanced_batches': ({'balanced_batches': True}, [[200, 200]] * 3),
    'n_samples': ({'n_samples': 250}, [[125, 125]] * 3),
}


@pytest.mark.parametrize('name', list(STRATEGIES))
def test_every_strategy_with_mixup_gradient_accumulation_csv_logger_and_one_cycle(name, tmp_path):
    "Each epoch resamples train only; the batches trained on are the epoch drawn; the counts recorded are right; fastai's callbacks as without ours"
    from fastai.callback.schedule import SchedLin
    kw, want = STRATEGIES[name]
    kw = {**kw, 'alpha': SchedLin(0, 1)} if kw.get('alpha') == 'SchedLin' else kw
    dls = _dls()
    train, loss = dls.train, CrossEntropyLossFlat()
    learn = _learner(dls, cbs=OverSamplingCallback(seed=0, **kw), path=tmp_path)
    learn.loss_func = loss
    b, e, ga = Batches(), Epochs(), GradientAccumulation(n_acc=100)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)   # 'rare' has a single row in some P x K batches: not what is tested
        with learn.no_logging(): learn.fit_one_cycle(3, 1e-2, cbs=[b, e, MixUp(), ga, CSVLogger()])
    counts = learn.over_sampling.sampled_counts
    assert list(counts.columns) == ['common', 'rare']         # by class, also with wgts (the target has classes)
    got = counts.values.tolist()
    assert [sum(c) for c in got] == [sum(c) for c in want]
    np.testing.assert_allclose(got, want, atol=1)            # stratified counts: the floor or ceiling of the expected ones
    y_all = np.array([dls.vocab.o2i[v] for v in Y[:N - N_VALID]])
    for ys, idxs, c in zip(b.epoch_ys(), e.idxs, got):
        assert np.array_equal(ys, y_all[idxs[:len(ys)]])       # trained on the epoch drawn, in its order
        assert len(ys) == len(idxs) // 50 * 50                   # drop_last: the full batches of it
        assert np.bincount(y_all[idxs], minlength=2).tolist() == c
    assert b.lens == [len(i) // 50 for i in e.idxs]             # n_iter (progress, schedules) is the resampled epoch's
    assert b.steps == sum(b.lens) // 2                          # GradientAccumulation: a step every 100 rows, as without ours
    y_valid = _targets(dls.valid)
    assert all(torch.equal(torch.cat(v), y_valid) for v in e.valid) and len(e.valid) == 3   # validation untouched
    assert len(pd.read_csv(tmp_path / 'history.csv')) == 3
    assert learn.loss_func is loss and learn.dls.train is train and not hasattr(train, 'resampler')
    if name == 'classes_per_batch' or name == 'balanced_batches':   # every batch holds 25 rows of each class
        assert all(np.bincount(ys.reshape(-1, 50)[i], minlength=2).tolist() in ([25, 25], [24, 26], [26, 24])
                   for ys in b.epoch_ys() for i in range(len(ys) // 50))


def _fit(learn, *args, how='fit', **kwargs):
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        getattr(learn, how)(*args, **kwargs)


def test_early_stopping_keeps_the_epochs_trained_and_restores():
    "EarlyStoppingCallback stops the fit (CancelFitException) as it does without ours; the callback keeps that fit's counts and priors"
    dls = _dls()
    learn = _learner(dls, cbs=OverSamplingCallback(seed=0))
    es = EarlyStoppingCallback(monitor='valid_loss', min_delta=1e9, patience=0)   # no epoch can improve by 1e9: stop after the second
    _fit(learn, 5, 1e-2, cbs=es)
    assert len(learn.recorder.values) == 2 and learn.over_sampling.sampled_counts.values.tolist() == [[200, 200]] * 2
    np.testing.assert_allclose(learn.over_sampling.train_prior, [.5, .5])
    assert learn.dls.train is dls.train and learn.over_sampling.resampler is None and learn.dl is None   # fastai's _end_cleanup


def test_save_model_reloads_the_best_epoch_and_reduce_lr_on_plateau(tmp_path):
    dls = _dls()
    learn = _learner(dls, cbs=OverSamplingCallback('undersample', seed=0), path=tmp_path)
    _fit(learn, 4, 0.5, cbs=[SaveModelCallback(monitor='valid_loss', fname='best'), ReduceLROnPlateau(min_delta=1e9, patience=0, factor=4)])
    losses = [v[1] for v in learn.recorder.values]   # [train_loss, valid_loss]
    assert (tmp_path / 'models' / 'best.pth').exists()
    with learn.no_logging(): final = learn.validate()[0]
    assert abs(final - min(losses)) < 1e-5               # the best epoch's model is back, as without ours
    assert learn.opt.hypers[-1]['lr'] == pytest.approx(0.5 / 4 ** 3)   # reduced after epochs 2, 3, 4
    assert learn.over_sampling.sampled_counts.values.tolist() == [[40, 40]] * 4


class PBar(Callback):
    "Read the progress bar's total and ShowGraphCallback's batch marks at the end of each training pass"
    order = 66
    def before_fit(self): self.totals = []
    def after_train(self): self.totals.append((self.learn.progress.pbar.total, self.n_iter))


def test_progress_bar_show_graph_and_no_bar_follow_the_resampled_epochs(capsys):
    import matplotlib; matplotlib.use('Agg')
    dls = _dls(bs=10)
    learn = Learner(dls, nn.Linear(2, 2), loss_func=CrossEntropyLossFlat(), cbs=OverSamplingCallback('undersample', seed=0))
    pb, sg = PBar(), ShowGraphCallback()
    _fit(learn, 2, 1e-2, cbs=[pb, sg])
    assert pb.totals == [(8, 8), (8, 8)]                  # 80 undersampled rows in batches of 10, not the natural 40 batches
    assert sg.nb_batches == [8, 16] and len(learn.recorder.losses) == 16
    with learn.no_bar():
        assert not any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
        _fit(learn, 1, 1e-2)
    assert any(isinstance(cb, ProgressCallback) for cb in learn.cbs)   # no_bar removes it only within
    assert learn.over_sampling.sampled_counts.values.tolist() == [[40, 40]]


@pytest.mark.parametrize('how', ['fit_one_cycle', 'fit_flat_cos'])
def test_schedules_span_the_resampled_epochs(how):
    "`pct_train` runs 0 -> 1 over the resampled batches (16 of them, not the natural 80), so the schedule is fastai's whole one"
    dls = _dls(bs=10)
    learn = _learner(dls, cbs=OverSamplingCallback('undersample', seed=0))
    _fit(learn, 2, 1e-2, how=how)
    lrs = np.array(learn.recorder.lrs)
    sched = combined_cos(.25, 1e-2 / 25, 1e-2, 1e-2 / 1e5) if how == 'fit_one_cycle' else combined_cos(.75, 1e-2, 1e-2, 1e-2 / 1e5)
    assert len(lrs) == 16
    np.testing.assert_allclose(lrs, [sched(i / 16) for i in range(16)], rtol=1e-6)


def test_fine_tune_freeze_unfreeze_and_show_training_loop(capsys):
    dls = _dls()
    body = nn.Sequential(nn.Linear(2, 8), nn.ReLU())
    learn = _learner(dls, cbs=OverSamplingCallback(seed=0), splitter=lambda m: [list(m[0].parameters()), list(m[1].parameters())])
    learn.model = nn.Sequential(body, nn.Linear(8, 2))
    learn.show_training_loop()
    out = capsys.readouterr().out
    events = {l.split(':')[0].strip(' -'): l for l in out.splitlines() if ':' in l}
    # before_validate: only under fastai's DistributedTrainer (a DistributedDL is read through a ShardedDL); otherwise idle
    for ev in ('before_fit', 'before_train', 'after_train', 'before_validate', 'after_fit'): assert 'OverSamplingCallback' in events[ev]
    for ev in ('before_batch', 'after_pred', 'after_loss', 'after_epoch'): assert 'OverSamplingCallback' not in events[ev]
    b = Batches()
    learn.freeze()
    assert [p.requires_grad for p in learn.model.parameters()] == [False, False, True, True]
    _fit(learn, 1, how='fine_tune', cbs=b, freeze_epochs=1)
    assert learn.over_sampling.sampled_counts.values.tolist() == [[200, 200]]   # the last fit of fine_tune (unfrozen)
    for ys in b.epoch_ys(): assert np.bincount(ys, minlength=2).tolist() == [200, 200]
    assert all(p.requires_grad for p in learn.model.parameters()) and learn.dls.train is dls.train


@pytest.mark.parametrize('precision', ['to_fp16', 'to_bf16'])
def test_mixed_precision_and_cutmix_on_images(precision):
    "CutMix needs images: 3x8x8 tensors, a tiny conv model; on CPU fastai's autocast is a no-op with a warning (fp16) or bf16"
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(N, 3, 8, 8)).astype(np.float32))
    dls = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda i: x[i], get_y=_y,
                    splitter=IndexSplitter(list(range(N - N_VALID, N)))).dataloaders(ITEMS, bs=50, num_workers=0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    learn = getattr(Learner(dls, model, loss_func=CrossEntropyLossFlat(), cbs=OverSamplingCallback(seed=0)), precision)()
    learn.remove_cb(ProgressCallback)
    b = Batches()
    _fit(learn, 2, 1e-2, cbs=[b, CutMix()])
    assert learn.over_sampling.sampled_counts.values.tolist() == [[200, 200]] * 2
    for ys in b.epoch_ys(): assert np.bincount(ys, minlength=2).tolist() == [200, 200]
    assert isinstance(learn.mixed_precision, MixedPrecision) and learn.dls.train is dls.train


def test_short_epochs_record_the_epoch_drawn():
    """A training pass cancelled part way (fastai's `ShortEpochCallback`): `sampled_counts` is what the sampler drew for the
    epoch (its documented meaning: the counts of the epoch's draw, as with `drop_last`), not the rows the pass reached"""
    dls = _dls()
    learn = _learner(dls, cbs=OverSamplingCallback(seed=0))
    b = Batches()
    _fit(learn, 2, 1e-2, cbs=[b, ShortEpochCallback(pct=0.3, short_valid=False)])
    assert [len(y) for y in b.epoch_ys()] == [200, 200]   # stopped after the batch at 3/8 >= 30%: 4 of 8 batches a pass
    assert learn.over_sampling.sampled_counts.values.tolist() == [[200, 200]] * 2
    assert learn.dls.train is dls.train


class Drawn(Callback):
    "Record each training epoch's indices as the resampled DataLoader drew them"
    order = 13   # after OverSamplingCallback (12) set `learn.dl` to its twin
    def before_fit(self): self.idxs = []
    def after_train(self): self.idxs.append(np.asarray(self.learn.dl.last_idxs))


@pytest.mark.parametrize('kw', [dict(alpha=SchedLin(0, 1)), dict(defer_epochs=3)], ids=['alpha schedule', 'deferred'])
def test_changing_shares_without_replacement_use_every_row_evenly(kw):
    """OverSamplingCallback(alpha=SchedLin(0, 1) or defer_epochs=3, replacement=False): the class shares change over the
    fit, and after every epoch the rows of each class have been trained on within one time of each other (no row of a
    class waits while another is drawn twice more); the counts recorded are the epochs drawn"""
    drawn = Drawn()
    learn = _learner(_dls(bs=100), cbs=[OverSamplingCallback(replacement=False, seed=0, **kw), drawn])
    _fit(learn, 16, 1e-2)
    y, seen = Y[:N - N_VALID], np.zeros(N - N_VALID)       # the train split is items 0..399, in order
    for e, idxs in enumerate(drawn.idxs):
        seen += np.bincount(idxs, minlength=len(y))
        for c in ('common', 'rare'): assert np.ptp(seen[y == c]) <= 1, (e, c, np.ptp(seen[y == c]))
    counts = learn.over_sampling.sampled_counts
    assert counts.values.tolist() == [[(y[i] == 'common').sum(), (y[i] == 'rare').sum()] for i in drawn.idxs]
    assert counts['rare'].iloc[0] == 40 and counts['rare'].iloc[-1] == 200   # natural first, balanced last


def test_retrain_classifier_with_fastai_callbacks(tmp_path):
    "cRT with MixUp, SaveModelCallback, EarlyStopping and CSVLogger in its fit; then freeze/unfreeze and a plain fit go on as fastai's"
    dls = _dls()
    learn = _learner(dls, path=tmp_path, splitter=lambda m: [list(m[0].parameters()), list(m[2].parameters())])
    learn.model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    _fit(learn, 1, 1e-2)
    body = [p.detach().clone() for p in learn.model[0].parameters()]
    b = Batches()
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        learn.retrain_classifier(3, seed=0, cbs=[b, MixUp(), CSVLogger(), SaveModelCallback(fname='crt'),
                                                 EarlyStoppingCallback(min_delta=1e9, patience=1)])
    assert len(b.ys) == 2                                          # EarlyStopping: stopped after the second epoch
    for ys in b.epoch_ys(): assert np.bincount(ys, minlength=2).tolist() == [200, 200]   # class-balanced batches
    assert all(torch.equal(p, q) for p, q in zip(body, learn.model[0].parameters()))      # the body is as trained
    assert len(pd.read_csv(tmp_path / 'history.csv')) == 2 and (tmp_path / 'models' / 'crt.pth').exists()
    assert all(p.requires_grad for p in learn.model.parameters()) and learn.opt is None
    assert not any(isinstance(cb, OverSamplingCallback) for cb in learn.cbs) and learn.dls.train is dls.train
    learn.freeze()
    assert [p.requires_grad for p in learn.model.parameters()] == [False, False, True, True]
    learn.unfreeze()
    b2 = Batches()
    _fit(learn, 1, 1e-2, cbs=b2)                                    # natural epochs again: the cRT's callback is gone
    assert np.bincount(b2.epoch_ys()[0], minlength=2).tolist() == [360, 40]   # every train row once


TAGS = np.where(np.arange(N) % 25 == 0, 'a rare', 'a')   # 16 of 400 train rows tagged 'rare'
def _tags(i): return TAGS[i].split(' ')


def test_repeat_factor_multilabel_epochs_of_varying_length_under_one_cycle():
    "Repeat-factor epochs differ in length: fastai's n_iter, GradientAccumulation and the one-cycle schedule follow each epoch"
    dls = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=_x, get_y=_tags,
                    splitter=IndexSplitter(list(range(N - N_VALID, N)))).dataloaders(ITEMS, bs=10, num_workers=0)
    learn = Learner(dls, nn.Linear(2, 2), loss_func=BCEWithLogitsLossFlat(), cbs=OverSamplingCallback('repeat_factor', thresh=0.2, seed=1))
    learn.remove_cb(ProgressCallback)
    b = Batches()
    _fit(learn, 4, 1e-2, how='fit_one_cycle', cbs=[b, GradientAccumulation(n_acc=30)])
    counts = learn.over_sampling.sampled_counts
    r = np.sqrt(0.2 / (16 / 400))                                   # the rare tag's factor, 2.24: 2 or 3 copies of each rare row
    assert ((counts['rare'] >= 2 * 16) & (counts['rare'] <= 3 * 16)).all() and (counts['a'] - counts['rare'] == 384).all()
    assert len(set(counts['a'])) > 1 and r > 2                     # the epochs' lengths differ
    assert b.lens == (counts['a'] // 10).tolist()                    # drop_last: full batches of each epoch
    assert b.steps == sum(b.lens) // 3                                # a step every 3 batches of 10, across epochs
    pct = np.concatenate([(e + np.arange(n) / n) / 4 for e, n in enumerate(b.lens)])   # each epoch is a quarter of the fit
    np.testing.assert_allclose(learn.recorder.lrs, [combined_cos(.25, 1e-2 / 25, 1e-2, 1e-2 / 1e5)(p) for p in pct], rtol=1e-6)


class SimRank(ShardedDL):
    "A rank of a simulated 2-process group (see tests/test_distributed.py): rank 0's seed and epoch are handed to rank 1"
    sent = None
    def _sync(self, obj):
        if self.rank == 0: SimRank.sent = obj
        return SimRank.sent


def test_sharded_dl_keeps_fastais_dataloader_hooks_and_transforms():
    "fastai's DistributedDL contract on a factory DataLoader: before_iter (the train-only transform), after_iter, len; the shards are one epoch"
    calls = []
    dls = _rdls(seed=4, bs=30, batch_tfms=TrainOnly(), after_iter=lambda: calls.append('after'))
    ranks = [SimRank(dls.train, rank, 2) for rank in (0, 1)]
    batches = [list(dl) for dl in ranks]
    assert [len(b) for b in batches] == [len(dl) for dl in ranks] == [6, 6]   # 200 rows a rank in batches of 30, drop_last
    assert calls == ['after', 'after'] and all((x[:, 0] > 90).all() for b in batches for x, _ in b)
    epoch = ranks[0].last_idxs
    x = torch.cat([torch.cat([xb for xb, _ in b]) for b in batches])[:, 0] - 100
    want = torch.from_numpy(X[np.concatenate([epoch[:180], epoch[200:380]]), 0])   # each rank's 200, its last 20 dropped
    assert torch.allclose(x.sort()[0], want.sort()[0], atol=1e-4)   # float32 x + 100 - 100
    assert np.bincount(dls.train.resampler.labels.codes[epoch], minlength=2).tolist() == [200, 200]


def test_unshuffled_and_inference_paths_are_fastais():
    """As fastai's `WeightedDL`, an unshuffled DataLoader is not resampled (`shuffle=False`: every row once, in order; it is
    what `get_preds(ds_idx=0)` builds); `val_shuffle` shuffles validation without resampling it; `summary` and
    `ClassificationInterpretation` on the train split leave the callback idle"""
    from fastai.callback.hook import summary  # noqa: F401 (patches Learner.summary)
    from fastai.interpret import ClassificationInterpretation
    fa = Datasets(torch.arange(10).float()).weighted_dataloaders(wgts=np.arange(10), bs=2, shuffle=False, num_workers=0)
    assert list(fa.train.get_idxs()) == list(range(10))
    r = _rdls(seed=0, shuffle=False)
    assert list(r.train.get_idxs()) == list(range(400)) and r.train.resampler.epoch == 0
    v = _rdls(seed=0, val_shuffle=True).valid
    assert v.shuffle and v.resampler is None and sorted(v.get_idxs()) == list(range(100))
    dls = _dls()
    learn = _learner(dls, cbs=OverSamplingCallback(seed=0))
    assert 'OverSamplingCallback' in str(learn.summary()) and learn.over_sampling.sampled_counts.shape == (0, 0)
    _fit(learn, 1, 1e-2)
    cm = ClassificationInterpretation.from_learner(learn, ds_idx=0).confusion_matrix()
    assert cm.sum(1).tolist() == [360, 40]                     # the natural train rows, each once
    assert learn.over_sampling.sampled_counts.values.tolist() == [[200, 200]]


def test_tta_on_resampled_dataloaders():
    """fastai's `Learner.tta` builds its DataLoader with `dls[ds_idx].new(shuffled=False, drop_last=False)` (fastai's spelling,
    which its own DataLoader ignores): a resampled train twin takes it as `shuffle=False`, every row once"""
    learn = _learner(_rdls(seed=0))
    probs, targs = learn.tta(n=1)
    assert probs.shape == (N_VALID, 2) and len(targs) == N_VALID
    _, targs = learn.tta(ds_idx=0, n=1)
    assert np.bincount(targs.numpy(), minlength=2).tolist() == [360, 40]
