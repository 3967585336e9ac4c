"The faster paths of the scale review (benchmarks/scale.md) give exactly what the paths they replace gave, on random inputs"
import numpy as np, pytest, torch
from imbalance_fastai.core import Labels
from imbalance_fastai.resampler import Resampler
from imbalance_fastai.labels import _weight_groups, _MAX_GROUPS
from imbalance_fastai.sampling import shard_idxs
torch.set_num_threads(1)

def _old_groups(w):
    "The grouping before: `np.unique` sorting every weight (None past `_MAX_GROUPS` values)"
    vals,grp = np.unique(w, return_inverse=True)
    return None if len(vals)>_MAX_GROUPS else (vals, grp)

@pytest.mark.parametrize('seed', range(6))
def test_weight_groups_equal_unique(seed):
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.random(int(rng.integers(1, 50)))*10.**rng.integers(-3, 4), [0., -0., 1e-300, 1e300]])
    w = rng.choice(pool, int(rng.integers(1, 5000)))   # many ties, zeros of both signs, extremes
    new,old = _weight_groups(w),_old_groups(w)
    np.testing.assert_array_equal(new[0], old[0]); np.testing.assert_array_equal(new[1], old[1])
    assert new[1].dtype==old[1].dtype and new[0].dtype==old[0].dtype

def test_weight_groups_many_values():
    rng = np.random.default_rng(0)
    w = rng.choice(rng.random(_MAX_GROUPS), 3*_MAX_GROUPS)   # at most _MAX_GROUPS values: groups
    new,old = _weight_groups(w),_old_groups(w)
    np.testing.assert_array_equal(new[0], old[0]); np.testing.assert_array_equal(new[1], old[1])
    assert _weight_groups(rng.random(3*_MAX_GROUPS)) is None and _old_groups(rng.random(3*_MAX_GROUPS)) is None   # caught by the prefix
    late = np.concatenate([np.ones(2*_MAX_GROUPS), rng.random(_MAX_GROUPS+5)])   # the prefix has one value, the whole more than the limit
    assert _weight_groups(late) is None and _old_groups(late) is None
    exact = np.repeat(np.arange(_MAX_GROUPS, dtype=float), 2)[::-1].copy()   # exactly the limit: still groups
    np.testing.assert_array_equal(_weight_groups(exact)[1], _old_groups(exact)[1])

@pytest.mark.parametrize('bad', [np.nan, np.inf, -1.])
def test_weight_groups_refuse_as_before(bad):
    w = np.ones(10); w[3] = bad
    with pytest.raises(ValueError, match='finite|negative'): Resampler(None, wgts=w)

@pytest.mark.parametrize('kw', [dict(), dict(strategy='undersample'), dict(strategy='partial'), dict(balanced_batches=True)])
def test_group_order_is_stable_argsort(kw):
    "The order sorted by uint16 codes is the stable argsort of the codes, so the epochs are unchanged"
    rng = np.random.default_rng(1)
    for c in (2, 7, 300):
        codes = rng.integers(0, c, 20_000); codes[:c] = np.arange(c)
        r = Resampler(Labels(codes, [str(i) for i in range(c)]), seed=3, **kw)
        np.testing.assert_array_equal(r.order, np.argsort(codes, kind='stable'))
    w = rng.choice([.5, 2., 3., 0.], 20_000); r = Resampler(None, wgts=w, seed=0)
    np.testing.assert_array_equal(r.order, np.argsort(np.unique(w, return_inverse=True)[1], kind='stable'))
    np.testing.assert_array_equal(r.labels.codes, np.unique(w, return_inverse=True)[1])
    assert list(r.labels.vocab)==[float(v) for v in np.unique(w)]

def _old_shard(idxs, rank, world_size):
    "`shard_idxs` before: a slice of the whole padded epoch"
    if len(idxs)==0: return idxs
    n_padded = -(-len(idxs)//world_size)*world_size
    return np.resize(idxs, n_padded)[rank*n_padded//world_size:(rank+1)*n_padded//world_size]

def test_shard_idxs_equal_padded_copy():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n,ws = int(rng.integers(0, 40)),int(rng.integers(1, 9))
        idxs = rng.integers(0, 1000, n).astype(rng.choice([np.int32, np.int64]))
        for rank in range(ws):
            new,old = shard_idxs(idxs, rank, ws),_old_shard(idxs, rank, ws)
            np.testing.assert_array_equal(new, old); assert new.dtype==old.dtype
            if n: assert not np.shares_memory(new, idxs)   # its own copy, as before: the epoch can be freed
    np.testing.assert_array_equal(shard_idxs(list(range(5)), 3, 4), _old_shard(list(range(5)), 3, 4))

def _dsets(n, seed, vocab=None, splits=None):
    import pandas as pd
    from fastai.data.core import Datasets
    from fastai.data.transforms import ColReader, Categorize
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({'x': rng.random(n).astype(np.float32), 'y': rng.choice(list('abcde'), n, p=[.6, .2, .1, .07, .03])})
    if splits is None: idx = rng.permutation(n); splits = (sorted(idx[:int(.8*n)].tolist()) if seed%2 else idx[:int(.8*n)].tolist()), idx[int(.8*n):].tolist()
    return Datasets(df, [[ColReader('x')], [ColReader('y'), Categorize(vocab=vocab)]], splits=splits)

@pytest.mark.parametrize('seed', range(4))
def test_split_labels_equal_subsets(seed):
    "A Datasets' split labels read from the whole target equal those of fastai's subset copies, and so do the epochs"
    from imbalance_fastai.core import get_labels
    from imbalance_fastai.sampling import _split_labels
    ds = _dsets(3000, seed)
    trn,val = _split_labels(ds)
    for got,i in ((trn, 0), (val, 1)):
        want = get_labels(ds.subset(i), strict=False)
        np.testing.assert_array_equal(got.codes, want.codes); assert got.codes.dtype==want.codes.dtype and list(got.vocab)==list(want.vocab)
    r = ds.resampled_dataloaders(bs=64, seed=seed, num_workers=0).train.resampler
    np.testing.assert_array_equal(r.labels.codes, get_labels(ds.subset(0)).codes)
    np.testing.assert_array_equal(r.sample(epoch=1), Resampler(get_labels(ds.subset(0)), seed=seed).sample(epoch=1))

def test_split_labels_errors_as_before():
    "Validation classes the train split lacks, train labels outside the vocab, no split: as the subset reads gave"
    from imbalance_fastai.sampling import _split_labels
    ds = _dsets(200, 0, splits=(list(range(150)), list(range(150, 200))))
    ds.tls[1].items.loc[160:163, 'y'] = 'zz'   # read after setup: 4 validation labels outside the vocab
    with pytest.raises(ValueError, match='the validation split has 4 rows of classes'): ds.resampled_dataloaders(bs=16)
    ds = _dsets(200, 1, vocab=list('abcd'))   # 'e' rows in train: the subset's strict read raises, so the fast path steps aside
    assert _split_labels(ds) is None
    with pytest.raises(ValueError, match='labels are not in the vocab'): ds.resampled_dataloaders(bs=16)
    ds = _dsets(100, 0, splits=None); ds = type(ds)(ds.items, [[lambda o: o.x], [lambda o: o.y, __import__('fastai').data.transforms.Categorize()]])
    trn,val = _split_labels(ds)   # no splits: slice(None) and []
    assert len(trn)==100 and len(val)==0
