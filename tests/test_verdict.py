"The paired bootstrap and the verdict: the interval has its nominal coverage, and the verdict says what the intervals say."
import numpy as np, pandas as pd, pytest

from imbalance_fastai.compare import Predictions
from imbalance_fastai.scores import METRICS
from imbalance_fastai.verdict import paired_bootstrap, summarize, verdict, format_table, plot_comparison


def _sim(rng, n_common=300, n_rare=15, acc=(.9, .6), gain=0.):
    "Targets, and the decisions of plain and of a strategy with rare-class recall `acc[1] + gain`, independent per row"
    y = np.r_[np.zeros(n_common, int), np.ones(n_rare, int)]
    def decide(a_rare):
        right = np.where(y == 0, rng.random(len(y)) < acc[0], rng.random(len(y)) < a_rare)
        return np.where(right, y, 1 - y)
    return y, decide(acc[1]), decide(acc[1] + gain)


def _preds(y, **decisions):
    pr = Predictions(y, ['common', 'rare'])
    for nm, d in decisions.items(): pr.add(nm, 0, np.arange(len(y)), np.eye(2)[d] * .8 + .1, d)
    return pr


def test_interval_coverage_when_there_is_no_difference():
    """Two strategies of equal quality (independent errors): the 95% interval of the difference contains zero in about 95%
    of 300 simulated data sets (seen: 0.92; a percentile bootstrap of a discrete statistic under-covers a little).
    Binomial sd of the rate at 300 draws: 0.013; the band [0.89, 0.99] is 2 sd around the seen rate and reaches the
    nominal 0.95 with room above; an interval that ignored the rare rows' noise would fall far below it."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(300):
        y, a, b = _sim(rng)
        bt = paired_bootstrap(_preds(y, plain=a, other=b), 'balanced_accuracy', n_boot=400, seed=int(rng.integers(1 << 30)))
        lo, hi = np.quantile(bt['other'][1] - bt['plain'][1], [.025, .975])
        hits += lo <= 0 <= hi
    assert 0.89 <= hits / 300 <= 0.99, hits / 300


def test_interval_detects_a_real_gain():
    "A strategy that raises the rare class's recall from 0.6 to 0.95 on 40 rare rows is 'better' in nearly every data set"
    rng = np.random.default_rng(1)
    better = 0
    for _ in range(40):
        y, a, b = _sim(rng, n_rare=40, gain=.35)
        bt = paired_bootstrap(_preds(y, plain=a, other=b), 'balanced_accuracy', n_boot=400, seed=0)
        better += np.quantile(bt['other'][1] - bt['plain'][1], .025) > 0
    assert better >= 36, better


def _null_family(rng, k, **kw):
    "Plain and `k` strategies of plain's quality, each with its own independent errors"
    y, a, _ = _sim(rng, **kw)
    return _preds(y, plain=a, **{f's{i}': _sim(rng, **kw)[2] for i in range(k)})


def test_simultaneous_intervals_keep_the_family_error_at_the_level():
    """Ten strategies no better than plain (80 rare rows of 680): with intervals each at 95% alone, some strategy is marked
    in about 27% of data sets (seen over 100; 1 - 0.95**10 = 40%, less the sharing of plain); with the simultaneous ones
    in about 3% (seen), the 5% the level promises. 80 data sets: the binomial sd at 0.05 is 0.024, so at most 10 marked
    (0.125) is 3 sd above 0.05; per-comparison intervals must mark at least 12 (0.15), 2.4 sd below 0.27. (With only 15
    rare rows both under-cover, as a percentile bootstrap of a discrete statistic does: the report warns below 20 rows.)"""
    rng = np.random.default_rng(3)
    marked = {True: 0, False: 0}
    for _ in range(80):
        pr, seed = _null_family(rng, 10, n_common=600, n_rare=80), int(rng.integers(1 << 30))
        for sim in marked:
            s = summarize(_runs(pr), n_boot=400, seed=seed, simultaneous=sim)
            marked[sim] += (s.vs_plain != '').any()
    assert marked[True] <= 10 and marked[False] >= 12, marked


def test_simultaneous_intervals_widen_with_the_family_and_say_so():
    "Each simultaneous interval contains the strategy's own 95% one; one strategy alone keeps the 95% interval; the texts name them"
    pr = _null_family(np.random.default_rng(4), 10)
    joint, alone = summarize(_runs(pr), seed=0), summarize(_runs(pr), seed=0, simultaneous=False)
    others = joint.index != 'plain'
    assert (joint.diff_lo[others] < alone.diff_lo[others]).all() and (joint.diff_hi[others] > alone.diff_hi[others]).all()
    assert joint.attrs['family'] == 10 and 0.98 < joint.attrs['diff_level'] < 0.999, joint.attrs['diff_level']
    assert 'vs plain: difference [95% simultaneous interval]' in format_table(joint)
    assert ' 95% simultaneous interval' in verdict(joint) and '95% simultaneous' not in verdict(alone)
    one = _preds(pr.targets, plain=pr.decisions[('plain', 0)], s0=pr.decisions[('s0', 0)])
    s1, s1_alone = summarize(_runs(one), seed=0), summarize(_runs(one), seed=0, simultaneous=False)
    assert s1.attrs['family'] == 1 and np.allclose(s1[['diff_lo', 'diff_hi']], s1_alone[['diff_lo', 'diff_hi']])


def _runs(pr, metric='balanced_accuracy'):
    runs = pd.DataFrame({'strategy': pr.strategies, 'repeat': 0, 'fold': 0, 'seed': 0, **{m: 0. for m in METRICS},
                         'n_scored': len(pr.targets), 'epochs': 5, 'bs': 32, 'seconds': 1.})
    runs.attrs.update(vocab=pr.vocab, minority=['rare'], metric=metric, predictions=pr, mode='cv', folds=5, repeats=1,
                      n_scored=len(pr.targets), notes=[], epochs=5, bs=32, seeds=[0], model='simulated', target_prior='valid')
    return runs


def test_verdict_cases_and_lower_is_better():
    rng = np.random.default_rng(2)
    y, a, b = _sim(rng, n_rare=40, gain=.35)
    _, _, c = _sim(rng, n_rare=40, gain=0.)
    s = summarize(_runs(_preds(y, plain=a, same=a, good=b)))
    assert s.vs_plain.tolist() == ['', '', 'better']
    assert verdict(s).startswith('Verdict: good is best on balanced acc and beats plain training beyond the 95% interval: ')
    s = summarize(_runs(_preds(y, plain=b, weak=a)))
    assert s.loc['weak', 'vs_plain'] == 'worse'
    assert verdict(s).startswith('Verdict: no strategy beats plain training on balanced acc on this data: plain scores best')
    # ECE: lower is better, so the sign of 'better' flips; the intervals stay inside [0, 1]
    pr = Predictions(y, ['common', 'rare'])
    sharp, soft = np.eye(2)[a] * .98 + .01, np.eye(2)[a] * .5 + .25
    pr.add('plain', 0, np.arange(len(y)), sharp, a); pr.add('calibrated', 0, np.arange(len(y)), soft, a)
    s = summarize(_runs(pr, 'ece'))
    assert (s.loc['calibrated', 'ece'] < s.loc['plain', 'ece']) == (s.loc['calibrated', 'vs_plain'] == 'better')
    assert (s.lo >= 0).all() and (s.hi <= 1).all()
    assert format_table(s).splitlines()[0].split()[:2] == ['strategy', 'ECE']


def test_verdict_and_table_take_the_runs_too():
    "Given the runs (not their summary), verdict and format_table summarize them: the same line and table as from summarize(runs)"
    rng = np.random.default_rng(2)
    y, a, b = _sim(rng, n_rare=40, gain=.35)
    runs = _runs(_preds(y, plain=a, good=b))
    v = verdict(runs)
    assert v == verdict(summarize(runs)) and v.startswith('Verdict: good is best on balanced acc and beats plain training'), v
    assert format_table(runs) == format_table(summarize(runs))
    with pytest.raises(TypeError, match=r"verdict takes the runs of compare_strategies or their summarize\(runs\), got Predictions"):
        verdict(runs.attrs['predictions'])


def test_plot_error_bars_stay_in_the_metric_range():
    "A score near 1 with a wide interval: the error bar stops at 1"
    y = np.r_[np.zeros(300, int), np.ones(4, int)]
    perfect = y.copy(); almost = y.copy(); almost[-1] = 0
    s = summarize(_runs(_preds(y, plain=almost, perfect=perfect)))
    fig = plot_comparison(s)
    ax = fig.axes[1]   # the score panel: its caps (lines) and bars (collections)
    xs = [np.asarray(l.get_xdata(), dtype=float) for l in ax.get_lines()] + [np.concatenate(c.get_segments())[:, 0] for c in ax.collections]
    assert s.loc['perfect', 'hi'] == 1 and max(x.max() for x in xs) <= 1 + 1e-9 and min(x.min() for x in xs) >= 0, xs


def test_notes_say_where_the_minority_classes_come_from():
    "Cross-validated, the minority classes are the train folds' (one set in each, or pooled when ties split them); a hold-out's are its train split's"
    from imbalance_fastai.verdict import _notes
    rng = np.random.default_rng(3)
    y, a, b = _sim(rng, n_rare=40, gain=.35)
    runs = _runs(_preds(y, plain=a, good=b))
    note = lambda runs: next(n for n in _notes(summarize(runs, n_boot=100)) if n.startswith('Minority recall: '))
    assert note(runs).startswith("Minority recall: the mean recall of the minority classes, the rarest 30% of the classes in each train fold: 'rare'.")
    runs.attrs['minority_every_fold'] = False
    assert "of the train folds taken together (single train folds rank the classes near the cut differently): 'rare'." in note(runs)
    runs.attrs.update(mode='holdout', minority_every_fold=True)
    assert "the rarest 30% of the classes of the train split: 'rare'." in note(runs)


def test_notes_flag_plain_prior_on_an_uncalibrated_plain():
    "plain+prior divides plain's probabilities by the prior: the report says so when those are off (PriorCorrection's own check), and only then"
    from imbalance_fastai.verdict import _notes
    y, a, b = _sim(np.random.default_rng(5), n_rare=40)
    share = np.bincount(y) / len(y)
    def notes(p_rare):
        pr = Predictions(y, ['common', 'rare'])
        for nm, d in (('plain', a), ('plain+prior', b)):
            pr.add(nm, 0, np.arange(len(y)), np.tile([1 - p_rare, p_rare], (len(y), 1)), d)
        return [n for n in _notes(summarize(_runs(pr), n_boot=100)) if n.startswith("plain+prior: plain's probabilities")]
    assert notes(share[1]) == []                                     # calibrated on average: nothing to say
    (n,) = notes(0.5)
    assert "its mean probability of 'rare' is 0.5, but that class is 0.118 of the scored rows (4.2x)" in n and 'far too often' in n, n
    pr = Predictions(y, ['common', 'rare'])
    for nm, d in (('plain', a), ('plain+prior', b)): pr.add(nm, 0, np.arange(len(y)), np.tile([.5, .5], (len(y), 1)), d)
    runs = _runs(pr); runs.attrs['mode'] = 'holdout'   # a hold-out's shares need not be the train split's (the demo's is balanced)
    assert not any(n.startswith("plain+prior: plain's probabilities") for n in _notes(summarize(runs, n_boot=100)))


def test_notes_on_derived_strategies_agree_in_number():
    "One strategy built on another's model: 'its s/run is what it adds'; two: 'their s/run is what they add' (a one-strategy run said 'their ... they')"
    from imbalance_fastai.verdict import _notes
    y, a, b = _sim(np.random.default_rng(5), n_rare=40)
    note = lambda runs: next(n for n in _notes(summarize(runs, n_boot=100)) if 'from a copy of another' in n)
    assert note(_runs(_preds(y, plain=a, **{'plain+prior': b}))).endswith(
        "plain+prior starts from a copy of another strategy's trained model (named below): its s/run is what it adds to that model.")
    assert note(_runs(_preds(y, plain=a, **{'plain+prior': b, 'tau-norm': b}))).endswith(
        "plain+prior, tau-norm start from a copy of another strategy's trained model (named below): their s/run is what they add to that model.")


def test_a_bound_that_excludes_zero_is_not_shown_as_zero():
    "A lower bound of +0.0004 marks 'better'; at three decimals it read '+0.000', so table and verdict show it with two significant digits"
    rng = np.random.default_rng(3)
    y, a, b = _sim(rng, n_rare=40, gain=.35)
    s = summarize(_runs(_preds(y, plain=a, good=b)), n_boot=100)
    s.loc['good', ['diff', 'diff_lo', 'diff_hi', 'vs_plain']] = [.08, .0004, .18, 'better']
    row = next(l for l in format_table(s).splitlines() if l.startswith('good'))
    assert '+0.080 [+0.0004, +0.180] better' in row and '+0.000,' not in row, row
    assert verdict(s).endswith('a difference of +0.080 (95% interval +0.0004 to +0.180).'), verdict(s)
    s.loc['good', ['diff_lo', 'diff_hi']] = [0., .18]   # a bound of exactly zero stays 0.000
    assert '[+0.000, +0.180]' in format_table(s)
