"""The Resampler's epochs, statistically: unbiased counts within one of their expectation, never-drawn rows, short epochs,
the without-replacement walk, and a uniformly random order after the block-wise placement.

Tolerances: a mean over E epochs of a count that is floor(x) or floor(x)+1 has a standard error of at most
sqrt(f(1-f)/E) (f the fractional part of x); the checks allow 5 of them (a per-check false alarm below 1e-6, below 1e-3
over the few hundred checks of a test). Order tests are chi-square tests kept only when their p-value is above 1e-4.
Every test has a fixed seed, so the outcome is reproducible: the tolerances say how unlikely a failure of correct code is.
"""
import warnings
import numpy as np, pandas as pd, pytest, torch
from scipy import stats
from fastai.data.core import Datasets
from fastai.torch_core import set_seed
from imbalance_fastai.core import Labels
from imbalance_fastai.resampler import Resampler
from imbalance_fastai.sampling import weighted_dataloaders

torch.set_num_threads(1)
Z = 5   # standard errors allowed for a mean


def _group_counts(r, epochs, **kw):
    "Rows of each group (class, rarest label or weight group) in each of `epochs` epochs, `(epochs, groups)`"
    return np.stack([np.bincount(r.group_codes[r.sample(epoch=e, **kw)], minlength=len(r.sizes)) for e in range(epochs)])


def _within_one_and_unbiased(counts, x):
    "Every epoch's count is floor(x) or ceil(x), and the mean over epochs is x within Z standard errors"
    lo = np.floor(x + 1e-9)
    assert ((counts == lo) | (counts == lo + 1)).all(), "a count is not the floor or the ceiling of its expectation"
    f = x - lo
    se = np.sqrt(f * (1 - f) / len(counts))
    assert (np.abs(counts.mean(0) - x) <= Z * se + 1e-9).all(), np.abs(counts.mean(0) - x).max()


def test_fastai_wgts_example_every_row_drawn_and_unbiased():
    "fastai's `wgts=np.arange(160)`: each row's count is within one of 160*w/sum(w), with that mean; none with w>0 is left out"
    w = np.arange(160.)
    x = 160 * w / w.sum()                                     # row 50 is expected 50/79.5 = 0.63 times per epoch
    r = Resampler(None, wgts=w, seed=0)
    counts = np.stack([np.bincount(r.sample(epoch=e), minlength=160) for e in range(2000)])
    _within_one_and_unbiased(counts, x)
    # row 1 is expected 0.0126 times per epoch: never drawn in 2000 epochs with a chance of (1 - 0.0126)**2000 = 1e-11
    assert (counts[:, 1:].sum(0) > 0).all() and counts[:, 0].sum() == 0
    row50 = counts[:, 50]
    assert set(row50) == {0, 1} and abs(row50.mean() - 50 / 79.5) < Z * np.sqrt(.233 / 2000)   # not "exactly once every epoch"
    nt = Datasets(list(range(160)), [[lambda o: o]], splits=[list(range(160)), []])   # the factory, on a Datasets without target
    dl = weighted_dataloaders(nt, wgts=w, bs=16, seed=0).train
    drawn = np.concatenate([dl.get_idxs() for _ in range(300)])
    assert set(np.unique(drawn)) == set(range(1, 160))   # row 1: missed in 300 epochs with a chance of 0.02 (seeded: drawn)


def test_short_epochs_sample_every_class():
    "n_samples=5 over 10 equal classes: 5 classes an epoch, each half the time, and every row of every class comes up"
    y = np.repeat(range(10), 50)
    r = Resampler(y, n_samples=5, seed=0)
    counts = _group_counts(r, 2000)
    _within_one_and_unbiased(counts, np.full(10, .5))
    rows = np.bincount(np.concatenate([r.sample(epoch=e) for e in range(2000)]), minlength=500)
    assert (rows > 0).all()                                   # a row is expected 20 times: missed with a chance of 2e-9


def test_many_long_tailed_classes_in_short_epochs():
    "1,000 long-tailed classes, n_samples=500: every class is sampled, half the epochs, and which classes share an epoch varies"
    n_c = np.maximum(1, (2000 * np.exp(-np.arange(1000) / 150)).astype(int))
    r = Resampler(Labels(np.repeat(np.arange(1000), n_c)), n_samples=500, seed=0)
    counts = _group_counts(r, 400)
    _within_one_and_unbiased(counts, np.full(1000, .5))
    assert (counts.sum(0) > 0).all()
    # the 500 classes of an epoch are a uniformly random half (random-order systematic sampling): a pair of classes, even of
    # neighbouring codes, shares an epoch with chance 500/1000 * 499/999 = 0.2497; standard error over 400 epochs 0.022
    both = (counts[:, :-1] & counts[:, 1:]).mean(0)
    assert np.abs(both - 500 / 1000 * 499 / 999).max() < Z * np.sqrt(.1875 / 400)
    assert len({tuple(np.flatnonzero(c)) for c in counts}) == 400   # no two epochs with the same classes


@pytest.mark.parametrize('name, make', [
    ('oversample', lambda y, mh: Resampler(y, seed=1)),
    ('partial', lambda y, mh: Resampler(y, 'partial', alpha=0.3, seed=1)),
    ('target', lambda y, mh: Resampler(y, {0: .5, 1: .3, 2: .15, 3: .05}, seed=1)),
    ('natural n_samples', lambda y, mh: Resampler(y, 'natural', n_samples=97, seed=1)),
    ('undersample n_samples', lambda y, mh: Resampler(y, 'undersample', n_samples=50, seed=1)),
    ('wgts groups', lambda y, mh: Resampler(y, wgts=1. + (np.arange(len(y)) % 7), seed=1)),
    ('multi-label', lambda y, mh: Resampler(mh, seed=1)),
    ('balanced_batches', lambda y, mh: Resampler(y, balanced_batches=True, seed=1)),
    ('repeat_factor n_samples', lambda y, mh: Resampler(mh, 'repeat_factor', thresh=0.2, n_samples=333, seed=1)),
])
def test_every_strategy_counts_within_one_and_unbiased(name, make):
    "For every strategy the count of each group is the floor or ceiling of its expectation, with that mean over epochs"
    rng = np.random.default_rng(0)
    y = rng.choice(4, 1001, p=[.6, .25, .1, .05])
    mh = np.stack([rng.random(1001) < p for p in (.9, .3, .05)], 1)
    r = make(y, mh)
    counts = _group_counts(r, 600, bs=32)
    x = r.epoch_length() * r.shares
    assert np.isclose(x.sum(), counts[0].sum())
    _within_one_and_unbiased(counts, x)
    if r.replacement:   # each row's share of a group's draws is equal: row counts over epochs follow the row weights
        rows = np.bincount(np.concatenate([r.sample(epoch=e, bs=32) for e in range(600)]), minlength=1001)
        exp = 600 * r.epoch_length() * r.row_weights()
        assert np.abs(rows - exp).max() < Z * np.sqrt(exp.max()) + 1   # Poisson-like spread of a row's total count


def test_repeat_factor_stays_consistent_with_its_shares():
    "Repeat-factor epochs: each row floor(r) or floor(r)+1 times with mean r; the class shares they give are train_prior"
    mh = np.zeros((1000, 3), dtype=bool)
    mh[:, 0] = True; mh[:40, 1] = True; mh[990:, 2] = True
    r = Resampler(mh, 'repeat_factor', thresh=0.2, seed=3)
    fac = r.repeat_factors
    counts = np.stack([np.bincount(r.sample(epoch=e), minlength=1000) for e in range(800)])
    _within_one_and_unbiased(counts, fac)
    np.testing.assert_allclose((counts @ mh).sum(0) / counts.sum(), r.train_prior, atol=0.01)


@pytest.mark.parametrize('multi', [False, True])
def test_repeat_factor_counts_within_one_and_each_row_at_its_rate(multi):
    "Repeat-factor epochs: each group's count is within one of size*r with that mean, and each row is drawn floor(r) or floor(r)+1 times with mean r"
    lab = np.repeat(np.arange(4), [5000, 400, 100, 30])   # thresh=0.2: expected class counts 5000, 665.13, 332.57, 182.15
    mh = np.stack([np.ones(len(lab), bool), lab>=2, lab==3, np.arange(len(lab))%97==0], 1)   # the same, as nested tags
    r = Resampler(mh if multi else lab, 'repeat_factor', thresh=0.2, seed=0)
    x = r.sizes * np.append(np.sqrt(.2/r.labels.prior).clip(1), 1.)[:len(r.sizes)]
    counts = _group_counts(r, 600)
    _within_one_and_unbiased(counts, x)
    assert (np.abs(counts.sum(1) - x.sum()) < 1).all()        # the epoch's length too
    rows = np.stack([np.bincount(r.sample(epoch=e), minlength=len(lab)) for e in range(600)])
    _within_one_and_unbiased(rows, r.repeat_factors)           # each row's own rate is r: the stratification is over rows of a group
    if not multi: assert (np.abs(rows @ np.eye(4)[lab] - np.bincount(lab, weights=r.repeat_factors)) < 1).all()


def test_undersample_walk_wastes_no_row_across_epochs():
    "Undersampling with counts that vary between floor and ceiling: within a pass over a class no row is drawn twice"
    y = np.repeat([0, 1, 2], [700, 120, 13])
    r = Resampler(y, 'undersample', n_samples=40, seed=5)     # 13.33 rows of each class an epoch
    seen = np.zeros(len(y), dtype=np.int64)
    for e in range(150):
        seen += np.bincount(r.sample(epoch=e), minlength=len(y))
        for c in range(3): assert np.ptp(seen[y == c]) <= 1, (e, c)   # a pass is finished before any row is drawn again
    fresh = Resampler(y, 'undersample', n_samples=40, seed=5)
    for e in (149, 3, 77):   # random access gives the epochs sequential training drew
        assert np.array_equal(fresh.sample(epoch=e), r.sample(epoch=e))


def _class_sequence(n, shares, seed, **kw):
    y = np.random.default_rng(seed).choice(len(shares), n, p=shares)
    return y, Resampler(y, seed=seed, **kw)


def test_block_placement_is_a_uniform_order():
    "200,000 rows (49 blocks of 4096): each class spread evenly over the epoch, at block edges as inside, adjacent pairs as for a full shuffle"
    n, shares = 200_000, [.7, .2, .07, .03]
    y, r = _class_sequence(n, shares, 0)
    C, E = len(shares), 6
    seq = np.stack([y[r.sample(epoch=e)] for e in range(E)])   # the class at each position, (epochs, n)
    k = np.bincount(seq[0], minlength=C)
    # positions of each class in 40 segments of 5000: hypergeometric counts around k/40 (chi-square, 39 df per class and epoch)
    seg = np.stack([[np.bincount(s.reshape(40, -1)[j], minlength=C) for j in range(40)] for s in seq])   # (E, 40, C)
    chi = ((seg - k / 40) ** 2 / (k / 40)).sum((0, 1))
    assert (stats.chi2.sf(chi, 39 * E) > 1e-4).all(), chi
    # the first and last row of every block hold each class as often as any row does
    edge = seq[:, np.r_[0:n:4096, 4095:n:4096]].ravel()
    assert stats.chisquare(np.bincount(edge, minlength=C), len(edge) * k / n).pvalue > 1e-4
    # adjacent pairs, all of them and those across a block edge: P(a, b) = k_a (k_b - [a==b]) / (n (n-1))
    p = (k[:, None] * (k[None] - np.eye(C))) / (n * (n - 1))
    for pos in (np.arange(n - 1), np.arange(4095, n - 1, 4096)):
        pairs = np.bincount((seq[:, pos] * C + seq[:, pos + 1]).ravel(), minlength=C * C)
        assert stats.chisquare(pairs, pairs.sum() * p.ravel()).pvalue > 1e-4


def test_rows_drawn_in_order_are_placed_at_random():
    "Groups stored in row order (without replacement, repeat factors) are shuffled before the blocks: a row's position says nothing of its index"
    n = 100_000
    y = np.random.default_rng(1).choice(3, n, p=[.8, .15, .05])
    for r in (Resampler(y, 'natural', replacement=False, seed=2), Resampler(y, 'repeat_factor', thresh=0.5, seed=2)):
        idxs = r.sample(epoch=0)
        rho = stats.spearmanr(idxs, np.arange(len(idxs))).statistic
        assert abs(rho) < Z / np.sqrt(len(idxs)), rho     # the standard error of Spearman's rho for independent ranks
    idxs = Resampler(y, 'natural', replacement=False, seed=2).sample()
    assert np.array_equal(np.sort(idxs), np.arange(n))    # every row once


def test_seed_and_epoch_decide_an_epoch():
    "set_seed reproduces a Resampler's epochs; (seed, epoch) decides an epoch, whatever was drawn before"
    y = np.random.default_rng(0).choice(3, 20_000, p=[.9, .08, .02])
    set_seed(11); a = Resampler(y)
    set_seed(11); b = Resampler(y)
    assert a.seed == b.seed
    ea = [a.sample() for _ in range(3)]
    assert all(np.array_equal(x, b.sample(epoch=e)) for e, x in enumerate(ea))
    assert not np.array_equal(ea[0], ea[1])
    c = Resampler(y, seed=a.seed)
    assert np.array_equal(c.sample(epoch=2), ea[2]) and np.array_equal(c.sample(epoch=0), ea[0])


def _tags(n=3000, seed=0):
    "Five overlapping tags: t0 common, t1 and t2 rare (t2 mostly with t1), t3 on half the rows, t4 on t0's rows only"
    rng = np.random.default_rng(seed)
    mh = np.zeros((n, 5), dtype=bool)
    mh[:, 0] = rng.random(n) < .7
    mh[:, 1] = rng.random(n) < .04
    mh[:, 2] = (mh[:, 1] & (rng.random(n) < .5)) | (rng.random(n) < .01)
    mh[:, 3] = rng.random(n) < .5
    mh[:, 4] = mh[:, 0] & (rng.random(n) < .2)
    return Labels(mh, ['t0', 't1', 't2', 't3', 't4'])


@pytest.mark.parametrize('kw', [{}, dict(replacement=False), dict(balanced_batches=True), dict(n_samples=777)])
def test_multilabel_target_shares_met_every_epoch(kw):
    "{class: share} on multi-label rows: the share of an epoch's rows containing each named class is its target, every epoch"
    lbls = _tags()
    target = {'t1': .3, 't2': .2, 't4': .1}
    r = Resampler(lbls, target, seed=4, **kw)
    cols = [1, 2, 4]
    np.testing.assert_allclose(r.train_prior[cols], list(target.values()), atol=1e-8)
    assert len(r.sizes) <= 2 ** len(target)                  # rows grouped by their pattern of named classes
    n, E = r.epoch_length(), 500
    counts = _group_counts(r, E, bs=32)
    _within_one_and_unbiased(counts, n * r.shares)           # each weight group's count within one of its expectation
    # the rows containing class c in an epoch: the sum over the G_c groups holding c, each within one of its expectation,
    # so every epoch's count is within G_c of n * t_c (a bound, not a tolerance); the mean over epochs within Z standard errors
    # of a sum of G_c independent roundings (each of variance <= 1/4)
    per = np.stack([r.sampled_counts(r.sample(epoch=e, bs=32))[cols] for e in range(E)])
    holds = np.array([[lbls.codes[r.group_codes == g, c].any() for g in range(len(r.sizes))] for c in cols])
    G = holds.sum(1)
    exp = n * np.array(list(target.values()))
    assert (np.abs(per - exp) <= G).all()
    assert (np.abs(per.mean(0) - exp) <= Z * np.sqrt(G / 4 / E)).all(), per.mean(0) - exp


def test_multilabel_target_weights_and_what_cannot_be_met():
    "The fitted weights depend only on the named classes a row contains; unreachable shares are refused with what is possible"
    lbls = _tags()
    r = Resampler(lbls, {'t1': .3, 't3': .6}, seed=0)
    w = r.row_weights()
    pat = lbls.codes[:, 1] * 2 + lbls.codes[:, 3]
    assert all(np.ptp(w[pat == p]) == 0 for p in range(4))
    assert np.isnan(r.target[[0, 2, 4]]).all() and r.target[1] == .3
    free = Resampler(lbls, {'t1': .3}, seed=0)               # t3 free: its share moves only as much as t1's rows carry it
    share_t3 = lambda rows_w: rows_w @ lbls.codes[:, 3]
    in_t1 = lbls.codes[:, 1]
    np.testing.assert_allclose(share_t3(free.row_weights()), .3 * lbls.codes[in_t1, 3].mean() + .7 * lbls.codes[~in_t1, 3].mean())
    with pytest.raises(ValueError, match=r"'t1' is in \d+ of the 3000 train rows: a share of 1 would weight every row without it 0"):
        Resampler(lbls, {'t1': 1.})
    with pytest.raises(ValueError, match=r"every row with 't4' also has 't0', so its share cannot exceed 't0''s"):
        Resampler(lbls, {'t0': .2, 't4': .3})
    # three tags, every row holding exactly two of them: the shares always add up to 2, so (.5, .5, .5) cannot be met,
    # which no pair of tags shows: the fit does not converge and says so, with the shares it reached
    two = Labels(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]] * 50, dtype=bool), list('abc'))
    with pytest.raises(ValueError, match=r"cannot be met together by these rows: the fit reached .*Which classes occur together"):
        Resampler(two, {'a': .5, 'b': .5, 'c': .5})
    r2 = Resampler(two, {'a': .8, 'b': .7}, seed=0)           # reachable: c then takes 2 - .8 - .7
    np.testing.assert_allclose(r2.train_prior, [.8, .7, .5], atol=1e-8)


def test_many_distinct_weights_drawn_row_by_row():
    "More than 65,536 distinct weights: every row's count is within one of its expectation, unbiased, from (seed, epoch), in a random order"
    N, E = 70_000, 400
    rng = np.random.default_rng(0)
    w = rng.exponential(size=N) * np.linspace(.2, 3, N)
    w[:100] = 0
    r = Resampler(None, wgts=w, seed=3)
    assert r.order is None                                   # rows one by one, not by group
    x = N * w / w.sum()
    lo = np.floor(x)
    extra = np.zeros(N, dtype=np.int64)
    for e in range(E):
        c = np.bincount(r.sample(epoch=e), minlength=N)
        assert ((c == lo) | (c == lo + 1)).all(), e          # within one of the expectation, every epoch
        extra += c - lo.astype(np.int64)
    assert extra[:100].sum() == 0                             # a zero weight is never drawn
    # a row's extra draw comes with probability f (its fractional part), independently over epochs: Binomial(E, f) exactly.
    # Two-sided binomial p-values, Bonferroni over the rows: the whole check fails by chance with probability below 1e-4
    f = x - lo
    p = 2 * np.minimum(stats.binom.cdf(extra, E, f), stats.binom.sf(extra - 1, E, f))
    assert p[100:].min() > 1e-4 / N, p[100:].min()
    assert np.array_equal(r.sample(epoch=5), Resampler(None, wgts=w, seed=3).sample(epoch=5))
    assert not np.array_equal(r.sample(epoch=5), r.sample(epoch=6))
    idxs = r.sample(epoch=0)                                  # drawn in row order, then placed: no trace of the order left
    rho = stats.spearmanr(idxs, np.arange(len(idxs))).statistic
    assert abs(rho) < Z / np.sqrt(len(idxs)), rho
    nat = r.sample(epoch=0, strategy='natural')               # equal weights, N rows: every row once
    assert np.array_equal(np.sort(nat), np.arange(N))
    assert np.array_equal(Resampler(None, wgts=w, replacement=False, seed=3).sample(epoch=2), r.sample(epoch=2))


def test_many_distinct_weights_neighbours_share_epochs():
    "Drawn row by row, rows next to each other share an epoch as often as in a random subset (in row order, with near-equal weights for half an epoch each, neighbours never did)"
    N, E = 140_000, 300                                       # more than 2 chunks of 65,536 rows: the chunked order
    w = 1 + np.random.default_rng(0).random(N) * 1e-3         # distinct, near-equal
    r = Resampler(None, wgts=w, n_samples=N // 2, seed=0)
    pairs = [(0, 1), (0, 2), (70_000, 70_001), (10, 100_000)]  # neighbours, next-but-one, in another chunk, far apart
    both = np.zeros(len(pairs))
    for e in range(E):
        drawn = np.zeros(N, bool); drawn[r.sample(epoch=e)] = True
        both += [drawn[i] & drawn[j] for i, j in pairs]
    want = (N // 2) / N * (N // 2 - 1) / (N - 1)              # a random half: about 1/4
    np.testing.assert_allclose(both / E, want, atol=5 * np.sqrt(want * (1 - want) / E))

def test_rows_without_a_class_are_counted_apart_and_refused():
    "get_labels(strict=False) reads a class the train split lacks as code -1: Labels report it, the Resampler refuses it with the fix"
    from fastai.data.block import DataBlock, CategoryBlock
    from fastai.data.transforms import IndexSplitter
    from imbalance_fastai.core import get_labels
    items = list('aaaabbbbcc')
    dsets = DataBlock(blocks=(CategoryBlock, CategoryBlock), splitter=IndexSplitter([6, 7, 8, 9])).datasets(items)  # no 'c' in train
    val = get_labels(dsets.valid, strict=False)
    assert val.codes.tolist() == [1, 1, -1, -1] and val.n_unclassed == 2 and val.counts.tolist() == [0, 2]
    assert '2 rows without a class (code -1)' in repr(val)
    with pytest.raises(ValueError, match='2 of 4 rows of the train split have no class .*StratifiedSplitter'): Resampler(val)
    with pytest.raises(ValueError, match='class codes must be in'): Labels([0, 3], vocab=['a', 'b'])


def test_wgts_take_only_natural_as_a_per_epoch_override():
    "With wgts an epoch is drawn by them, or naturally (strategy 'natural', alpha 0); any other override is refused naming wgts"
    lab = np.repeat(np.arange(4), [500, 300, 150, 50])
    w = np.where(lab == 3, 20., 1.)
    r = Resampler(lab, wgts=w, seed=0)
    for kw in (dict(strategy=0.0), dict(strategy='natural'), dict(alpha=0), dict(strategy='partial', alpha=0.)):
        np.testing.assert_allclose(r.prior_for(**kw), [.5, .3, .15, .05])
        assert np.array_equal(r.sample(epoch=4, **kw), r.sample(epoch=4, strategy='natural'))
    assert abs(r.prior_for()[3] - 1000 / 1950) < 1e-12                           # no override: the weights
    for kw in (dict(strategy='undersample'), dict(strategy='oversample'), dict(strategy=.5), dict(alpha=.3), dict(strategy='repeat_factor')):
        with pytest.raises(ValueError, match='draws by its wgts'): r.sample(**kw)
    np.testing.assert_allclose(Resampler(lab, seed=0).prior_for(strategy=0.), [.5, .3, .15, .05])   # alpha 0 is natural without wgts too


E_WALK = 60
_WALK_SHARES = {   # per-epoch overrides of a 'partial' Resampler without replacement
    'alpha schedule': [dict(alpha=float(a)) for a in np.linspace(0, 1, E_WALK)],             # OverSamplingCallback(alpha=SchedLin(0, 1))
    'deferred': [dict(strategy='natural')] * 5 + [dict(strategy='oversample')] * (E_WALK - 5),  # defer_epochs=5
    'any alpha': [dict(alpha=float(a)) for a in np.random.default_rng(7).random(E_WALK)],
}


@pytest.mark.parametrize('n_samples', [None, 1500])
@pytest.mark.parametrize('how', list(_WALK_SHARES))
def test_changing_shares_walk_every_row_evenly_across_epochs(how, n_samples):
    """Without replacement and with shares that change from epoch to epoch, the walk goes on where the epochs drawn left it:
    after every epoch the rows of a class have been drawn within one of each other (as with constant shares), so each row's
    cumulative count is within one of its share of its class's draws. Those draws are each epoch's exact count (the floor or
    ceiling of its expectation, rounded afresh each epoch), so a row's cumulative count is within 1 + (its class's rounding
    drift) / (class size) of the sum of its expected counts; that drift is a sum of independent roundings with variance
    sum f(1-f) (f the fractional parts), allowed Z = 5 standard deviations. (The walk used to be rebuilt from epoch 0 as if
    every epoch had today's shares: over these 60 epochs a row of the largest class was drawn 32 to 51 times, not 41 or 42.)"""
    sizes = np.array([500, 120, 40, 7])
    y = np.repeat(np.arange(4), sizes)
    shares = _WALK_SHARES[how]
    r = Resampler(y, 'partial', replacement=False, n_samples=n_samples, seed=3)
    drawn, expected = np.zeros(len(y)), np.zeros(len(y))
    K, drift_var = np.zeros(4), np.zeros(4)
    epochs = []
    for e, kw in enumerate(shares):
        idxs = r.sample(**kw)                                   # the next epoch, as a DataLoader draws it
        epochs.append(idxs)
        x = r.row_weights(**kw) * len(idxs)                     # each row's expected count in this epoch
        c = np.bincount(idxs, minlength=len(y))
        k, xg = np.bincount(y[idxs], minlength=4), np.bincount(y, weights=x, minlength=4)
        assert ((k == np.floor(xg + 1e-9)) | (k == np.ceil(xg - 1e-9))).all(), e        # the epoch's exact class counts
        assert ((c >= np.floor(x + 1e-9)) & (c <= np.ceil(x - 1e-9))).all(), e          # no row more than its expectation rounded up
        drawn += c; expected += x; K += k
        f = xg - np.floor(xg); drift_var += f * (1 - f)
        for g in range(4): assert np.ptp(drawn[y == g]) <= 1, (e, g, np.ptp(drawn[y == g]))   # even after every epoch
    share = (K / sizes)[y]                                       # each row's share of its class's cumulative draws
    assert (np.abs(drawn - share) < 1).all()
    tol = 1 + Z * np.sqrt(drift_var) / sizes
    assert (np.abs(drawn - expected) <= tol[y]).all(), np.abs(drawn - expected).max()
    # what an epoch depends on: (seed, epoch) and the shares the epochs before it were drawn with
    for e in (0, 17, 59, 31):                                   # drawn again: the epoch trained on
        assert np.array_equal(r.sample(epoch=e, **shares[e]), epochs[e])
    other = Resampler(y, 'partial', replacement=False, n_samples=n_samples, seed=3)
    assert all(np.array_equal(other.sample(**kw), ep) for kw, ep in zip(shares, epochs))   # the same shares, the same epochs
    alone = Resampler(y, 'partial', replacement=False, n_samples=n_samples, seed=3).sample(epoch=40, **shares[40])
    steady = Resampler(y, 'partial', replacement=False, n_samples=n_samples, seed=3)
    assert np.array_equal(alone, [steady.sample(**shares[40]) for _ in range(41)][-1])       # epochs never drawn count with its shares


def test_walk_draws_of_other_shares_leave_the_walk_alone():
    "Drawing a past epoch with other shares (a preview) keeps each row at most at its expectation rounded up, and changes no later epoch"
    y = np.repeat(np.arange(3), [200, 30, 9])
    shares = [dict(alpha=float(a)) for a in np.linspace(0, 1, 30)]
    r, ref = (Resampler(y, 'partial', replacement=False, seed=1) for _ in range(2))
    for kw in shares[:20]: r.sample(**kw), ref.sample(**kw)
    for e, a in ((3, .9), (19, .05), (12, 1.)):
        idxs = r.sample(epoch=e, alpha=a)
        x = r.row_weights(alpha=a) * len(idxs)
        assert (np.bincount(idxs, minlength=len(y)) <= np.ceil(x - 1e-9)).all()
    assert all(np.array_equal(r.sample(**kw), ref.sample(**kw)) for kw in shares[20:])


def test_repeat_factor_on_labels_every_row_has_does_not_ask_to_raise_thresh():
    "When every row has every class no thresh can repeat a row: the warning says so instead of 'raise thresh' (thresh=1 is the largest)"
    with pytest.warns(UserWarning, match='every row has every class') as ws:
        Resampler(Labels(np.ones((6, 2), bool), ['a', 'b']), 'repeat_factor', thresh=1.0)
    assert not any('raise thresh' in str(w.message) for w in ws)
    with pytest.warns(UserWarning, match=r"every row has every class that appears; \['c'\] are in no row and are never drawn"):
        Resampler(Labels(np.array([[1, 1, 0]] * 6, bool), ['a', 'b', 'c']), 'repeat_factor', thresh=1.0)
    with pytest.warns(UserWarning, match='raise thresh'): Resampler(Labels(np.array([0, 0, 1, 1]), ['a', 'b']), 'repeat_factor', thresh=0.3)


def test_pk_batches_warn_when_a_class_has_fewer_rows_than_k():
    "K rows of a class per batch are distinct only when it has K rows: fewer, and the sampler says so (naming the class and K)"
    r = Resampler(np.repeat([0, 1, 2], [30, 9, 3]), classes_per_batch=3, seed=0)
    with pytest.warns(UserWarning, match=r"K=4 rows of a class in a batch, but 1 classes have fewer train rows \(\{'2': 3\}\)"):
        b = r.sample(0, bs=12).reshape(-1, 12)
    assert all(len(set(x)) == 11 for x in b)                      # the 3-row class: all 3, one of them twice
    with warnings.catch_warnings():
        warnings.simplefilter('error'); r.sample(0, bs=9)          # K=3: every class has 3 distinct rows, no warning
