"weighted_dataloaders and the Resampler as users drive them: every source type, strategies, reproducibility, errors."
import re, warnings
import numpy as np, pandas as pd, pytest, torch
from pathlib import Path
from fastai.data.core import Datasets, DataLoaders, TfmdDL
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock, MultiCategoryBlock, RegressionBlock
from fastai.data.transforms import ColReader, IndexSplitter, Categorize
from fastai.tabular.core import TabularPandas, Normalize, Categorify, TabWeightedDL
from fastai.torch_core import set_seed

import imbalance_fastai.all  # noqa: F401  (the whole package is imported: fastai must behave as before)
from imbalance_fastai.data import StratifiedSplitter
from imbalance_fastai.core import get_labels
from imbalance_fastai.sampling import Resampler, weighted_dataloaders, sampling_summary, ImbalancedDatasetSampler

ROOT = Path(__file__).resolve().parents[1]


def _df(n=1000, rare=0.1, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < rare, 'rare', 'common')
    return pd.DataFrame({'x': rng.normal(size=n).astype(np.float32), 'cat': rng.choice(list('abc'), n), 'y': y})


def _dblock(splitter):
    return DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda r: torch.tensor([r['x']]),
                     get_y=ColReader('y'), splitter=splitter)


def _shares(dl, epochs=3):
    lbls = dl.resampler.labels
    idxs = np.concatenate([dl.get_idxs() for _ in range(epochs)])
    return np.bincount(lbls.codes[idxs], minlength=lbls.c) / len(idxs)


def test_fastai_own_weighted_dataloaders_unchanged():
    from fastai.data.block import DataBlock as DB
    assert Datasets.weighted_dataloaders.__module__ == 'fastai.callback.data'
    assert DB.weighted_dataloaders.__module__ == 'fastai.callback.data'
    assert TabularPandas._dl_type is TabWeightedDL


# fastai's own weighted and tabular DataLoaders, drawn from numpy's and Python's global seeds: run here (the package
# imported) and in a fresh process that never imports it
FASTAI_ONLY = """
import json, random, numpy as np, pandas as pd, torch
from fastai.data.core import Datasets
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
from fastai.data.transforms import ColReader, IndexSplitter, Categorize
from fastai.tabular.core import TabularPandas, Normalize
import fastai.callback.data
def draws(dl, seed=0):
    np.random.seed(seed); random.seed(seed)
    return [type(dl).__name__, [int(i) for i in dl.get_idxs()]]
df = pd.DataFrame({'x': np.arange(60.), 'y': ['a'] * 50 + ['b'] * 10})
wgts = np.where(df.y == 'b', 5., 1.)
spl = IndexSplitter(list(range(45, 55)))
db = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=ColReader('x'), get_y=ColReader('y'), splitter=spl)
dsets = Datasets(df, [[ColReader('x')], [ColReader('y'), Categorize()]], splits=spl(df))
trn = list(dsets.splits[0])
random.seed(1); to = TabularPandas(df, procs=[Normalize], cont_names=['x'], y_names='y', y_block=CategoryBlock(), splits=spl(df))
random.seed(2); tdls = to.dataloaders(bs=8)
random.seed(3); wdls = db.weighted_dataloaders(df, wgts, bs=8)
random.seed(4); ddls = dsets.weighted_dataloaders(wgts[trn], bs=8)
out = {'datablock': draws(wdls.train), 'datasets': draws(ddls.train), 'tabular': draws(tdls.train),
       'tabular_valid': draws(tdls.valid), 'batch': wdls.one_batch()[1].tolist()}
"""

class OddDL(TfmdDL):
    "A DataLoader class fastai does not know: its twin is made (and pickled) by `resampled_dl_type`"
    def create_batch(self, b): return super().create_batch(b)


from imbalance_fastai.sampling import ResampledDL   # noqa: E402
class SubTwinDL(ResampledDL):
    "A user's subclass of a twin: pickled by its own name"


@pytest.fixture(scope='module')
def fresh_process():
    "One fresh Python process: fastai's DataLoaders before the package is imported, then unpickling a resampled twin class"
    import json, pickle, subprocess, sys
    from imbalance_fastai.sampling import resampled_dl_type
    code = (FASTAI_ONLY + "\nimport sys; assert not any(m.startswith('imbalance_fastai') for m in sys.modules)"
            f"\nimport pickle; sys.path.insert(0, {str(ROOT / 'tests')!r}); twin = pickle.loads({pickle.dumps(resampled_dl_type(OddDL))!r})"
            "\nfrom test_sampling import OddDL; out['twin'] = [twin.__name__, twin.__mro__[2] is OddDL]\nprint(json.dumps(out))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_fastai_dataloaders_behave_as_without_the_package(fresh_process):
    "Importing the package leaves fastai's `weighted_dataloaders` (DataBlock, Datasets) and `TabularPandas.dataloaders` as they were"
    import json
    ns = {}
    exec(FASTAI_ONLY, ns)
    fresh = {k: v for k, v in fresh_process.items() if k != 'twin'}
    assert fresh == json.loads(json.dumps(ns['out']))
    assert [fresh[k][0] for k in ('datablock', 'datasets', 'tabular')] == ['WeightedDL', 'WeightedDL', 'TabWeightedDL']
    assert hasattr(DataBlock, 'resampled_dataloaders') and hasattr(Datasets, 'resampled_dataloaders')


def test_datablock_balanced_valid_identical_and_batches():
    df = _df()
    splitter = StratifiedSplitter(0.2, seed=0, get_y='y')
    dls = weighted_dataloaders(_dblock(splitter), df, bs=32, seed=0)
    plain = _dblock(splitter).dataloaders(df, bs=32)
    # 3 epochs x 800 draws: a 1/2 share has SE 1%; counts per epoch are exact, so the check is tight
    np.testing.assert_allclose(_shares(dls.train), [.5, .5], atol=0.01)
    assert list(dls.valid.get_idxs()) == list(plain.valid.get_idxs())
    assert torch.equal(torch.cat([b[1] for b in dls.valid]), torch.cat([b[1] for b in plain.valid]))
    assert len(dls.train) == len(plain.train)
    xb, yb = dls.one_batch()
    assert xb.shape == (32, 1) and yb.shape == (32,)
    tdl = dls.test_dl(df.iloc[:10])
    assert len(torch.cat([b[0] for b in tdl])) == 10 and getattr(tdl, 'resampler', None) is None
    assert isinstance(dls, DataLoaders) and dls.vocab == ['common', 'rare']


def test_datasets_source_with_wgts_aligned_to_train():
    df = _df()
    splits = StratifiedSplitter(0.2, seed=0, get_y='y')(df)
    dsets = Datasets(df, [[lambda r: torch.tensor([r['x']])], [ColReader('y'), Categorize()]], splits=splits)
    n_trn = len(splits[0])
    y_trn = df.y.values[list(splits[0])]
    w = np.where(y_trn == 'rare', 3., 1.)
    dls = weighted_dataloaders(dsets, wgts=w, bs=50, seed=0)
    rare = (y_trn == 'rare').sum()
    expected = 3 * rare / (3 * rare + (n_trn - rare))
    np.testing.assert_allclose(dls.train.resampler.train_prior[1], expected)
    np.testing.assert_allclose(_shares(dls.train, 10)[1], expected, atol=0.02)
    with pytest.raises(ValueError, match=f'wgts has {len(df)} values but the train split has {n_trn} items'):
        weighted_dataloaders(dsets, wgts=np.ones(len(df)))


def test_tabular_strategies_and_epoch_length():
    df = _df(2000, rare=0.05)
    splits = StratifiedSplitter(0.2, seed=0, get_y='y')(df)
    to = TabularPandas(df, procs=[Categorify, Normalize], cat_names=['cat'], cont_names=['x'], y_names='y',
                       y_block=CategoryBlock(), splits=splits)
    n_trn, n_rare = len(splits[0]), int((df.y.values[list(splits[0])] == 'rare').sum())
    over = weighted_dataloaders(to, bs=64, seed=0)
    assert over.train.n == n_trn
    np.testing.assert_allclose(_shares(over.train), [.5, .5], atol=0.01)
    under = weighted_dataloaders(to, strategy='undersample', bs=16, seed=0)
    assert under.train.n == 2 * n_rare and len(under.train) == 2 * n_rare // 16
    np.testing.assert_allclose(_shares(under.train), [.5, .5])
    sqrt = weighted_dataloaders(to, strategy='partial', alpha=0.5, bs=64, seed=0)
    nat = np.array([n_trn - n_rare, n_rare], dtype=float)
    np.testing.assert_allclose(_shares(sqrt.train), np.sqrt(nat) / np.sqrt(nat).sum(), atol=0.01)
    target = weighted_dataloaders(to, strategy={'common': .8, 'rare': .2}, n_samples=500, bs=50, seed=0)
    assert target.train.n == 500 and len(target.train) == 10
    np.testing.assert_allclose(_shares(target.train), [.8, .2])
    plain = to.dataloaders(bs=64)
    assert list(over.valid.get_idxs()) == list(plain.valid.get_idxs())
    b = over.train.one_batch()
    assert b[0].shape[0] == 64 and b[-1].shape == (64, 1)


def test_multilabel_datablock_rarest_label_weighting():
    df = pd.DataFrame({'x': np.arange(300.), 'tags': ['a'] * 240 + ['a b'] * 45 + ['c'] * 15})
    db = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['x']]),
                   get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter([]))
    dls = weighted_dataloaders(db, df, bs=30, seed=0)
    lbls = dls.train.resampler.labels
    assert lbls.multi and lbls.counts.tolist() == [285, 45, 15]
    idxs = np.concatenate([dls.train.get_idxs() for _ in range(5)])
    # groups by rarest tag get equal shares here (240/285 ~ .84, 1, 1): 'b' and 'c' rows are about a third each
    share = lbls.codes[idxs].mean(0)
    t = 240 / 285 + 2
    np.testing.assert_allclose(share, [(240 / 285 + 1) / t, 1 / t, 1 / t], atol=0.02)


def test_regression_needs_bins_and_bins_balance():
    df = _df(500)
    df['t'] = np.random.default_rng(0).exponential(size=500)
    db = DataBlock(blocks=(TransformBlock, RegressionBlock), get_x=lambda r: torch.tensor([r['x']]), get_y=ColReader('t'),
                   splitter=IndexSplitter(list(range(400, 500))))
    with pytest.raises(ValueError, match='n_bins'):
        weighted_dataloaders(db, df)
    dls = weighted_dataloaders(db, df, n_bins=4, bs=20, seed=0)
    assert dls.train.resampler.labels.counts.tolist() == [100] * 4


def test_set_seed_reproduces_epochs_and_epochs_differ():
    df = _df()
    splitter = StratifiedSplitter(0.2, seed=0, get_y='y')
    def epochs():
        set_seed(7)
        dls = weighted_dataloaders(_dblock(splitter), df, bs=32)
        return [torch.cat([b[1] for b in dls.train]) for _ in range(2)], [dls.train.get_idxs() for _ in range(2)]
    (b1, i1), (b2, i2) = epochs(), epochs()
    assert all(torch.equal(x, y) for x, y in zip(b1, b2)) and all(np.array_equal(x, y) for x, y in zip(i1, i2))
    assert not np.array_equal(i1[0], i1[1])


def test_class_missing_from_train_is_refused_with_a_fix():
    df = _df(200)
    df.loc[df.index[-5:], 'y'] = 'only_in_valid'
    with pytest.raises(ValueError, match='StratifiedSplitter'):
        weighted_dataloaders(_dblock(IndexSplitter(list(range(190, 200)))), df)
    dls = weighted_dataloaders(_dblock(StratifiedSplitter(0.05, seed=0, get_y='y')), df, bs=10, seed=0)
    assert 'only_in_valid' in dls.vocab


def test_bad_inputs_name_the_problem():
    y = np.array([0] * 90 + [1] * 10)
    cases = [(dict(wgts=np.ones(3)), 'wgts has 3 values but the train split has 100 items'),
             (dict(wgts=np.r_[np.ones(99), -1.]), '1 negative'),
             (dict(wgts=np.r_[np.ones(99), np.inf]), 'NaN or infinite'),
             (dict(wgts=np.zeros(100)), 'all zero'),
             (dict(strategy={0: .5, 5: .5}), 'not in the vocab: [5]'),
             (dict(strategy={0: -1., 1: 0.}), 'sum to a positive'),
             (dict(alpha=2., strategy='partial'), 'alpha must be in [0,1]'),
             (dict(n_samples=0), 'n_samples must be positive')]
    for kw, msg in cases:
        with pytest.raises(ValueError) as e: Resampler(y, **kw)
        assert msg in str(e.value), (kw, str(e.value))
    with pytest.raises(ValueError, match='missing'): Resampler(pd.Series(['a', None, 'b']))
    with pytest.warns(UserWarning, match='single class'): Resampler(np.zeros(5, int))
    with pytest.warns(UserWarning, match='single train row'): Resampler(np.r_[np.zeros(5, int), 1])


def test_torch_sampler_reads_targets_without_loading_items():
    class DS(torch.utils.data.Dataset):
        targets = [0] * 95 + [1] * 5
        def __len__(self): return 100
        def __getitem__(self, i): return i
    s = ImbalancedDatasetSampler(DS(), seed=0)
    idxs = np.array(list(s))
    assert len(idxs) == 100 and np.bincount(np.array(DS.targets)[idxs]).tolist() == [50, 50]
    assert not np.array_equal(idxs, np.array(list(s)))          # successive epochs differ
    sub = ImbalancedDatasetSampler(DS(), indices=list(range(90, 100)), seed=0)
    assert set(sub) <= set(range(90, 100))


def test_sampling_summary_table():
    df = _df()
    dls = weighted_dataloaders(_dblock(StratifiedSplitter(0.2, seed=0, get_y='y')), df, bs=32, seed=0)
    s = sampling_summary(dls)
    assert s['natural'].sum() == 800 and s['sampled'].tolist() == [400, 400]
    assert list(s.index) == ['common', 'rare']


def _multi_hot(n=2000, seed=0):
    "Multi-hot presence of 5 classes with very different frequencies (as masks or boxes are read): one class on most rows"
    rng = np.random.default_rng(seed)
    mh = np.zeros((n, 5), dtype=bool)
    mh[:, 0] = rng.random(n) < 0.9
    for c, p in zip(range(1, 5), (0.2, 0.05, 0.01, 0.003)): mh[:, c] = rng.random(n) < p
    return mh


def test_repeat_factors_match_the_lvis_formula():
    mh = _multi_hot()
    t = 0.05
    r = Resampler(mh, 'repeat_factor', thresh=t, seed=0)
    f = mh.mean(0)                                                      # share of rows containing each class
    rc = np.maximum(1, np.sqrt(t / f))
    expected = np.array([max([1.] + [rc[c] for c in np.flatnonzero(row)]) for row in mh])   # the formula, row by row
    np.testing.assert_allclose(r.repeat_factors, expected)
    assert (expected > 1).sum() > 50 and len(np.unique(expected)) == 4    # several rows repeated, by different factors
    np.testing.assert_allclose(r.train_prior, expected @ mh / expected.sum())


def test_repeat_factor_draw_rates_and_epoch_lengths():
    "Each row's mean count over many epochs is its factor; epochs differ in length; (seed, epoch) decides an epoch"
    mh = _multi_hot()
    r = Resampler(mh, 'repeat_factor', thresh=0.05, seed=1)
    fac, epochs = r.repeat_factors, 1000
    counts = np.zeros((epochs, len(mh)), dtype=np.int64)
    for e in range(epochs): counts[e] = np.bincount(r.sample(epoch=e), minlength=len(mh))
    fl = np.floor(fac)
    assert ((counts == fl) | (counts == fl + 1)).all()                   # floor(r) or floor(r)+1 times, nothing else
    # a row's count is floor(r) + Bernoulli(r - floor(r)): over 1000 epochs its mean has a standard error of at most
    # sqrt(.25/1000) = 0.016; 0.08 is 5 of them, for the few hundred rows whose factor has a fractional part
    np.testing.assert_allclose(counts.mean(0), fac, atol=0.08)
    frac = fac - fl
    sd = np.sqrt(frac * (1 - frac) / epochs)
    assert (np.abs(counts.mean(0) - fac) <= 5 * sd + 1e-12).all()
    lens = counts.sum(1)
    assert set(lens) == {np.floor(fac.sum()), np.ceil(fac.sum())}         # the length varies, within one of the sum of factors...
    assert abs(lens.mean() - fac.sum()) < 5 * np.sqrt(.25 / epochs)       # ...with that mean (the extra rows are stratified)
    assert [r.epoch_length(e) for e in range(5)] == lens[:5].tolist()
    assert not np.array_equal(counts[0], counts[1])                      # the extra repeats are drawn fresh each epoch
    again = Resampler(mh, 'repeat_factor', thresh=0.05, seed=1)
    assert np.array_equal(again.sample(epoch=3), r.sample(epoch=3))
    assert not np.array_equal(Resampler(mh, 'repeat_factor', thresh=0.05, seed=2).sample(epoch=3), r.sample(epoch=3))


def test_repeat_factor_through_the_factory_and_torch_sampler():
    "The DataLoader's length follows each epoch's length, before the epoch is drawn; the torch sampler's too"
    mh = _multi_hot(600)
    tags = [' '.join(f't{c}' for c in np.flatnonzero(row)) for row in mh]
    df = pd.DataFrame({'x': np.arange(600.), 'tags': tags})
    db = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['x']]),
                   get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter(list(range(500, 600))))
    dls = weighted_dataloaders(db, df, strategy='repeat_factor', thresh=0.05, bs=16, seed=0)
    r = dls.train.resampler
    seen = set()
    for e in range(4):
        n_batches, rows = len(dls.train), r.epoch_length()
        assert n_batches == rows // 16                                   # drop_last, as fastai's train DataLoader
        assert len(list(dls.train)) == n_batches
        assert len(dls.train.last_idxs) == rows
        seen.add(rows)
    assert len(seen) > 1
    with pytest.raises(ValueError, match=r'thresh must be in \(0, 1\]'):
        weighted_dataloaders(db, df, strategy='repeat_factor', thresh=2.)
    ds = torch.utils.data.TensorDataset(torch.arange(600))
    s = ImbalancedDatasetSampler(ds, labels=mh, strategy='repeat_factor', thresh=0.05, seed=0)
    for e in range(3):
        s.set_epoch(e)
        n = len(s)
        assert len(list(s)) == n == s.resampler.epoch_length(e)


def test_resampled_dataloaders_methods_are_the_factory():
    "dblock/dsets/to.resampled_dataloaders give the epochs weighted_dataloaders gives; keywords are split or refused"
    df = _df(600)
    splitter = StratifiedSplitter(0.2, seed=0, get_y='y')
    db = _dblock(splitter)
    a = db.resampled_dataloaders(df, 'partial', alpha=0.3, bs=16, seed=0)
    b = weighted_dataloaders(db, df, strategy='partial', alpha=0.3, bs=16, seed=0)
    a0 = a.train.get_idxs()
    assert np.array_equal(b.train.get_idxs(), a0) and a.train.resampler.alpha == 0.3
    dsets = db.datasets(df)
    c = dsets.resampled_dataloaders(strategy='partial', alpha=0.3, bs=16, seed=0, val_bs=7)
    assert np.array_equal(c.train.get_idxs(), a0) and c.valid.bs == 7
    to = TabularPandas(df, procs=[Categorify, Normalize], cat_names=['cat'], cont_names=['x'], y_names='y',
                       y_block=CategoryBlock(), splits=splitter(df))
    t = to.resampled_dataloaders('undersample', bs=8, seed=1)
    assert type(t.train).__name__ == 'ResampledTabDL' and np.ptp(_shares(t.train)) == 0
    assert np.array_equal(t.train.resampler.sample(epoch=0), weighted_dataloaders(to, strategy='undersample', bs=8, seed=1).train.get_idxs())
    for call in (lambda: db.resampled_dataloaders(df, ratoi=2), lambda: weighted_dataloaders(to, ratoi=2),
                 lambda: to.resampled_dataloaders(bs=8, shufle=False)):
        with pytest.raises(TypeError, match='unknown keyword'): call()
    with pytest.raises(TypeError, match=r"did you mean \['ratio'\]"): dsets.resampled_dataloaders(ratoi=2)
    with pytest.raises(ValueError, match='thresh must be in'): to.resampled_dataloaders('repeat_factor', thresh=0)


def test_per_epoch_overrides_leave_the_sampler_as_built():
    "sample(strategy=..., alpha=...) draws that epoch as asked; the sampler's strategy, alpha and length do not change"
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    r = Resampler(y, 'undersample', seed=0)
    state = (r.strategy, r.alpha, r.n_samples, r.replacement)
    nat = r.sample(epoch=0, strategy='natural')
    assert len(nat) == 1000 and np.array_equal(np.sort(nat), np.arange(1000))   # a natural epoch without replacement
    assert r.sampled_counts(r.sample(epoch=1)).tolist() == [10, 10, 10]
    part = r.sample(epoch=2, strategy=0.5)
    np.testing.assert_allclose(r.sampled_counts(part) / len(part), r.shares_for('partial', 0.5), atol=1e-3)
    assert (r.strategy, r.alpha, r.n_samples, r.replacement) == state
    assert r.epoch_length(strategy='natural') == 1000 and r.epoch_length() == 30
    np.testing.assert_allclose(r.prior_for('natural'), [.9, .09, .01])
    with pytest.raises(ValueError, match='strategy must be one of'): r.sample(strategy='smote')
    with pytest.raises(ValueError, match=r'alpha must be in \[0,1\]'): r.sample(alpha=2)
    with pytest.raises(TypeError, match='per-epoch strategy'): r.sample(strategy={0: 1.})
    w = Resampler(y, wgts=np.where(y == 2, 90., 1.), seed=0)                 # weights: 900 : 90 : 900
    np.testing.assert_allclose(w.prior_for(), [900 / 1890, 90 / 1890, 900 / 1890])
    np.testing.assert_allclose(w.prior_for('natural'), [.9, .09, .01])       # a per-epoch 'natural' overrides the weights
    np.testing.assert_allclose(w.shares_for('natural'), [.99, .01])          # groups: weight 1 (990 rows), weight 90 (10)
    nat = w.sample(strategy='natural')
    assert len(nat) == 1000 and (y[nat] == 2).sum() == 10                   # each weight group gets its natural count


def test_export_with_an_unusual_dataloader_class(tmp_path, fresh_process):
    "learn.export() of a learner on weighted_dataloaders(dl_type=...) works, and load_learner restores the twin class"
    import pickle, sys
    from torch import nn
    from fastai.learner import Learner, load_learner
    from fastai.losses import CrossEntropyLossFlat
    from imbalance_fastai.sampling import resampled_dl_type
    df = _df(300)
    dls = weighted_dataloaders(_dblock(StratifiedSplitter(0.2, seed=0, get_y='y')), df, bs=16, seed=0, dl_type=OddDL)
    twin = type(dls.train)
    assert twin.__name__ == 'ResampledOddDL' and twin is resampled_dl_type(OddDL) and issubclass(twin, OddDL)
    assert not hasattr(sys.modules['imbalance_fastai.sampling'], 'ResampledOddDL')   # kept in the table, not in globals
    learn = Learner(dls, nn.Linear(1, 2), loss_func=CrossEntropyLossFlat(), path=tmp_path)
    with learn.no_logging(): learn.fit(1)
    learn.export('odd.pkl')
    loaded = load_learner(tmp_path / 'odd.pkl')
    assert type(loaded.dls.train) is twin and loaded.dls.train.resampler is None
    assert loaded.predict(df.iloc[0])[0] in ('common', 'rare')
    assert pickle.loads(pickle.dumps(twin)) is twin
    assert fresh_process['twin'] == ['ResampledOddDL', True]   # a fresh process, which had made no twin, made it from its name


# ---- drop-in for torchsampler, fastai's weighted_dataloaders and P x K samplers (issue 13) ----

class _Folder(torch.utils.data.Dataset):
    "An ImageFolder stand-in: `targets` and `imgs` as torchvision keeps them; items must never be loaded"
    def __init__(self, y): self.targets, self.imgs = list(y), [(f'{i}.png', c) for i, c in enumerate(y)]
    def __len__(self): return len(self.targets)
    def __getitem__(self, i): raise AssertionError('an item was loaded to read its label')


def test_torchsampler_readme_usage_and_logic():
    "torchsampler's README (`DataLoader(ds, sampler=ImbalancedDatasetSampler(ds), batch_size=...)`) and what its code promises"
    y = np.repeat([0, 1, 2], [700, 250, 50])
    ds = torch.utils.data.TensorDataset(torch.arange(1000.), torch.tensor(y))
    sampler = ImbalancedDatasetSampler(ds, seed=0)
    loader = torch.utils.data.DataLoader(ds, sampler=sampler, batch_size=64)
    ys = torch.cat([b[1] for b in loader]).numpy()
    assert len(ys) == len(sampler) == sampler.num_samples == 1000
    assert np.ptp(np.bincount(ys)) <= 1                                   # weighed inversely to the class frequency
    # torchsampler's weights: 1/count of each index's class
    np.testing.assert_allclose(sampler.weights.numpy(), 1 / np.bincount(y)[y])
    assert list(sampler.indices) == list(range(1000))
    sub = ImbalancedDatasetSampler(ds, indices=list(range(500, 1000)), num_samples=300, seed=0)
    got = list(sub)
    assert len(sub) == len(got) == 300 and set(got) <= set(range(500, 1000))   # dataset indices taken from `indices`
    cb = ImbalancedDatasetSampler(ds, callback_get_label=lambda d: d.tensors[1].numpy(), seed=0)   # torchsampler's callback
    assert np.ptp(np.bincount(y[list(cb)])) <= 1
    folder = ImbalancedDatasetSampler(_Folder(y), seed=0)                  # ImageFolder / MNIST: their targets
    assert np.ptp(np.bincount(y[list(folder)])) <= 1


def test_tensor_dataset_and_subsets_read_the_last_tensor():
    y = np.repeat([0, 1], [90, 10])
    x = torch.randn(100, 3)
    for yt in (torch.tensor(y), torch.tensor(y)[:, None]):                 # targets as a vector or a column
        s = ImbalancedDatasetSampler(torch.utils.data.TensorDataset(x, torch.zeros(100), yt), seed=0)   # the last tensor
        assert np.bincount(y[list(s)]).tolist() == [50, 50]
    ds = torch.utils.data.TensorDataset(x, torch.tensor(y))
    idx = np.r_[0:40, 90:100]
    sub = torch.utils.data.Subset(ds, idx)
    got = np.array(list(ImbalancedDatasetSampler(sub, seed=0)))            # positions in the Subset
    assert got.max() < 50 and np.bincount(y[idx][got]).tolist() == [25, 25]
    subsub = torch.utils.data.Subset(sub, np.arange(30, 50))               # a Subset of a Subset: rows 30..39 and 90..99
    assert np.bincount(y[idx][30:50][list(ImbalancedDatasetSampler(subsub, seed=0))]).tolist() == [10, 10]
    with pytest.raises(ValueError, match='holds a single tensor'):
        ImbalancedDatasetSampler(torch.utils.data.TensorDataset(x))


def test_indices_follow_torchsampler():
    "labels= holds one label per index; the sampler yields dataset indices from `indices`; mismatched lengths are refused"
    y = np.repeat([0, 1], [90, 10])
    ds = torch.utils.data.TensorDataset(torch.arange(100.), torch.tensor(y))
    idx = np.r_[50:60, 95:100]                                             # 10 of class 0, 5 of class 1
    s = ImbalancedDatasetSampler(ds, labels=['a'] * 10 + ['b'] * 5, indices=idx, seed=0)
    got = np.array(list(s))
    assert set(got) <= set(idx) and np.bincount(y[got]).tolist() in ([8, 7], [7, 8])   # 15 draws, 7.5 per class: 7 or 8
    assert len(s.weights) == len(s.indices) == 15
    with pytest.raises(ValueError, match='labels has 101 values but the dataset has 100'):
        ImbalancedDatasetSampler(ds, labels=np.r_[y, 1])
    with pytest.raises(ValueError, match='not positions of the dataset'):
        ImbalancedDatasetSampler(ds, indices=[5, 100])


def test_wgts_without_labels_are_a_drop_in_for_fastai():
    "`weighted_dataloaders(dsets, wgts=w)` and `dsets.resampled_dataloaders(wgts=w)` on a Datasets without target; summary by weight group"
    items = list(range(160))
    dsets = Datasets(items, [[lambda o: torch.tensor([float(o)])]], splits=[items[:120], items[120:]])
    w = np.arange(120.)
    dls = weighted_dataloaders(dsets, wgts=w, bs=16, seed=0)
    same = dsets.resampled_dataloaders(wgts=w, bs=16, seed=0)
    assert np.array_equal(dls.train.get_idxs(), same.train.get_idxs())
    assert dls.train.one_batch()[0].shape == (16, 1) and len(dls.valid.get_idxs()) == 40
    s = sampling_summary(dls)
    assert s.index.name == 'weight' and len(s) == 120 and s['sampled'].sum() == 120
    np.testing.assert_allclose(dls.train.resampler.train_prior, w / w.sum())
    with pytest.raises(ValueError, match='no target to read'):   # without wgts labels are needed, and there are none
        weighted_dataloaders(dsets, bs=16)


def test_classes_per_batch_in_the_factory():
    "`classes_per_batch=P` with `bs=P*K`: every batch holds P distinct classes, K rows each, rare classes as often as common"
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'x': rng.normal(size=2000).astype(np.float32), 'y': rng.choice(list('abcdef'), 2000, p=[.5, .25, .12, .08, .04, .01])})
    dls = weighted_dataloaders(_dblock(StratifiedSplitter(0.2, seed=0, get_y='y')), df, classes_per_batch=3, bs=12, seed=0)
    ys = torch.stack([b[1] for b in dls.train]).numpy()                  # (batches, 12)
    assert len(ys) == len(dls.train) == 1600 // 12
    slots = ys.reshape(len(ys), 3, 4)
    assert (slots == slots[:, :, :1]).all()                               # 4 rows of one class per slot
    assert all(len(set(b)) == 3 for b in slots[:, :, 0])                  # 3 distinct classes per batch
    assert np.ptp(np.bincount(slots[:, :, 0].ravel(), minlength=6)) <= 2  # each class in as many batches
    with pytest.raises(ValueError, match='bs=10 is not a multiple of classes_per_batch=3'):
        weighted_dataloaders(_dblock(StratifiedSplitter(0.2, seed=0, get_y='y')), df, classes_per_batch=3, bs=10)


def test_undersampled_epoch_shorter_than_a_batch_is_refused():
    "20 minority rows, bs=64, drop_last=True (fastai's train DataLoader): refused with bs, the epoch length and the fixes"
    df = pd.DataFrame({'x': np.arange(520.).astype(np.float32), 'y': ['common'] * 500 + ['rare'] * 20})
    db = _dblock(StratifiedSplitter(0., seed=0, get_y='y'))
    with pytest.raises(ValueError) as e:
        weighted_dataloaders(db, df, strategy='undersample', bs=64)
    msg = str(e.value)
    assert all(s in msg for s in ('40 rows', 'bs=64', 'drop_last=True', 'smaller bs', 'drop_last=False', 'n_samples'))
    kept = weighted_dataloaders(db, df, strategy='undersample', bs=64, drop_last=False, seed=0)   # the partial batch kept
    assert len(kept.train) == 1 and len(kept.train.one_batch()[1]) == 40


def test_arguments_are_checked_when_built():
    y = np.array([0] * 90 + [1] * 10)
    df = _df(300)
    db = _dblock(StratifiedSplitter(0.2, seed=0, get_y='y'))
    bad = [(dict(n_samples='100'), TypeError, 'n_samples must be an int'), (dict(alpha='0.5', strategy='partial'), TypeError, "got '0.5'"),
           (dict(wgts='abc'), TypeError, 'wgts must be numbers'), (dict(strategy='undersample', ratio=np.nan), ValueError, 'ratio must be a finite'),
           (dict(strategy='undersample', ratio=0.5), ValueError, 'ratio must be a finite number >= 1'), (dict(strategy=1.5), ValueError, 'read as alpha'),
           (dict(n_samples=1e-5), ValueError, 'rounds to 0 rows'), (dict(n_samples=0), ValueError, 'n_samples must be positive'),
           (dict(strategy={0: -.5, 1: 1.5}), ValueError, 'finite shares >= 0')]
    for kw, exc, msg in bad:
        with pytest.raises(exc, match=msg): Resampler(y, **kw)
        with pytest.raises(exc, match=msg): weighted_dataloaders(db, df, **kw)
    wn = np.ones(300); wn[int(db.splitter(df)[1][0])] = np.nan           # a NaN weight on a row the splitter sends to validation
    with pytest.raises(ValueError, match='wgts has 1 NaN or infinite values'): weighted_dataloaders(db, df, wgts=wn)
    with pytest.raises(TypeError, match="a strategy goes in by name: strategy='undersample'"):   # fastai's 3rd positional is wgts
        weighted_dataloaders(db, df, 'undersample')
    for src in (df.iloc[:0], df):   # an empty source, and a splitter that leaves train empty
        with pytest.raises(ValueError, match='is empty .* there is nothing to resample'):
            weighted_dataloaders(_dblock(IndexSplitter(list(range(len(src))))), src)
    to0 = TabularPandas(df, procs=[Categorify], cat_names=['cat'], y_names='y', y_block=CategoryBlock(vocab=['common', 'rare']), splits=[[], list(range(300))])
    with pytest.raises(ValueError, match='the train split is empty'): weighted_dataloaders(to0)
    with pytest.raises(ValueError, match='3-d array'): Resampler(np.zeros((10, 2, 2)))
    dfn = df.assign(y=df.y.where(np.arange(300) != 7, None))
    to = TabularPandas(dfn, procs=[Categorify], cat_names=['cat'], y_names='y', y_block=CategoryBlock(), splits=[list(range(250)), list(range(250, 300))])
    with pytest.raises(ValueError, match="rows of the target 'y' have no class .* first at row 7"): weighted_dataloaders(to)
    with pytest.raises(ValueError, match=r"StratifiedSplitter\(get_y='label'\): no such column"):
        StratifiedSplitter(0.2, get_y='label')(df)


def test_multilabel_target_share_in_the_factory_and_the_torch_sampler():
    "strategy={tag: share} on multi-label rows: that share of every epoch's rows carries the tag; the other tags follow their rows"
    df = pd.DataFrame({'x': np.arange(300.), 'tags': ['a'] * 240 + ['a b'] * 45 + ['c'] * 15})
    db = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['x']]),
                   get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter([]))
    dls = weighted_dataloaders(db, df, strategy={'c': .3}, bs=30, seed=0)
    codes = dls.train.resampler.labels.codes
    E = 200
    per = np.stack([codes[dls.train.get_idxs()].sum(0) for _ in range(E)])   # rows with a, b, c in each epoch
    # two weight groups (rows with c, rows without): 90 rows with c and 210 without in every epoch, give or take one
    assert set(per[:, 2]) <= {89, 90, 91} and (per[:, 0] + per[:, 2] == 300).all()
    # b rides on the rows without c (45 of 285 of them), drawn with replacement: Binomial(210, 45/285) an epoch
    q = 45 / 285
    assert abs(per[:, 1].mean() - 210 * q) < 5 * np.sqrt(210 * q * (1 - q) / E) + 1
    assert dls.train.one_batch()[1].shape == (30, 3)
    x, y = torch.randn(300, 2), torch.as_tensor(codes, dtype=torch.float32)
    s = ImbalancedDatasetSampler(torch.utils.data.TensorDataset(x, y), strategy={2: .3}, seed=0)   # the last tensor: multi-hot
    got = np.stack([codes[list(s)].sum(0) for _ in range(20)])
    assert set(got[:, 2]) <= {89, 90, 91}
    with pytest.raises(ValueError, match=r"'a' is in \d+ of the 300 train rows: a share of 0 would weight"):
        weighted_dataloaders(db, df, strategy={'a': 0., 'c': .5})


def test_priors_of_weights_are_class_priors_only_with_classes():
    "wgts with a readable target: class priors from the weights; with no classes to read (by weight group): no priors, and PriorCorrection says what it needs"
    from torch import nn
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat, MSELossFlat
    from imbalance_fastai.prior import PriorCorrection
    df = _df(500)
    splitter = IndexSplitter(list(range(400, 500)))
    w = np.where(df.y == 'rare', 5., 1.)
    dls = weighted_dataloaders(_dblock(splitter), df, wgts=w, bs=20, seed=0)
    r = dls.train.resampler
    codes, wt = r.labels.codes, w[:400]
    assert not r.by_weight
    np.testing.assert_allclose(r.priors.sampled, np.bincount(codes, weights=wt) / wt.sum())
    learn = Learner(dls, nn.Linear(1, 2), loss_func=CrossEntropyLossFlat(), cbs=PriorCorrection())
    np.testing.assert_allclose(learn.prior_correction.sampled_prior, r.priors.sampled)
    df['t'] = np.random.default_rng(0).exponential(size=500)   # a regression target: no classes, the rows are weight groups
    db = DataBlock(blocks=(TransformBlock, RegressionBlock), get_x=lambda r: torch.tensor([r['x']]), get_y=ColReader('t'),
                   splitter=splitter)
    rdls = weighted_dataloaders(db, df, wgts=w, bs=20, seed=0)
    assert rdls.train.resampler.by_weight and rdls.train.resampler.priors is None
    with pytest.raises(ValueError, match=r"resampled by wgts alone, with no class labels.*pass train_prior="):   # refused when attached
        Learner(rdls, nn.Linear(1, 2), loss_func=MSELossFlat(), cbs=PriorCorrection(multilabel=False))
    given = Learner(rdls, nn.Linear(1, 2), loss_func=MSELossFlat(),
                    cbs=PriorCorrection(train_prior=[.5, .5], target_prior=[.9, .1], multilabel=False))
    s, t = given.prior_correction.priors(2)
    np.testing.assert_allclose(s, [.5, .5]); np.testing.assert_allclose(t, [.9, .1])


def test_float_n_samples_is_a_multiple_of_the_natural_length():
    "0.1.0's n_samples: every float (numpy floats too) is a multiple of the natural epoch length, every int a number of rows"
    y = np.repeat([0, 1], [90, 10])
    ds = torch.utils.data.TensorDataset(torch.arange(100.), torch.tensor(y))
    for n, k in ((1.0, 100), (2.0, 200), (1.5, 150), (.5, 50), (np.float32(.25), 25), (np.float64(3), 300), (1, 1), (np.int64(7), 7)):
        assert Resampler(y, n_samples=n, seed=0).n_samples == k, n
        assert Resampler(y, 'undersample', n_samples=n, seed=0).n_samples == k, n   # of the natural length, not the strategy's
        assert len(list(ImbalancedDatasetSampler(ds, num_samples=n, seed=0))) == k, n
    df = _df(300)
    dls = weighted_dataloaders(_dblock(StratifiedSplitter(0.2, seed=0, get_y='y')), df, n_samples=2.0, bs=16, seed=0, drop_last=False)
    assert len(dls.train.get_idxs()) == 2 * 240
    with pytest.warns(UserWarning, match=r'read as 10000 x the natural epoch length; pass an int for a number of rows'):
        Resampler(y, n_samples=1e4)
    with pytest.raises(ValueError, match='rounds to 0 rows'): Resampler(y, n_samples=1e-3)
    for bad, exc in ((True, TypeError), ('1.0', TypeError), (np.nan, ValueError), (np.inf, ValueError), (-1., ValueError), (0., ValueError)):
        with pytest.raises(exc, match='n_samples must be'): Resampler(y, n_samples=bad)


def test_messages_name_the_argument_the_user_passed():
    "Each refusal names the caller's own argument: batch_size and num_samples for the torch samplers, labels, the DataFrame index"
    from fastai.data.transforms import ColReader
    from imbalance_fastai.sampling import ClassBalancedBatchSampler
    y = np.repeat([0, 1, 2, 3], [40, 30, 20, 10])
    td = torch.utils.data.TensorDataset(torch.arange(100.), torch.tensor(y))
    with pytest.raises(ValueError, match=r'needs the batch size: pass batch_size=P\*K'): ImbalancedDatasetSampler(td, classes_per_batch=4)
    with pytest.raises(ValueError, match=r'batch_size=5 is not a multiple of classes_per_batch=2.*\(e\.g\. batch_size=4\)'):
        ClassBalancedBatchSampler(td, classes_per_batch=2, batch_size=5)
    with pytest.raises(TypeError, match='not n_samples: pass num_samples=10'): ImbalancedDatasetSampler(td, n_samples=10)
    with pytest.raises(TypeError, match='pass num_batches'): ClassBalancedBatchSampler(td, classes_per_batch=2, batch_size=4, n_samples=10)
    df = _df(300)
    df.index = np.arange(300) * 10                                        # index labels that are not positions
    dfn = df.assign(y=df.y.where(df.index != 50, None))                   # a None label at DataFrame index 50 (position 5)
    to = TabularPandas(dfn, procs=[Categorify], cat_names=['cat'], y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(299, 99, -1)) + list(range(5, 6)), list(range(6, 100))])   # position 5 is train row 200
    with pytest.raises(ValueError, match=r'first at row 200\).*the first is at DataFrame index 50\)'): weighted_dataloaders(to)
    with pytest.raises(ValueError, match=r"StratifiedSplitter\(get_y=ColReader\('nope'\)\): no such column 'nope'"):
        StratifiedSplitter(get_y=ColReader('nope'))(df)
    for bad in ('0.2', None, True):
        with pytest.raises(TypeError, match='valid_pct must be a number in'): StratifiedSplitter(valid_pct=bad)


def test_twins_of_user_and_fastai_classes_pickle(monkeypatch):
    "A twin instance pickles as the twin of its base class: of a class in __main__ too (no class put in the module's globals)"
    import pickle, sys
    from fastai.tabular.core import TabDataLoader
    from imbalance_fastai.sampling import resampled_dl_type, ResampledDL
    main_cls = type('MyTabDL', (TabDataLoader,), {'__module__': '__main__'})   # as `class MyTabDL(TabDataLoader): pass` in a script
    monkeypatch.setattr(sys.modules['__main__'], 'MyTabDL', main_cls, raising=False)
    df = _df(300)
    to = TabularPandas(df, procs=[Categorify], cat_names=['cat'], y_names='y', y_block=CategoryBlock(), splits=[list(range(250)), list(range(250, 300))])
    for dl_type in (main_cls, None, TabWeightedDL):
        dl = weighted_dataloaders(to, bs=32, dl_type=dl_type, seed=0).train
        back = pickle.loads(pickle.dumps(dl))
        assert type(back) is type(dl) is resampled_dl_type(dl_type or TabDataLoader) and isinstance(back, TabDataLoader)
        assert np.array_equal(back.resampler.sample(epoch=3), dl.resampler.sample(epoch=3)) and back.bs == 32
    assert isinstance(pickle.loads(pickle.dumps(weighted_dataloaders(to, bs=8, dl_type=main_cls).train)), main_cls)
    assert not hasattr(sys.modules['imbalance_fastai.sampling'], 'ResampledMyTabDL')
    dsets = Datasets(df, [[ColReader('x')], [ColReader('y'), Categorize()]], splits=StratifiedSplitter(0.2, seed=0, get_y='y')(df))
    for dl_type in (OddDL, SubTwinDL):   # an importable class's twin; a user's subclass of a twin keeps its own class
        dl = weighted_dataloaders(dsets, bs=16, seed=0, dl_type=dl_type).train
        assert type(pickle.loads(pickle.dumps(dl))) is resampled_dl_type(dl_type)
    assert issubclass(SubTwinDL, ResampledDL)


@pytest.mark.parametrize('bs,err', [(0, ValueError), (-1, ValueError), (None, TypeError), (2.0, TypeError), ('8', TypeError)])
def test_bad_batch_size_is_refused_by_name(bs, err):
    "fastai's own errors for these are a ZeroDivisionError, an empty AssertionError, 'should return >= 0' or a float index error"
    y = np.array([0] * 90 + [1] * 10)
    dsets = Datasets(list(range(100)), [[lambda i: torch.tensor([float(i)])], [lambda i: y[i], Categorize()]],
                     splits=IndexSplitter(range(0, 100, 5))(range(100)))
    with pytest.raises(err, match=rf"bs must be a positive whole number .*got {re.escape(repr(bs))}"): weighted_dataloaders(dsets, bs=bs)
    ds = torch.utils.data.TensorDataset(torch.zeros(100, 1), torch.as_tensor(y))
    if bs is not None:
        with pytest.raises(err, match=rf"batch_size must be a positive whole number .*got {re.escape(repr(bs))}"):
            ImbalancedDatasetSampler(ds, batch_size=bs, classes_per_batch=2)


def test_n_bins_on_class_labels_is_refused_not_ignored():
    "n_bins bins a continuous target: on a categorical one (Datasets, TabularPandas) it was dropped silently, on strings a bare float-conversion error"
    y = np.array([0] * 90 + [1] * 10)
    dsets = Datasets(list(range(100)), [[lambda i: torch.tensor([float(i)])], [lambda i: y[i], Categorize()]],
                     splits=IndexSplitter(range(0, 100, 5))(range(100)))
    with pytest.raises(ValueError, match=r"n_bins=3 bins a continuous target, but these labels are classes already \(coded by Categorize, vocab \[0, 1\]\)"):
        weighted_dataloaders(dsets, n_bins=3)
    df = _df(200)
    to = TabularPandas(df, procs=[Normalize], cont_names=['x'], y_names='y', y_block=CategoryBlock(), splits=IndexSplitter(range(0, 200, 5))(range(200)))
    with pytest.raises(ValueError, match=r"classes already \(the target's vocab \['common', 'rare'\]\)"): weighted_dataloaders(to, n_bins=3)
    with pytest.raises(ValueError, match=r"n_bins=2 bins a numeric \(continuous\) target, but row 0 of 4 is .a., not a number \(4 such rows\)"):
        get_labels(np.array(['a', 'b', 'a', 'b']), n_bins=2)
    assert get_labels(pd.Series([0.5, 1.5, 2.5, 3.5], dtype=object), n_bins=2).c == 2   # numbers held as objects still bin


def test_multilabel_label_only_in_validation_is_refused():
    "As for one class per row: a label that validation rows have and no train row has can be neither learned nor resampled"
    ys = ['a'] * 100
    for i in range(0, 80, 9): ys[i] = 'a b'
    ys[95], ys[97] = 'a z', 'z'                                      # 'z': two validation rows, no train row
    df = pd.DataFrame({'x': np.arange(100, dtype=np.float32), 'y': ys})
    db = DataBlock(blocks=(TransformBlock, MultiCategoryBlock(vocab=['a', 'b', 'z', 'unused'])), get_x=lambda r: torch.tensor([r['x']]),
                   get_y=ColReader('y', label_delim=' '), splitter=IndexSplitter(range(80, 100)))
    for kw in (dict(strategy='oversample'), dict(strategy='repeat_factor', thresh=.05)):
        with pytest.raises(ValueError, match=r"\{'z': 2\}: these classes are in that many validation rows but in none of the 80 train rows"):
            weighted_dataloaders(db, df, bs=8, **kw)
    df.loc[97, 'y'] = 'a'; df.loc[95, 'y'] = 'a'                    # 'z' now in no row at all, as 'unused': accepted
    assert weighted_dataloaders(db, df, bs=8, strategy='oversample').train.resampler.labels.counts.tolist() == [80, 9, 0, 0]


def test_multilabel_label_only_in_validation_outside_fastais_vocab_is_refused():
    """fastai builds a MultiCategoryBlock's vocab from the train rows, so a tag only validation rows have is not in it: the factory
    and the callback refuse it before training (fastai's validation failed with a KeyError after the first epoch)"""
    from imbalance_fastai.callback import OverSamplingCallback
    from fastai.learner import Learner
    ys = ['a'] * 100
    for i in range(0, 80, 9): ys[i] = 'a b'
    ys[95] = 'a c'
    df = pd.DataFrame({'x': np.arange(100, dtype=np.float32), 'y': ys})
    db = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['x']]),
                   get_y=ColReader('y', label_delim=' '), splitter=IndexSplitter(range(80, 100)))
    msg = r"the validation rows have labels that no train row has, .* move some rows that have them into the train split. Of the validation rows, 1 of 20 items have labels that are not in the vocab: \[.c.\]"
    with pytest.raises(ValueError, match=msg): weighted_dataloaders(db, df, bs=8)
    learn = Learner(db.dataloaders(df, bs=8), torch.nn.Linear(1, 2), loss_func=torch.nn.BCEWithLogitsLoss(), cbs=OverSamplingCallback())
    w = learn.model.weight.detach().clone()
    with pytest.raises(ValueError, match=msg): learn.fit(1)
    assert torch.equal(learn.model.weight, w)   # refused before any batch


def test_torch_samplers_check_their_own_argument_names():
    "torchsampler's names are checked under those names: num_samples, num_batches, set_epoch's epoch"
    from imbalance_fastai.sampling import ClassBalancedBatchSampler
    ds = torch.utils.data.TensorDataset(torch.randn(40, 2), torch.tensor([0] * 30 + [1] * 10))
    with pytest.raises(ValueError, match=r"^num_samples must be positive"): ImbalancedDatasetSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match=r"num_batches must be a whole number >= 1 .* got 1.5"):   # not 1.5*bs rows read as a multiple
        ClassBalancedBatchSampler(ds, classes_per_batch=2, batch_size=4, num_batches=1.5)
    s = ImbalancedDatasetSampler(ds, seed=1)
    for bad, err in (('a', TypeError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="epoch must be a whole number >= 0"): s.set_epoch(bad)
    s.set_epoch(np.int64(3)); assert s.epoch == 3 and len(list(s)) == len(s)


def test_a_missing_label_is_named_as_missing_in_either_split():
    "A None label is a missing label, not a class the train split lacks (nor one 'not in the vocab'), in train and validation rows"
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'f1': rng.standard_normal(200).astype(np.float32), 'y': rng.choice(['benign', 'malignant'], 200, p=[.8, .2])})
    trn, val = StratifiedSplitter(valid_pct=.2, seed=0, get_y='y')(df)
    db = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda r: torch.tensor([r['f1']]), get_y=ColReader('y'), splitter=IndexSplitter(val))
    for rows, msg in ((val, r"the validation split's labels are missing \(NaN/None/pd.NA\) for 1 of 40 rows"), (trn, r"^labels are missing \(NaN/None/pd.NA\) for 1 of 160 rows")):
        df2 = df.copy(); df2.loc[list(rows)[0], 'y'] = None
        with pytest.raises(ValueError, match=msg): weighted_dataloaders(db, df2, bs=16)
    df2 = df.copy(); df2.loc[list(val)[0], 'y'] = None                # a TabularPandas codes a missing label and an unseen class alike
    to = TabularPandas(df2, procs=[Normalize], cont_names=['f1'], y_names='y', y_block=CategoryBlock(), splits=[list(trn), list(val)])
    with pytest.raises(ValueError, match=r"train split lacks .*, or rows with a missing label \(None/NaN"): weighted_dataloaders(to, bs=16)


def test_shuffle_false_warns_that_the_train_split_is_not_resampled():
    "shuffle=False hands the train split over in its natural order, as fastai's WeightedDL does (a drop-in): said, not silent"
    df = pd.DataFrame({'f': np.arange(100.), 'y': (['a'] * 9 + ['b']) * 10})
    to = TabularPandas(df, procs=[], cont_names=['f'], y_names='y', y_block=CategoryBlock(), splits=[list(range(80)), list(range(80, 100))])
    with pytest.warns(UserWarning, match=r"^shuffle=False: the train DataLoader draws every row once, in order, so nothing is resampled"):
        assert list(weighted_dataloaders(to, bs=8, shuffle=False, seed=0).train.get_idxs()) == list(range(80))
    with pytest.warns(UserWarning, match=r"^dl_kwargs\[0\]\['shuffle'\]=False: the train DataLoader"): weighted_dataloaders(to, bs=8, dl_kwargs=[{'shuffle': False}, {}])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert weighted_dataloaders(to, bs=8, shuffle=True, seed=0).train.shuffle
        assert not weighted_dataloaders(to, bs=8, dl_kwargs=[{}, {'shuffle': False}], seed=0).valid.shuffle
