"""Peers' own sampler tests, ported to our drop-in names.

Each section names the peer file whose test cases (not code) it ports, and says where we deliberately differ:
- torchsampler (ufoym/imbalanced-dataset-sampler: README usage, `torchsampler/imbalanced.py`; it ships no tests)
  -> `ImbalancedDatasetSampler`;
- catalyst (`tests/catalyst/data/test_sampler.py`: `BalanceClassSampler`, `BatchBalanceClassSampler`,
  `BalanceBatchSampler`, `DynamicBalanceClassSampler`) -> the `Resampler` strategies and `ClassBalancedBatchSampler`;
- detectron2 (`tests/data/test_sampler.py`, `RepeatFactorTrainingSampler`) -> `strategy='repeat_factor'`;
- PyTorch (`test/test_dataloader.py`: `RandomSampler`, `WeightedRandomSampler`, `DistributedSampler`; and
  `DistributedSampler`'s padding test of the distributed suite) -> `ImbalancedDatasetSampler`, `ShardedDL`.
Statistical checks state their tolerance where they make it; every seed is fixed.
"""
import math
from collections import Counter
import numpy as np, pytest, torch
from sklearn.datasets import load_digits

from imbalance_fastai.sampling import Resampler, ImbalancedDatasetSampler, ClassBalancedBatchSampler, ResampledDL
from imbalance_fastai.distributed import ShardedDL

torch.set_num_threads(1)


def _long_tail(counts=(500, 200, 80, 20), seed=0):
    "Labels with the given class counts, in a random order"
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))


def _ds(n): return torch.utils.data.TensorDataset(torch.arange(n))


# --- torchsampler ------------------------------------------------------------------------------------------------------
def test_torchsampler_each_row_drawn_inversely_to_its_class_count():
    "torchsampler draws row i with probability (1/n_c) / sum: over many epochs each row's rate is that, and every epoch has len(dataset) rows"
    y = _long_tail()
    ds = torch.utils.data.TensorDataset(torch.arange(len(y)), torch.tensor(y))
    s = ImbalancedDatasetSampler(ds, seed=0)
    epochs = 400
    counts = np.zeros(len(y))
    for _ in range(epochs):
        got = np.fromiter(s, dtype=np.int64)
        assert len(got) == len(s) == s.num_samples == len(y)
        counts += np.bincount(got, minlength=len(y))
    p = (1 / np.bincount(y)[y]) / (1 / np.bincount(y)[y]).sum()
    expected = epochs * len(y) * p                        # 400*800/(4*n_c): 160 for the largest class, 4000 for the rarest
    # a row's count is binomial (within its class's fixed total): 5 standard deviations, sqrt(expected) at most
    assert (np.abs(counts - expected) <= 5 * np.sqrt(expected)).all()
    assert np.allclose(np.bincount(y, weights=counts) / counts.sum(), 1 / 4)   # each class exactly a quarter


def test_torchsampler_labels_argument_strings_and_indices():
    "labels= given (strings too, as pandas value_counts takes them); with indices the sampler yields dataset indices"
    names = np.array(['normal'] * 20 + ['disease'] * 5)                    # the README's 20 normal vs 5 disease images
    ds = _ds(25)
    s = ImbalancedDatasetSampler(ds, labels=list(names), seed=0)
    got = np.fromiter(s, dtype=np.int64)
    assert len(got) == 25 and sorted(Counter(names[got]).values()) == [12, 13]  # 12.5 each: 12 or 13
    idx = np.arange(5, 25)                                                   # 15 normal, 5 disease
    sub = ImbalancedDatasetSampler(ds, labels=list(names[idx]), indices=list(idx), num_samples=40, seed=0)
    got = list(sub)
    assert len(sub) == len(got) == 40 and set(got) <= set(idx.tolist())
    assert all(type(i) is int for i in got)                                   # plain ints, as DataLoader's fetchers want
    assert Counter(names[got]) == {'normal': 20, 'disease': 20}


def test_torchsampler_callback_and_get_labels_method():
    "callback_get_label(dataset) returns all labels; a Dataset with get_labels() is read by it"
    y = _long_tail((30, 10))
    class DS(torch.utils.data.Dataset):
        def __len__(self): return len(y)
        def __getitem__(self, i): raise AssertionError("labels are read without loading items")
        def get_labels(self): return y
    for s in (ImbalancedDatasetSampler(DS(), seed=0), ImbalancedDatasetSampler(DS(), callback_get_label=lambda d: list(d.get_labels()), seed=0)):
        assert np.bincount(y[list(s)]).tolist() == [20, 20]
    old = ImbalancedDatasetSampler(DS(), callback_get_label=lambda d, idx: d.get_labels()[idx], seed=0)   # its docstring's (dataset, index)
    assert np.bincount(y[list(old)]).tolist() == [20, 20]


def test_torchsampler_num_samples_larger_than_the_dataset():
    "num_samples may exceed the dataset: rows are drawn with replacement, the class shares stay balanced"
    y = _long_tail((90, 10))
    s = ImbalancedDatasetSampler(_ds(100), labels=y, num_samples=1000, seed=0)
    got = np.array(list(s))
    assert len(s) == len(got) == 1000 and np.bincount(y[got]).tolist() == [500, 500]
    torch_loader = torch.utils.data.DataLoader(_ds(100), sampler=s, batch_size=64)
    assert len(torch_loader) == math.ceil(1000 / 64) == len(list(torch_loader))


# --- catalyst: BalanceClassSampler, BatchBalanceClassSampler, BalanceBatchSampler, DynamicBalanceClassSampler -----------
@pytest.fixture(scope='module')
def digits_y():
    "A long-tailed subset of scikit-learn's digits (real labels): class c keeps 180 // (c+1) rows, at least 12"
    y = load_digits().target
    keep = np.concatenate([np.flatnonzero(y == c)[:max(180 // (c + 1), 12)] for c in range(10)])
    return y[np.sort(keep)]


def test_catalyst_balance_class_sampler_modes(digits_y):
    "catalyst's modes: 'downsampling' -> 'undersample' (min count each), 'upsampling' -> C*max rows, an int m -> C*m rows"
    y, C = digits_y, 10
    cnt = np.bincount(y)
    ds = _ds(len(y))
    for mode, s in (('downsampling', ImbalancedDatasetSampler(ds, labels=y, strategy='undersample', seed=0)),
                    ('upsampling', ImbalancedDatasetSampler(ds, labels=y, num_samples=C * cnt.max(), replacement=False, seed=0)),
                    (10, ImbalancedDatasetSampler(ds, labels=y, num_samples=C * 10, replacement=False, seed=0)),
                    (50, ImbalancedDatasetSampler(ds, labels=y, num_samples=C * 50, replacement=False, seed=0))):
        m = {'downsampling': cnt.min(), 'upsampling': cnt.max()}.get(mode, mode)
        for epoch in range(3):
            got = np.array(list(s))
            assert len(got) == len(s) == C * m, mode
            assert np.bincount(y[got], minlength=C).tolist() == [m] * C, mode   # each class exactly m instances
            for c in range(C):                                               # catalyst draws with replacement only when needed
                rows = got[y[got] == c]
                if cnt[c] >= m: assert len(np.unique(rows)) == m, (mode, c)
                else: assert np.ptp(np.bincount(rows, minlength=len(y))[y == c]) <= 1, (mode, c)   # every row m//n or m//n+1 times


@pytest.mark.parametrize('P', [2, 3, 5, 10])
@pytest.mark.parametrize('K', [2, 5, 10, 20])
def test_catalyst_batch_balance_class_sampler(digits_y, P, K):
    "Every batch holds exactly P classes with K instances each; the default epoch is len(labels) // (P*K) batches"
    y = digits_y
    s = ClassBalancedBatchSampler(labels=y, classes_per_batch=P, batch_size=P * K, seed=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(y)), batch_sampler=s)
    batches = [b[0].numpy() for b in loader]
    assert len(batches) == len(s) == len(y) // (P * K)
    for b in batches:
        stats = Counter(b.tolist())
        assert len(stats) == P and set(stats.values()) == {K}


def test_catalyst_balance_batch_sampler_small_classes():
    "catalyst's cases: a class with fewer than K rows is taken whole, then repeated; batches hold >= 4 distinct rows"
    cases = [([0, 1, 2, 3, 0, 1, 2, 3], 2, 2), ([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2], 2, 3),
             ([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], 3, 2), ([0, 1, 2, 3, 0, 1, 2, 3], 3, 2),
             ([0, 1, 2, 2, 1, 0, 1, 0, 2, 0, 1, 2], 3, 5), ([0, 1, 2, 2, 1, 0, 1, 0, 2, 0, 1, 2], 2, 3),
             ([0, 1, 2, 2, 1, 0, 1, 0, 2, 0, 1, 2], 3, 2)]
    rng = np.random.default_rng(0)
    for _ in range(40):                                                      # catalyst's random cases: 2..12 classes of 2..12 rows
        p, k = rng.integers(2, 13, 2)
        cases.append((rng.permutation(np.repeat(np.arange(p), rng.integers(2, 13, p))).tolist(), int(p), int(k)))
    for labels, p, k in cases:
        y = np.array(labels)
        s = ClassBalancedBatchSampler(labels=y, classes_per_batch=p, batch_size=p * k, num_batches=8, seed=0)
        seen = set()
        for b in s:
            b = np.array(b)
            assert len(b) == p * k and len(set(y[b])) == p and set(Counter(y[b]).values()) == {k}
            for c in set(y[b]):
                rows, n_c = b[y[b] == c], (y == c).sum()
                assert len(set(rows)) == min(k, n_c), (labels, p, k)              # distinct rows: all of the class when it has fewer than K
            assert len(set(b)) >= 4 and b.max() < len(y)
            seen |= set(y[b])
        assert seen == set(labels)                                            # 8 batches: every class comes up


def test_catalyst_dynamic_balance_schedule(digits_y):
    "DynamicBalanceClassSampler: class sizes relative to the rarest are D_c ** (lambda ** epoch); the per-epoch alpha 1 - lambda**e gives those shares"
    y, lam = digits_y, 0.7
    cnt = np.bincount(y)
    r = Resampler(y, 'partial', seed=0)
    prev = cnt / cnt.min()
    for e in range(8):
        alpha = 1 - lam ** e
        got = np.bincount(y[r.sample(epoch=e, strategy='partial', alpha=alpha)], minlength=10)
        d = got / got[cnt.argmin()]
        np.testing.assert_allclose(r.prior_for('partial', alpha) / r.prior_for('partial', alpha)[cnt.argmin()],
                                   (cnt / cnt.min()) ** (lam ** e))
        # each class count is within one of its expectation (at least 12 rows for the rarest): ratios within 1/12 + rounding
        assert (np.abs(d - (cnt / cnt.min()) ** (lam ** e)) <= 0.2).all()
        assert (d <= prev + 0.2).all()                                       # the distribution only moves towards balance
        prev = d


# --- detectron2: RepeatFactorTrainingSampler ---------------------------------------------------------------------------
def test_detectron2_repeat_factors_from_category_frequency():
    "detectron2's case: images {0,1}, {0}, {} at thresh 0.5: f = (2/3, 1/3), factors (sqrt(0.5/(1/3)), 1, 1)"
    mh = np.array([[1, 1], [1, 0], [0, 0]], dtype=bool)
    r = Resampler(mh, 'repeat_factor', thresh=0.5, seed=0)
    f = mh.mean(0)
    expected = np.array([max(1, math.sqrt(0.5 / f[1])), max(1, math.sqrt(0.5 / f[0])), 1.])
    np.testing.assert_allclose(r.repeat_factors, expected)
    assert expected[0] > 1 and expected[1] == 1                               # class 0 is above the threshold: not repeated


def test_detectron2_thresh_semantics():
    "r(c) = max(1, sqrt(t / f(c))): a class at a quarter of t is repeated twice, one at t or above once; an image takes its rarest class's"
    n, t = 4000, 0.04
    mh = np.zeros((n, 3), dtype=bool)
    mh[:, 0] = True                                           # on every image: f = 1
    mh[:int(t * n), 1] = True                                 # f = t exactly
    mh[-int(t / 4 * n):, 2] = True                            # f = t/4
    r = Resampler(mh, 'repeat_factor', thresh=t, seed=0)
    rf = r.repeat_factors
    np.testing.assert_allclose(rf[:int(t * n)], 1.)
    np.testing.assert_allclose(rf[-int(t / 4 * n):], 2.)
    assert len(r.sample(epoch=0)) == n + int(t / 4 * n)      # whole factors: every epoch the same length


def test_detectron2_factors_all_one_are_a_training_sampler():
    "Repeat factors all 1 (thresh below every class's frequency) are TrainingSampler: each epoch a permutation of all images"
    mh = np.column_stack([np.arange(200) % k == 0 for k in (1, 2, 5)])
    with pytest.warns(UserWarning, match='no row is repeated'): r = Resampler(mh, 'repeat_factor', thresh=0.01, seed=0)
    np.testing.assert_allclose(r.repeat_factors, 1.)
    epochs = [r.sample(epoch=e) for e in range(3)]
    assert all(np.array_equal(np.sort(e), np.arange(200)) for e in epochs) and not np.array_equal(epochs[0], epochs[1])


def test_detectron2_stochastic_rounding_rates_and_lengths():
    "Each image appears floor(r) or floor(r)+1 times, floor(r)+1 with probability r - floor(r); epoch lengths vary around sum(r)"
    rng = np.random.default_rng(0)
    mh = np.column_stack([rng.random(600) < p for p in (0.6, 0.1, 0.03, 0.01)])
    r = Resampler(mh, 'repeat_factor', thresh=0.1, seed=3)
    rf, epochs = r.repeat_factors, 600
    counts = np.stack([np.bincount(r.sample(epoch=e), minlength=len(mh)) for e in range(epochs)])
    assert ((counts == np.floor(rf)) | (counts == np.floor(rf) + 1)).all()
    sd = np.sqrt((rf % 1) * (1 - rf % 1) / epochs)            # standard error of a Bernoulli mean
    assert (np.abs(counts.mean(0) - rf) <= 5 * sd + 1e-12).all()
    lens = counts.sum(1)
    assert np.ptp(lens) >= 1 and abs(lens.mean() - rf.sum()) < 1


def test_detectron2_seed_given_or_shared_and_global_reseed_ineffective():
    "As detectron2's samplers (and DistributedSampler): epochs follow (seed, epoch); reseeding the global RNG after building changes nothing"
    mh = np.column_stack([np.arange(300) % k == 0 for k in (1, 7, 40)])
    torch.manual_seed(42)
    a = ImbalancedDatasetSampler(_ds(300), labels=mh, strategy='repeat_factor', thresh=0.2)
    first = [list(a) for _ in range(3)]
    torch.manual_seed(42)
    b = ImbalancedDatasetSampler(_ds(300), labels=mh, strategy='repeat_factor', thresh=0.2)
    torch.manual_seed(999)                                    # should be ineffective
    assert [list(b) for _ in range(3)] == first
    assert first[0] != first[1]                               # successive epochs differ
    c = ImbalancedDatasetSampler(_ds(300), labels=mh, strategy='repeat_factor', thresh=0.2, seed=10)
    d = ImbalancedDatasetSampler(_ds(300), labels=mh, strategy='repeat_factor', thresh=0.2, seed=10)
    assert list(c) == list(d)


# --- PyTorch: RandomSampler / WeightedRandomSampler ---------------------------------------------------------------------
def test_pytorch_random_sampler_without_replacement_counts():
    "RandomSampler(replacement=False, num_samples=n): 2N rows -> each twice, N+1 -> one repeat, N-1 -> none; with replacement N+1 repeats"
    N = 100
    for n, repeated in ((N, 0), (2 * N, N), (N + 1, 1), (N - 1, 0)):
        s = ImbalancedDatasetSampler(_ds(N), labels=np.zeros(N, int), strategy='natural', replacement=False, num_samples=n, seed=0)
        counts = Counter(s)
        assert sum(counts.values()) == len(s) == n
        assert sum(v > 1 for v in counts.values()) == repeated and max(counts.values()) <= math.ceil(n / N)
        assert min(counts) >= 0 and max(counts) < N
    s = ImbalancedDatasetSampler(_ds(N), labels=np.zeros(N, int), strategy='natural', num_samples=N + 1, seed=0)
    assert sum(v > 1 for v in Counter(s).values()) > 0      # with replacement (the default) rows repeat


def test_pytorch_random_sampler_len_through_dataloader():
    "len(sampler) = num_samples; the DataLoader has ceil(num_samples / bs) batches, num_samples // bs with drop_last"
    y = _long_tail((95, 5))
    for replacement in (True, False):
        s = ImbalancedDatasetSampler(_ds(100), labels=y, num_samples=105, replacement=replacement, seed=0)
        assert len(s) == 105 == sum(1 for _ in s)
        for bs in (1, 6):
            assert len(torch.utils.data.DataLoader(_ds(100), sampler=s, batch_size=bs)) == math.ceil(105 / bs)
            assert len(torch.utils.data.DataLoader(_ds(100), sampler=s, batch_size=bs, drop_last=True)) == 105 // bs


def test_pytorch_weighted_random_sampler_rates():
    "WeightedRandomSampler(weights, num_samples): row i drawn with probability w_i / sum(w); ours by wgts="
    w = np.array([0.1, 0.9, 0.4, 0.7, 3.0, 0.6])
    s = ImbalancedDatasetSampler(_ds(6), wgts=w, num_samples=5, seed=0)
    epochs = 4000
    counts = np.zeros(6)
    for _ in range(epochs):
        got = list(s)
        assert len(got) == len(s) == 5 and min(got) >= 0 and max(got) < 6
        counts += np.bincount(got, minlength=6)
    expected = epochs * 5 * w / w.sum()
    assert (np.abs(counts - expected) <= 5 * np.sqrt(expected)).all()    # 5 binomial standard deviations at most
    np.testing.assert_allclose(s.weights.numpy(), w)                      # the weights given, as WeightedRandomSampler keeps them
    t = ImbalancedDatasetSampler(_ds(6), wgts=torch.tensor(w, dtype=torch.double), num_samples=5, seed=0)   # weights as a tensor
    assert [list(t) for _ in range(3)] == [list(u) for u in [ImbalancedDatasetSampler(_ds(6), wgts=w, num_samples=5, seed=0)] for _ in range(3)]
    with pytest.raises(ValueError, match='wgts has 5 values but the dataset has 6'): ImbalancedDatasetSampler(_ds(6), wgts=w[:5])


def test_pytorch_weighted_random_sampler_without_replacement():
    "replacement=False: no index repeats when no row's share of the epoch needs it; a row never comes up more than its expected count rounded up"
    rng = np.random.default_rng(0)
    w = rng.random(200) + 0.5                                  # expected counts 100 * w / sum(w) < 1
    s = ImbalancedDatasetSampler(_ds(200), wgts=w, num_samples=100, replacement=False, seed=0)
    for _ in range(20):
        got = list(s)
        assert len(got) == 100 and len(set(got)) == 100
    heavy = np.array([0.1, 0.9, 0.4, 0.7, 3.0, 0.6])            # torch's weights: row 4 is 2.6 of 5 draws
    s = ImbalancedDatasetSampler(_ds(6), wgts=heavy, num_samples=5, replacement=False, seed=0)
    e = 5 * heavy / heavy.sum()
    for _ in range(50):
        c = np.bincount(list(s), minlength=6)
        assert ((c == np.floor(e)) | (c == np.ceil(e))).all()  # we keep the weights' shares (torch would cap row 4 at once)


def test_pytorch_sampler_reproducibility():
    "Two samplers built alike (same seed) give the same epochs; with seed=None torch's global seed before building decides"
    w = [0.1, 0.9, 0.4, 0.7, 3.0, 0.6]
    for kw in (dict(wgts=w, num_samples=5), dict(wgts=w, num_samples=5, replacement=False), dict(labels=[0, 1] * 3, strategy='natural')):
        make = lambda **k: ImbalancedDatasetSampler(_ds(6), **kw, **k)
        assert [list(s) for s in [make(seed=42)] * 2] == [list(s) for s in [make(seed=42)] * 2]
        torch.manual_seed(0); a = make(); torch.manual_seed(0); b = make()
        assert list(a) + list(a) == list(b) + list(b)


# --- PyTorch: DistributedSampler ----------------------------------------------------------------------------------------
def test_pytorch_distributed_sampler_invalid_rank():
    "DistributedSampler(dataset, 3, 3) and (dataset, 3, -1) raise ValueError 'Invalid rank' when built"
    for rank in (3, -1):
        with pytest.raises(ValueError, match='Invalid rank'): ImbalancedDatasetSampler(_ds(10), labels=np.arange(10) % 2, num_replicas=3, rank=rank)
        with pytest.raises(ValueError, match='Invalid rank'):
            ClassBalancedBatchSampler(labels=np.arange(10) % 2, classes_per_batch=2, batch_size=4, num_replicas=3, rank=rank)
    with pytest.raises(ValueError, match='num_replicas'): ImbalancedDatasetSampler(_ds(10), labels=np.arange(10) % 2, num_replicas=0)
    dl = ResampledDL(list(range(10)), bs=2, shuffle=True, resampler=Resampler(np.arange(10) % 2, seed=0), num_workers=0)
    for rank in (3, -1):                                      # fastai's path too, when the ShardedDL is built
        with pytest.raises(ValueError, match='Invalid rank'): ShardedDL(dl, rank, 3)


@pytest.mark.filterwarnings('ignore:classes with a single train row')   # the tiny datasets: a row per class
@pytest.mark.parametrize('world_size', [1, 2, 3, 4, 7])
@pytest.mark.parametrize('n', [100 + 7 + 1, 7, 3])
def test_pytorch_distributed_sampler_padding_and_drop_last(world_size, n):
    "DistributedSampler's padding test: ceil(n/R) rows per rank (padding from the epoch's start), floor(n/R) with drop_last; equal on every rank"
    y = np.arange(n) % 3
    for drop_last in (False, True):
        if drop_last and n < world_size:
            with pytest.raises(ValueError, match='drop_last'):
                ImbalancedDatasetSampler(_ds(n), labels=y, num_replicas=world_size, rank=0, drop_last=True, seed=1)
            continue
        ss = [ImbalancedDatasetSampler(_ds(n), labels=y, num_replicas=world_size, rank=r, drop_last=drop_last, seed=1) for r in range(world_size)]
        per = n // world_size if drop_last else math.ceil(n / world_size)
        for epoch in (0, 1):
            for s in ss: s.set_epoch(epoch)
            shards = [list(s) for s in ss]
            assert [len(x) for x in shards] == [len(s) for s in ss] == [per] * world_size
            epoch_rows = Resampler(y, seed=1).sample(epoch=epoch)
            got = Counter(i for x in shards for i in x)
            want = Counter(np.resize(epoch_rows, per * world_size).tolist())   # the epoch, cut or padded from its start
            assert got == want


def test_pytorch_duplicating_data_with_drop_last():
    "9 distinct rows on 4 processes, DataLoader(batch_size=2, drop_last=True): the padding is dropped, no row twice"
    y = np.zeros(9, int)
    seen = []
    for rank in range(4):
        s = ImbalancedDatasetSampler(_ds(9), labels=y, strategy='natural', replacement=False, num_replicas=4, rank=rank, seed=0)
        seen += [int(i) for b in torch.utils.data.DataLoader(_ds(9), sampler=s, batch_size=2, drop_last=True) for i in b[0]]
    assert len(seen) == 8 and len(set(seen)) == 8


def test_pytorch_distributed_sampler_set_epoch():
    "set_epoch(e) decides the shard: the same e gives the same rows, another e others; without it a rank stays on its epoch"
    y = _long_tail((60, 20, 10))
    ss = [ImbalancedDatasetSampler(_ds(len(y)), labels=y, num_replicas=2, rank=r, seed=3) for r in range(2)]
    e0 = [list(s) for s in ss]
    assert [list(s) for s in ss] == e0                       # no set_epoch: the same epoch again
    for s in ss: s.set_epoch(1)
    e1 = [list(s) for s in ss]
    assert e1 != e0
    for s in ss: s.set_epoch(0)
    assert [list(s) for s in ss] == e0
    assert not set(e0[0]) <= set(e0[1]) and len(e0[0]) == len(e0[1]) == 45


def test_pytorch_distributed_batch_sampler_shards_whole_batches():
    "ClassBalancedBatchSampler on R processes: whole batches per rank, as many on every rank (padded, or cut with drop_last)"
    y = _long_tail((50, 30, 20))
    for drop_last, per in ((False, 4), (True, 3)):
        ss = [ClassBalancedBatchSampler(labels=y, classes_per_batch=2, batch_size=4, num_batches=10, num_replicas=3, rank=r,
                                        drop_last=drop_last, seed=0) for r in range(3)]
        shards = [list(s) for s in ss]
        assert [len(x) for x in shards] == [len(s) for s in ss] == [per] * 3
        whole = ClassBalancedBatchSampler(labels=y, classes_per_batch=2, batch_size=4, num_batches=10, seed=0)
        want = Counter(map(tuple, list(whole)))
        got = Counter(map(tuple, (b for x in shards for b in x)))
        assert sum(got.values()) == 3 * per and (got - want == Counter() if drop_last else set(got) == set(want))


class _Aligned(ShardedDL):
    "A simulated rank whose group agrees already (every rank built with the same seed): nothing to broadcast"
    def _sync(self, obj): return obj


@pytest.mark.parametrize('world_size', [2, 3, 4])
def test_pytorch_padding_in_fastai_sharded_dl(world_size):
    "fastai's path (ShardedDL) pads as DistributedSampler does: ceil(n/R) rows on every rank, the epoch's start repeated"
    y = np.arange(101) % 3
    r = Resampler(y, seed=0)
    dls = [_Aligned(ResampledDL(list(range(101)), bs=8, shuffle=True, resampler=Resampler(y, seed=0), num_workers=0), k, world_size)
           for k in range(world_size)]
    shards = [np.asarray(dl.get_idxs()) for dl in dls]
    per = math.ceil(101 / world_size)
    assert [len(x) for x in shards] == [per] * world_size
    assert Counter(np.concatenate(shards).tolist()) == Counter(np.resize(r.sample(epoch=0), per * world_size).tolist())
