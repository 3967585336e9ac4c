"""How every path of the library scales with the row count: time and peak memory from 10^5 to 2*10^7 rows, in one run.

`python benchmarks/bench_scale.py` runs every case at every size (one subprocess per case and size, one thread, one at
a time) and writes `benchmarks/scale.md`; `--only NAME,...` reruns some cases (the others are kept from `--cache`),
`--markdown` rewrites the table from the cache alone.

Each child process builds its inputs (not timed), then times each step of its case with `time.process_time` (CPU
seconds of the process: on a shared machine wall time mostly measures the wait for a core), after a run under
`tracemalloc`, for its peak memory above what was allocated before it (numpy reports its buffers to it; torch's do not
show) and as a warm-up (a first run pays the page faults of memory the process has never touched), and measures `np.random.permutation(n)` and `np.bincount` of `n` int32 codes in the same process as baselines.
A step is skipped when its time at the size before, scaled linearly, exceeds `--budget` seconds or its peak `--mem` GiB
(a size, when its inputs would); the child's address space is capped at `--mem` GiB + what the imports take.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, subprocess, sys, time, tracemalloc, warnings
from datetime import datetime, timezone
from pathlib import Path
import numpy as np

HERE = Path(__file__).resolve().parent
SHARES = np.array([.5, .2, .1, .05, .05, .04, .03, .015, .01, .005])   # 10 classes, the rarest 0.5% of rows (as bench_sampling)
VOCAB = [f'c{i}' for i in range(len(SHARES))]
SIZES = (10**5, 10**6, 10**7, 2*10**7)
clock = time.process_time

# ---------------------------------------------------------------- inputs (built in the child, not timed)
def _codes(n, seed=0): return np.random.default_rng(seed).choice(len(SHARES), n, p=SHARES).astype(np.int32)

def _frame(n, seed=0):
    "A table of `n` rows: two float32 features, a small categorical, a string label with the 10 class shares"
    rng = np.random.default_rng(seed)
    import pandas as pd
    codes = _codes(n, seed)
    return pd.DataFrame({'x0': rng.standard_normal(n, dtype=np.float32), 'x1': rng.standard_normal(n, dtype=np.float32),
                         'cat': pd.Categorical.from_codes(rng.integers(0, 4, n), ['a', 'b', 'c', 'd']),
                         'y': pd.Categorical.from_codes(codes, VOCAB).astype(str)})

def _splits(n, valid_pct=.2, seed=0):
    idx = np.random.default_rng(seed).permutation(n)
    cut = int(n*valid_pct)
    return [np.sort(idx[cut:]).tolist(), np.sort(idx[:cut]).tolist()]

def _tabular(n):
    from fastai.tabular.core import TabularPandas, Categorify
    from fastai.data.block import CategoryBlock
    df = _frame(n)
    return TabularPandas(df, procs=[Categorify], cat_names=['cat'], cont_names=['x0', 'x1'], y_names='y',
                         y_block=CategoryBlock(vocab=VOCAB), splits=_splits(n))

def _preds(n, c, seed=0):
    "float32 probabilities `(n, c)` (as `get_preds` returns them) of a model that is right about 70% of the time, and the targets"
    rng = np.random.default_rng(seed)
    y = _codes(n, seed) if c==len(SHARES) else (rng.random(n)<.05).astype(np.int32)
    z = rng.standard_normal((n, c), dtype=np.float32)
    z[np.arange(n), y] += 2.
    z -= z.max(1, keepdims=True); np.exp(z, out=z); z /= z.sum(1, keepdims=True)
    return z, y

def _multi_hot(n, c=20, seed=0):
    "Multi-label rows: label j in a share 0.3 * 0.7**j of the rows (the rarest about 3e-4)"
    rng = np.random.default_rng(seed)
    return rng.random((n, c), dtype=np.float32) < (.3*.7**np.arange(c)).astype(np.float32)

# ---------------------------------------------------------------- the cases: setup(n) -> state; steps [(label, fn(state))]
CASES, MAXN, NOTES = {}, {}, {}
def case(name, maxn=2*10**7, note=''):
    def deco(f): CASES[name], MAXN[name], NOTES[name] = f, maxn, note; return f
    return deco

def _store(st, k, f): st[k] = f(); return st[k]

@case('labels_tabular', 10**7, 'TabularPandas over a DataFrame (2 float32 features, a categorical, a string label); 80% train')
def _(n):
    from imbalance_fastai.core import get_labels, _tabular_labels
    st = {'to': _tabular(n)}
    return st, [('get_labels(to)', lambda s: get_labels(s['to'])),
                ("fastai's to.train (a copy of the train rows)", lambda s: _store(s, 'trn', lambda: s['to'].train)),
                ('get_labels(to.train), given to.train', lambda s: get_labels(s['trn'])),
                ('_tabular_labels(to, to.split) (no copy; what imblearn_resample reads)', lambda s: _tabular_labels(s['to'], s['to'].split))]

@case('labels_datasets', 10**7, "Datasets(df, [[ColReader('x0')], [ColReader('y'), Categorize(vocab)]], splits)")
def _(n):
    from fastai.data.core import Datasets
    from fastai.data.transforms import ColReader, Categorize
    from imbalance_fastai.core import get_labels
    df = _frame(n)
    st = {'ds': Datasets(df, [[ColReader('x0')], [ColReader('y'), Categorize(vocab=VOCAB)]], splits=_splits(n))}
    return st, [('get_labels(dsets)', lambda s: get_labels(s['ds'])),
                ("fastai's dsets.train (a copy of the rows per pipeline)", lambda s: _store(s, 'trn', lambda: s['ds'].train)),
                ('get_labels(dsets.train), given dsets.train', lambda s: get_labels(s['trn']))]

@case('labels_datablock', 10**7, "DataBlock((TransformBlock, CategoryBlock(vocab)), get_x=ColReader('x0'), get_y=ColReader('y'), "
      "splitter=StratifiedSplitter(get_y='y')) over the DataFrame")
def _(n):
    from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
    from fastai.data.transforms import ColReader
    from imbalance_fastai.core import get_labels
    from imbalance_fastai.data import StratifiedSplitter
    from imbalance_fastai.sampling import weighted_dataloaders
    st = {'df': _frame(n), 'db': DataBlock((TransformBlock, CategoryBlock(vocab=VOCAB)), get_x=ColReader('x0'), get_y=ColReader('y'),
                                          splitter=StratifiedSplitter(get_y='y', seed=0))}
    return st, [('StratifiedSplitter(get_y=\'y\')(df) (ours, with its .tolist())', lambda s: s['db'].splitter(s['df'])),
                ("fastai's dblock.datasets(df) (our splitter included)", lambda s: _store(s, 'ds', lambda: s['db'].datasets(s['df']))),
                ("fastai's dsets.train (a copy of the rows per pipeline)", lambda s: _store(s, 'trn', lambda: s['ds'].train)),
                ('get_labels(dsets.train), given dsets.train', lambda s: get_labels(s['trn'])),
                ("fastai's dblock.dataloaders(df, bs=256) (reference: without resampling)", lambda s: s['db'].dataloaders(s['df'], bs=256)),
                ('weighted_dataloaders(dblock, df) end to end', lambda s: _store(s, 'dls', lambda: weighted_dataloaders(s['db'], s['df'], bs=256))),
                ('dls.train.get_idxs() (one epoch)', lambda s: s['dls'].train.get_idxs())]

@case('labels_datablock_fn', 10**6, "as labels_datablock, but get_y=lambda r: r['y'] (a function, not a ColReader) and a RandomSplitter")
def _(n):
    from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
    from fastai.data.transforms import ColReader, RandomSplitter
    from imbalance_fastai.core import get_labels
    db = DataBlock((TransformBlock, CategoryBlock(vocab=VOCAB)), get_x=ColReader('x0'), get_y=lambda r: r['y'], splitter=RandomSplitter(seed=0))
    st = {'ds': db.datasets(_frame(n))}
    return st, [('get_labels(dsets) (get_y run on every row)', lambda s: get_labels(s['ds'])),
                ("baseline: [dsets.tls[1][i] for i in range(n)] (fastai's label pipeline per item)", lambda s: [s['ds'].tls[1][i] for i in range(len(s['ds']))])]

@case('labels_regression', 10**6, "DataBlock((TransformBlock, RegressionBlock), get_x=ColReader('x0'), get_y=ColReader('x1')): a continuous target, binned")
def _(n):
    from fastai.data.block import DataBlock, TransformBlock, RegressionBlock
    from fastai.data.transforms import ColReader, RandomSplitter
    from imbalance_fastai.core import get_labels, encode_labels
    df = _frame(n)
    db = DataBlock((TransformBlock, RegressionBlock), get_x=ColReader('x0'), get_y=ColReader('x1'), splitter=RandomSplitter(seed=0))
    st = {'ds': db.datasets(df), 'df': df}
    return st, [('get_labels(dsets, n_bins=5) (no encoder: the label pipeline run per item)', lambda s: get_labels(s['ds'], n_bins=5)),
                ("reference: encode_labels(df['x1'], n_bins=5) (the column at once)", lambda s: encode_labels(s['df']['x1'], n_bins=5))]

@case('labels_multi', 10**7, "DataBlock((TransformBlock, MultiCategoryBlock), get_y=ColReader('tags', label_delim=' ')): 20 tags")
def _(n):
    import pandas as pd
    from fastai.data.block import DataBlock, TransformBlock, MultiCategoryBlock
    from fastai.data.transforms import ColReader, RandomSplitter
    from imbalance_fastai.core import get_labels
    hot = _multi_hot(n)
    names = np.array([f't{j}' for j in range(hot.shape[1])], dtype=object)
    tags = [' '.join(names[r]) for r in hot[:min(n, 10**6)]]   # a Python string per row, as a CSV holds them
    tags = (tags * -(-n//len(tags)))[:n]
    df = pd.DataFrame({'x0': np.zeros(n, np.float32), 'tags': tags})
    db = DataBlock((TransformBlock, MultiCategoryBlock(vocab=list(names))), get_x=ColReader('x0'), get_y=ColReader('tags', label_delim=' '),
                   splitter=RandomSplitter(seed=0))
    st = {'ds': db.datasets(df)}
    return st, [('get_labels(dsets) (split each row, multi-hot)', lambda s: get_labels(s['ds']))]

def _resampler_case(n, **kw):
    from imbalance_fastai.core import Labels
    from imbalance_fastai.resampler import Resampler
    st = {'lbls': Labels(_codes(n), VOCAB)}
    return st, [('build', lambda s: _store(s, 'r', lambda: Resampler(s['lbls'], seed=0, **kw))),
                ('build + first epoch (a fresh Resampler)', lambda s: _store(s, 'r', lambda: Resampler(s['lbls'], seed=0, **kw)).sample()),
                ('later epoch: sample()', lambda s: _store(s, 'i', s['r'].sample)),
                ('sampled_counts(idxs) (the callback after each epoch)', lambda s: s['r'].sampled_counts(s['i']))]

for nm, kw in {'oversample': {}, 'undersample': dict(strategy='undersample'), 'undersample_norepl_n': dict(strategy='undersample', n_samples=.5),
               'partial': dict(strategy='partial', alpha=.5), 'alpha_float': dict(strategy=.3),
               'dict_shares': dict(strategy=dict(zip(VOCAB, [.3, .1, .1, .1, .1, .1, .05, .05, .05, .05]))),
               'over_norepl': dict(replacement=False), 'balanced_batches': dict(balanced_batches=True)}.items():
    case(f'resampler_{nm}', note=f'Resampler(Labels(codes), {", ".join(f"{k}={v!r}" for k,v in kw.items()) or "oversample"})')(
        lambda n, kw=kw: _resampler_case(n, **kw))

@case('resampler_wgts_groups', note='Resampler(None, wgts=1/n_c per row) (10 distinct weights: rows grouped by weight)')
def _(n):
    from imbalance_fastai.resampler import Resampler
    codes = _codes(n); w = (1/np.bincount(codes))[codes]
    st = {'w': w}
    return st, [('build', lambda s: _store(s, 'r', lambda: Resampler(None, wgts=s['w'], seed=0))),
                ('epoch: sample()', lambda s: s['r'].sample())]

@case('resampler_wgts_rows', note='Resampler(None, wgts) with more than 65,536 distinct weights (drawn row by row)')
def _(n):
    from imbalance_fastai.resampler import Resampler
    codes = _codes(n); w = (1/np.bincount(codes))[codes]*(1+np.random.default_rng(1).random(n))
    st = {'w': w}
    return st, [('build', lambda s: _store(s, 'r', lambda: Resampler(None, wgts=s['w'], seed=0))),
                ('epoch: sample()', lambda s: s['r'].sample())]

@case('resampler_repeat_factor', note="Resampler(Labels(multi-hot (n, 20) bool), 'repeat_factor', thresh=0.01)")
def _(n):
    from imbalance_fastai.core import Labels
    from imbalance_fastai.resampler import Resampler
    st = {'lbls': Labels(_multi_hot(n))}
    return st, [('build', lambda s: _store(s, 'r', lambda: Resampler(s['lbls'], 'repeat_factor', thresh=.01, seed=0))),
                ('epoch: sample()', lambda s: s['r'].sample()),
                ('repeat_factors (per row)', lambda s: s['r'].repeat_factors)]

@case('resampler_multi_shares', 10**7, "Resampler(Labels(multi-hot (n, 20)), {'t15': 0.05, 't19': 0.02}) (row weights fitted to shares)")
def _(n):
    from imbalance_fastai.core import Labels
    from imbalance_fastai.resampler import Resampler
    st = {'lbls': Labels(_multi_hot(n), [f't{j}' for j in range(20)])}
    return st, [('build', lambda s: _store(s, 'r', lambda: Resampler(s['lbls'], {'t15': .05, 't19': .02}, seed=0))),
                ('epoch: sample()', lambda s: s['r'].sample())]

@case('factory_tabular', 10**7, "weighted_dataloaders(to, bs=256) on the TabularPandas of labels_tabular")
def _(n):
    from imbalance_fastai.sampling import weighted_dataloaders
    from fastai.data.load import DataLoader
    st = {'to': _tabular(n)}
    def _batching(s):
        "fastai's own per-row work after the draw: `sample()` (a generator over the indices) chunked into batches"
        from fastcore.basics import chunked
        dl = s['dls'].train; dl._DataLoader__idxs = s['i']
        for _ in chunked(DataLoader.sample(dl), dl.bs, dl.drop_last): pass
    return st, [("fastai's to.dataloaders(bs=256) (reference: the DataLoaders without resampling)", lambda s: s['to'].dataloaders(bs=256)),
                ('weighted_dataloaders(to) (labels, Resampler, DataLoaders)', lambda s: _store(s, 'dls', lambda: weighted_dataloaders(s['to'], bs=256))),
                ('weighted_dataloaders(to, wgts=per-row)', lambda s: weighted_dataloaders(s['to'], wgts=np.random.default_rng(0).random(s['to'].split), bs=256)),
                ('dls.train.get_idxs() (one epoch)', lambda s: _store(s, 'i', s['dls'].train.get_idxs)),
                ("fastai's batching of that epoch (DataLoader.sample + chunked, no data read)", _batching)]

@case('callback', 10**7, 'OverSamplingCallback() on a tabular_learner(layers=[8]) over labels_tabular, its events called by hand')
def _(n):
    from fastai.tabular.learner import tabular_learner
    from imbalance_fastai.callback import OverSamplingCallback
    dls = _tabular(n).dataloaders(bs=256)
    learn = tabular_learner(dls, layers=[8])
    cb = OverSamplingCallback(seed=0); learn.add_cb(cb)
    learn.epoch, learn.n_epoch = 0, 2
    def _epoch(s, e):
        learn.epoch = e; learn.dl = learn.dls.train
        cb.before_train(); learn.dl.get_idxs(); cb.after_train()
    return {'learn': learn}, [('before_fit + epoch 0: before_train (builds the resampler and twin) + get_idxs + after_train',
                               lambda s: (cb.before_fit(), _epoch(s, 0))),
                              ('epoch 1: before_train + get_idxs + after_train', lambda s: _epoch(s, 1)),
                              ('after_fit', lambda s: cb.after_fit())]

@case('split', note='stratified_split, StratifiedSplitter, stratified_folds and the runner\'s folds and hold-out, on int32 codes / a string Series')
def _(n):
    import pandas as pd
    from imbalance_fastai.data import stratified_split, StratifiedSplitter
    from imbalance_fastai.core import Labels
    from imbalance_fastai.scores import stratified_folds, _holdout
    from imbalance_fastai.compare import _cv_splits
    codes = _codes(n)
    st = {'codes': codes, 'lbls': Labels(codes, VOCAB), 'ser': pd.Series(np.asarray(VOCAB, dtype=object)[codes])}
    return st, [('stratified_split(Labels)', lambda s: stratified_split(s['lbls'], seed=0)),
                ('stratified_split(str Series) (encodes the labels too)', lambda s: stratified_split(s['ser'], seed=0)),
                ('StratifiedSplitter()(str Series) (the two L(list) fastai takes)', lambda s: StratifiedSplitter(seed=0)(s['ser'])),
                ('stratified_folds(Labels, 5)', lambda s: stratified_folds(s['lbls'], 5)),
                ('_cv_splits(codes, 5, [0]) (the runner\'s 5 folds)', lambda s: _cv_splits(s['codes'], 5, [0])),
                ('_holdout(codes, 0.2, 0) (plain+threshold\'s tune rows)', lambda s: _holdout(s['codes'], .2, 0))]

def _pred_steps(c):
    import sklearn.metrics as skm
    from imbalance_fastai.prior import correct_prior
    from imbalance_fastai.metrics import best_threshold, threshold_scores, best_offsets, minority_recall
    from imbalance_fastai.calibration import expected_calibration_error, em_prior
    from imbalance_fastai.report import imbalance_report
    from imbalance_fastai.scores import score_predictions
    pri = SHARES if c==10 else np.array([.95, .05])
    flat = np.full(c, 1/c)
    steps = [('baseline: np.bincount(y)', lambda s: np.bincount(s['y'])),
             ('baseline: P.argmax(1)', lambda s: s['P'].argmax(1)),
             ('baseline: sklearn balanced_accuracy_score(y, argmax)', lambda s: skm.balanced_accuracy_score(s['y'], s['d'])),
             ('correct_prior(P, uniform, prior) (PriorCorrection\'s arithmetic)', lambda s: correct_prior(s['P'], flat, pri)),
             ('imbalance_report(P, y)', lambda s: imbalance_report(s['P'], s['y'])),
             ('imbalance_report(P, y, train_prior, target_prior) (+ corrected column)', lambda s: imbalance_report(s['P'], s['y'], flat, pri)),
             ('score_predictions(P, y, minority) (the runner\'s 7 scores)', lambda s: score_predictions(s['P'], s['y'], [c-1])),
             ('expected_calibration_error(P, y)', lambda s: expected_calibration_error(s['P'], s['y'])),
             ('minority_recall(y, argmax, rarest 30%)', lambda s: minority_recall(s['y'], s['d'], list(range(c - max(1, round(.3*c)), c)))),
             ('em_prior(P, train_prior) (estimate_prior\'s EM)', lambda s: em_prior(s['P'], flat))]
    if c==2: steps[4:4] = [('threshold_scores(p, y)', lambda s: threshold_scores(s['P'][:,1], s['y'])),
                           ('best_threshold(p, y) (tune_threshold, binary)', lambda s: best_threshold(s['P'][:,1], s['y'])),
                           ('best_threshold(p, y, thresholds=200)', lambda s: best_threshold(s['P'][:,1], s['y'], thresholds=200))]
    else: steps[4:4] = [('best_offsets(P, y) (tune_threshold, multiclass)', lambda s: best_offsets(s['P'], s['y']))]
    return steps

@case('preds_binary', 10**7, 'float32 probabilities (n, 2) of a binary model (5% positives), as get_preds returns them')
def _(n):
    P, y = _preds(n, 2)
    return {'P': P, 'y': y, 'd': P.argmax(1)}, _pred_steps(2)

@case('preds_10', 10**7, 'float32 probabilities (n, 10), the 10 class shares above')
def _(n):
    P, y = _preds(n, 10)
    return {'P': P, 'y': y, 'd': P.argmax(1)}, _pred_steps(10)

@case('distributed', note="one epoch's shard for rank 1 of 4: shard_idxs, ImbalancedDatasetSampler, torch's DistributedSampler")
def _(n):
    from torch.utils.data import DistributedSampler
    from imbalance_fastai.resampler import Resampler
    from imbalance_fastai.sampling import shard_idxs, ImbalancedDatasetSampler
    codes = _codes(n)
    st = {'idxs': Resampler(codes, seed=0).sample()}
    class _Len:
        def __len__(self): return n
    return st, [('shard_idxs(epoch, 1, 4) (fastai DistributedDL layout)', lambda s: shard_idxs(s['idxs'], 1, 4)),
                ('ImbalancedDatasetSampler(labels=codes, num_replicas=4, rank=1) build', lambda s: _store(s, 'smp', lambda: ImbalancedDatasetSampler(labels=codes, num_replicas=4, rank=1, seed=0))),
                ('iter(sampler) (the shard drawn, ints yielded lazily)', lambda s: iter(s['smp'])),
                ('list(sampler) (what a DataLoader consumes: Python ints)', lambda s: list(s['smp'])),
                ("baseline: list(torch DistributedSampler(n, 4, 1, shuffle=True))", lambda s: list(DistributedSampler(_Len(), 4, 1, shuffle=True)))]

@case('compare', 10**6, "compare_strategies(df, label='y', strategies=['plain', 'plain+prior', 'plain+threshold', 'oversample'], "
      "folds=5) with training cut to one batch (fit_one_cycle replaced): what a fold costs outside training")
def _(n):
    from fastai.learner import Learner
    from fastai.callback.core import Callback, CancelFitException
    from imbalance_fastai.compare import compare_strategies
    class _OneBatch(Callback):
        def after_batch(self):
            if self.training: raise CancelFitException()
    def _fit(self, n_epoch, lr=None, **kw):
        self.fit(1, lr, cbs=[_OneBatch()])
        for dl in (self.dl, *self.dls.loaders):
            if dl is not None: dl.__dict__.pop('it', None)   # the iterator of the epoch cut short (not picklable)
    Learner.fit_one_cycle = _fit
    df = _frame(n).drop(columns='cat')
    def _run(s):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            r = compare_strategies(df, label='y', cont_names=['x0', 'x1'], cat_names=[], strategies=['plain', 'plain+prior', 'plain+threshold', 'oversample'],
                                   folds=5, epochs=1, progress=False, layers=[8], threads=1)
        s['per_run'] = r.groupby('strategy', sort=False)['seconds'].median().round(3).to_dict()
    return {}, [('compare_strategies, 5 folds x 4 strategies', _run)]

@case('compare_parts', 10**7, "the runner's steps outside training for one fold of 5, on labels_tabular's frame (2 float32 features): TabularSource, "
      "the fold's TabularPandas and DataLoaders, the copy of a trained base, inference, scores")
def _(n):
    import copy
    from imbalance_fastai.compare import TabularSource, _cv_splits, _copy
    from imbalance_fastai.scores import score_predictions, Predictions, _class_counts
    df = _frame(n).drop(columns='cat')
    st = {'df': df}
    def _src(s):
        s['src'] = TabularSource(s['df'], 'y', ['x0', 'x1'], [], layers=[8])
        codes = s['src'].labels.codes
        s['codes'], s['splits'] = codes, _cv_splits(codes, 5, [0])
        s['trn'], s['val'] = s['splits'][0][2], s['splits'][0][3]
        return s['src']
    def _learn(s):
        s['dls'] = s['src'].dataloaders(s['data'], 1024, 1024)
        s['learn'] = s['src'].learner(s['dls'])
        return s['learn']
    def _preds(s):
        with s['learn'].no_bar(), s['learn'].no_logging(): p, _ = s['learn'].get_preds(ds_idx=1)
        s['p'] = p.numpy(); s['d'] = s['p'].argmax(1); return s['p']
    def _add(s):
        pr = Predictions(s['codes'], VOCAB); pr.add('plain', 0, s['val'], s['p'], s['d']); return pr
    return st, [("TabularSource(df, 'y', cont, []) (once per comparison)", _src),
                ('_cv_splits(codes, 5, [0]) (once per repeat)', lambda s: _cv_splits(s['codes'], 5, [0])),
                ('_class_counts(codes, vocab, splits) (once)', lambda s: _class_counts(s['codes'], VOCAB, s['splits'])),
                ('reference: df.iloc[np.r_[trn, val]] (one copy of the rows)', lambda s: s['src'].df.iloc[np.r_[s['trn'], s['val']]]),
                ('source.data(trn, val) (the fold\'s TabularPandas)', lambda s: _store(s, 'data', lambda: s['src'].data(s['trn'], s['val']))),
                ('source.dataloaders + learner (bs 1024)', _learn),
                ('_copy(learn) (a base kept for plain+prior, crt...)', lambda s: _copy(s['learn'])),
                ('copy.deepcopy(learn, memo sharing learn.dls) (the dls not copied)', lambda s: copy.deepcopy(s['learn'], {id(s['learn'].dls): s['learn'].dls})),
                ('learn.get_preds(ds_idx=1) (the fold scored: inference)', _preds),
                ('score_predictions(probs, y_val, minority, dec)', lambda s: score_predictions(s['p'], s['codes'][s['val']], [9], s['d'])),
                ('Predictions.add (the fold kept)', _add)]

# ---------------------------------------------------------------- child: one case at one size
def _rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024

def _time(f, st):
    t = clock(); w = time.perf_counter(); res = f(st); return clock()-t, time.perf_counter()-w, res

def _describe(res):
    "What a step returned, to spot lists of indices and float64 where ints would do"
    if isinstance(res, np.ndarray): return f"ndarray {res.dtype} {res.shape}"
    if isinstance(res, (list, tuple)): return f"{type(res).__name__} of {len(res)} {type(res[0]).__name__ if len(res) else ''}"
    return type(res).__name__

def child(name, n, mem_gib, trace_limit, skip, prev_cpu=None, n_ratio=1):
    prev_cpu = prev_cpu or {}
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    lim = int(_rss() + mem_gib*2**30 + 6*2**30)   # torch and friends map several GiB of address space at import
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import pandas, sklearn.metrics, fastai.tabular.all, imbalance_fastai.all   # noqa: F401 (imported before the setup is timed)
    rss_imports = _rss()
    codes = _codes(n, 7)
    t_perm = min(_time(lambda s: np.random.permutation(n), None)[0] for _ in range(3 if n<=10**6 else 1))
    t_bc = min(_time(lambda s, c=codes: np.bincount(c), None)[0] for _ in range(3 if n<=10**6 else 1))
    del codes
    t = clock(); st, steps = CASES[name](n); t_setup = clock()-t
    out = dict(case=name, n=n, perm=t_perm, bincount=t_bc, setup=t_setup, rss_imports=rss_imports, rss_setup=_rss(), steps=[])
    for label, f in steps:
        rec = dict(step=label)
        if label in skip: rec['error'] = skip[label]; out['steps'].append(rec); continue
        try:
            rss0 = _rss()
            if label not in prev_cpu or prev_cpu[label]*n_ratio<trace_limit:   # traced first: also the warm-up (pages touched once)
                tracemalloc.start(); base = tracemalloc.get_traced_memory()[0]
                res = f(st); rec['peak'] = tracemalloc.get_traced_memory()[1]-base; tracemalloc.stop(); del res
            cpu, wall, res = _time(f, st)
            if cpu<.2:   # short: the median of 5
                cw = [(cpu, wall)] + [_time(f, st)[:2] for _ in range(4)]
                cpu, wall = sorted(cw)[2]
            rec.update(cpu=cpu, wall=wall, out=_describe(res), rss_grew=max(_rss()-rss0, 0), warm='peak' in rec)
            del res
        except MemoryError: rec['error'] = f"MemoryError (over {mem_gib} GiB)"
        except Exception as e: rec['error'] = f"{type(e).__name__}: {str(e)[:200]}"
        out['steps'].append(rec)
    if 'per_run' in st: out['per_run'] = st['per_run']
    out['rss_end'] = _rss()
    print('RESULT ' + json.dumps(out))

# ---------------------------------------------------------------- parent
def run_case(name, sizes, args, cache):
    prev = None
    for n in sizes:
        if n>MAXN[name]: continue
        key = f"{name}@{n}"
        if prev is not None:
            f = n/prev['n']
            mem = prev['rss_setup']-prev['rss_imports']
            if prev['setup']*f>args.budget or mem*f>args.mem*2**30:
                cache[key] = dict(case=name, n=n, skipped=f"the inputs alone, extrapolated from {prev['n']:,}: {prev['setup']*f:.0f} s, {mem*f/2**30:.1f} GiB")
                print(f"  {key}: skipped ({cache[key]['skipped']})", flush=True); continue
            skip = {r['step']: f"skipped: extrapolated from {prev['n']:,}, {r['cpu']*f:.0f} s, {r.get('peak', 0)*f/2**30:.1f} GiB"
                    for r in prev['steps'] if 'cpu' in r and (r['cpu']*f>args.budget or r.get('peak', 0)*f>args.mem*2**30)}
            skip.update({r['step']: r['error'] for r in prev['steps'] if 'error' in r})
            prev_arg = {'cpu': {r['step']: r['cpu'] for r in prev['steps'] if 'cpu' in r}, 'ratio': f}
        else: skip,prev_arg = {},{}
        t = time.perf_counter()
        r = subprocess.run([sys.executable, __file__, '--case', name, '--n', str(n), '--mem', str(args.mem), '--trace-limit', str(args.trace_limit),
                            '--skip', json.dumps(skip), '--prev', json.dumps(prev_arg)],
                           capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'})
        line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
        if line is None:
            cache[key] = dict(case=name, n=n, skipped=f"child failed (rc {r.returncode}): {r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else ''}")
            print(f"  {key}: {cache[key]['skipped']}", flush=True); break
        cache[key] = prev = json.loads(line[7:])
        prev['load'] = os.getloadavg()[0]
        print(f"  {key}: {time.perf_counter()-t:.0f} s wall, load {prev['load']:.1f}", flush=True)
        Path(args.cache).write_text(json.dumps(cache))

def _fmt_s(t): return '—' if t is None else f"{t*1e3:.1f} ms" if t<.1 else f"{t:.2f} s" if t<100 else f"{t:.0f} s"
def _per_row(b, n): return '' if b is None else f"{b/n:.1f}"
def _fmt_b(b): return '—' if b is None else f"{b/2**20:.0f} MiB" if b>=2**20 else f"{b/2**10:.0f} KiB"

def _flags(cache, names):
    "(case, step, why) for the steps that grow faster than linearly, cost over 1 µs or 64 bytes a row, or return a row-long list"
    res = []
    for nm in names:
        done = sorted((v for v in cache.values() if v['case']==nm and 'steps' in v), key=lambda v: v['n'])
        for s in dict.fromkeys(r['step'] for v in done for r in v['steps']):
            if s.startswith(('baseline', 'reference')) or "fastai's" in s: continue   # not ours
            rs = [(v['n'], r, v['perm']) for v in done for r in v['steps'] if r['step']==s and 'cpu' in r]
            why = []
            for (n0,a,p0),(n1,b,p1) in zip(rs, rs[1:]):
                g = b['cpu']/max(a['cpu'], 1e-9)
                if n1==10*n0 and n0>=10**6 and b['cpu']>.05 and g>13 and g>1.3*p1/p0:
                    why.append(f"{g:.0f}× CPU for {n1//n0}× rows ({n0:,} → {n1:,}; `permutation` {p1/p0:.0f}×)")
            if rs:
                n,r,_ = rs[-1]
                if 1e9*r['cpu']/n>1000: why.append(f"{1e9*r['cpu']/n:,.0f} ns/row at {n:,}")
                if r.get('peak', 0)/n>64: why.append(f"peak {r['peak']/n:.0f} B/row at {n:,}")
                if r['out'].startswith('list of') and int(r['out'].split()[2])>=n//10: why.append(f"returns a {r['out']}")
            if why: res.append((nm, s, '; '.join(why)))
    return res

def markdown(cache, wall):
    import torch, fastai, pandas as pd
    names = list(dict.fromkeys(v['case'] for v in cache.values()))
    names = [c for c in CASES if c in names]
    L = ["# Scale: time and memory of every path from 10^5 to 2*10^7 rows",
         "", f"Generated by `python benchmarks/bench_scale.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
         f"{os.cpu_count()} CPU cores shared with other jobs; numpy {np.__version__}, pandas {pd.__version__}, torch {torch.__version__} "
         f"(one thread), fastai {fastai.__version__}. {wall}",
         "", "Each case runs in its own process per size. **CPU** is the step's CPU seconds (`time.process_time`; the median of 5 below 0.2 s); "
         "**×perm** is that over `np.random.permutation(n)` timed in the same process (**×bc** over `np.bincount` of n int32 codes for "
         "the prediction cases); **ns/row** is CPU per row; **peak** is the step's `tracemalloc` peak above what was allocated before it "
         "(torch tensors are not traced), **B/row** that per row; *(cold)*: a single run without the traced warm-up before it (a step too slow to "
         "run twice, or measured before the warm-up was added), which includes the page faults of fresh memory (up to 4× a warm run at 10^6-10^7 rows); **growth** is the CPU ratio to the size before (10× rows: about 10-13× is linear). "
         "Inputs are built before the timing and not counted. Labels: 10 classes with shares "
         f"{SHARES.tolist()}.", ""]
    flags = _flags(cache, names)
    perm = {(v['case'], v['n']): v['perm'] for v in cache.values() if 'perm' in v}
    pg = [perm[(c, 10**7)]/perm[(c, 10**6)] for c,n in perm if n==10**6 and (c, 10**7) in perm]
    pg = f"{min(pg):.0f}-{max(pg):.0f}× in this table's processes" if pg else 'more than 10×'
    if flags: L += ["## Flagged steps", "", "Computed from the tables below: CPU growing more than 13× per 10× rows and 1.3× faster than `np.random.permutation` "
                    "measured in the same processes (from 10^6 to 10^7 rows, the larger step over 50 ms: the arrays leave the CPU caches "
                    f"there, and the permutation itself grows {pg}), more than 1 µs of CPU per row at the largest size run, a peak over 64 bytes per row, or a "
                    "Python list as long as the rows.", "", "| case | step | why |", "|---|---|---|"] + [f"| `{c}` | {s} | {w} |" for c,s,w in flags] + [""]
    for nm in names:
        runs = sorted((v for v in cache.values() if v['case']==nm), key=lambda v: v['n'])
        L += [f"### `{nm}`", "", NOTES[nm] + '.', ""]
        done = [v for v in runs if 'steps' in v]
        skipped = [f"{v['n']:,}: {v['skipped']}" for v in runs if 'skipped' in v]
        if not done: L += ['Not run: ' + '; '.join(skipped), '']; continue
        base = 'bincount' if nm.startswith('preds') else 'perm'
        L += ["| step | rows | CPU | wall | ×" + ('bc' if base=='bincount' else 'perm') + " | ns/row | growth | peak | B/row | returns |", "|---|---|---|---|---|---|---|---|---|---|"]
        steps = list(dict.fromkeys(r['step'] for v in done for r in v['steps']))
        for s in steps:
            last = None
            for v in done:
                r = next((o for o in v['steps'] if o['step']==s), None)
                if r is None: continue
                if 'error' in r: L.append(f"| {s} | {v['n']:,} | {r['error']} | | | | | | | |"); continue
                g = '' if last is None or last[1]<1e-3 else f"{r['cpu']/last[1]:.1f}× /{v['n']//last[0]}×"
                L.append(f"| {s} | {v['n']:,} | {_fmt_s(r['cpu'])}{'' if r.get('warm', r['cpu']<.2) else ' (cold)'} | {_fmt_s(r['wall'])} | {r['cpu']/max(v[base], 1e-9):.1f} | {1e9*r['cpu']/v['n']:.0f} | {g} | "
                         f"{_fmt_b(r.get('peak'))} | {_per_row(r.get('peak'), v['n'])} | {r['out']} |")
                last = (v['n'], r['cpu'])
        L += ["", "Baselines in those processes: " + '; '.join(f"{v['n']:,}: permutation {_fmt_s(v['perm'])}, bincount {_fmt_s(v['bincount'])}, "
                                                               f"inputs built in {_fmt_s(v['setup'])}, max RSS {v['rss_end']/2**30:.1f} GiB ({v['rss_imports']/2**30:.1f} after the imports)"
                                                               + (f", per run (s) {v['per_run']}" if 'per_run' in v else '') for v in done) + '.']
        if skipped: L += ["", "Skipped: " + '; '.join(skipped) + '.']
        L += [""]
    return '\n'.join(L) + '\n'

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--case'); p.add_argument('--n', type=int); p.add_argument('--skip', default='{}'); p.add_argument('--prev', default='{}')
    p.add_argument('--only', help='comma-separated case names (prefixes match)')
    p.add_argument('--sizes', default=','.join(map(str, SIZES)))
    p.add_argument('--budget', type=float, default=150., help='skip a step (or a size, for its inputs) whose linear extrapolation exceeds this many CPU seconds')
    p.add_argument('--mem', type=float, default=6., help='GiB a child may allocate beyond its imports')
    p.add_argument('--trace-limit', type=float, default=30., help='trace peak memory only for steps shorter than this (s)')
    p.add_argument('--cache', default='/tmp/bench_scale.json')
    p.add_argument('--markdown', action='store_true', help='only rewrite scale.md from the cache')
    p.add_argument('--out', default=str(HERE/'scale.md'))
    a = p.parse_args()
    if a.case:
        pc = json.loads(a.prev)
        return child(a.case, a.n, a.mem, a.trace_limit, json.loads(a.skip), pc.get('cpu'), pc.get('ratio', 1))
    cache = json.loads(Path(a.cache).read_text()) if Path(a.cache).exists() else {}
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if not a.markdown:
        only = a.only.split(',') if a.only else []
        names = [c for c in CASES if not only or any(c==o or (o not in CASES and c.startswith(o)) for o in only)]   # a case's name, or a prefix
        sizes = [int(s) for s in a.sizes.split(',')]
        for nm in names:
            for k in [k for k in cache if k.split('@')[0]==nm]: del cache[k]
            print(nm, flush=True); run_case(nm, sizes, a, cache)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    loads = [v['load'] for v in cache.values() if 'load' in v]
    wall = (f"Rewritten from the cache of earlier runs (`--markdown`); the load average (1 min) after each case's processes was "
            f"{min(loads):.1f} to {max(loads):.1f}." if loads else '') if a.markdown else (f"This run: {time.perf_counter()-t0:.0f} s wall, {c1.ru_utime+c1.ru_stime-c0.ru_utime-c0.ru_stime:.0f} s CPU "
                                   f"(cases: {a.only + '; the other cases kept from an earlier run' if a.only else 'all'}); load average (1 min) {os.getloadavg()[0]:.1f} at the end.")
    Path(a.out).write_text(markdown(cache, wall))
    print(f"wrote {a.out}")

if __name__ == '__main__': main()
