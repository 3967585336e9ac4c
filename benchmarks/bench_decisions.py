"""Probabilities vs decisions on long-tailed digits: which recipe gives calibrated probabilities, which balanced decisions, and both.

    python benchmarks/bench_decisions.py              # 5 seeds -> benchmarks/decisions.md
    python benchmarks/bench_decisions.py --seeds 2    # quicker

The data are `long_tailed_digits()` (scikit-learn's digits, train split long-tailed 124 : 6 rows, a balanced test split of
50 rows per digit). A quarter of the train split, stratified, is the validation set (for `tune_threshold` and
`calibrate`); the rest (pixels constant there left out: `Normalize` would divide them by 1e-7 elsewhere) trains a `tabular_learner(layers=[32])` for 5 epochs (bs 32, lr 1e-2, as the demo). Per seed, two
models are trained, plainly and with `OverSamplingCallback()` + `PriorCorrection()`, and each recipe is one way of
predicting with them. Decisions are scored on the balanced test split (balanced accuracy; minority recall: the mean
recall of the rarest 30% of the train split's digits). Probabilities are scored at the train split's prior, the one a
deployment like the train data has: the balanced test rows weighted by `prior_train(y)/prior_test(y)` (weighted
accuracy, log-loss, top-label ECE, and the probability mass given to the three rarest digits against their share).
"""
from __future__ import annotations
import argparse, platform, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
import sklearn.metrics as skm
warnings.filterwarnings('ignore')
from fastai.data.block import CategoryBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
import fastai.callback.schedule, fastai.callback.progress  # noqa: F401 (patch Learner: fit_one_cycle, no_bar)
from imbalance_fastai.core import get_labels
from imbalance_fastai.data import long_tailed_digits, stratified_split
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection
from imbalance_fastai.metrics import minority_classes, minority_recall
import imbalance_fastai.calibration  # noqa: F401 (patches Learner.calibrate)

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    'plain': "natural batches, argmax",
    'plain + PriorCorrection()': "natural batches; decisions re-weighted to a uniform prior (post-hoc logit adjustment)",
    "plain + tune_threshold('balanced_accuracy')": "natural batches; per-class offsets tuned on the validation set",
    'oversample': "OverSamplingCallback(), argmax, no correction",
    "oversample + PriorCorrection(decision='accuracy')": "probabilities corrected, argmax of them",
    'oversample + PriorCorrection()': "probabilities corrected, decisions of the balanced model (the default)",
    'oversample + PriorCorrection() + calibrate()': "and a temperature fitted on the validation set",
}

def weighted_ece(P, y, w, n_bins=10):
    conf, hit = P.max(1), (P.argmax(1) == y).astype(float)
    b = np.minimum((conf*n_bins).astype(int), n_bins-1)
    W = np.bincount(b, w, n_bins)
    gap = np.abs(np.bincount(b, w*hit, n_bins) - np.bincount(b, w*conf, n_bins))
    return gap.sum()/W.sum()

def scores(P, d, y, w, prior, minority):
    P = P/P.sum(1, keepdims=True)
    rare = np.argsort(prior)[:3]
    return {'balanced acc': skm.balanced_accuracy_score(y, d), 'minority recall': minority_recall(y, d, minority),
            'accuracy at the train prior': np.average(d == y, weights=w),
            'log-loss at the train prior': skm.log_loss(y, P, sample_weight=w, labels=range(P.shape[1])),
            'ECE at the train prior': weighted_ece(P, y, w),
            'p(3 rarest) / their share': np.average(P[:, rare].sum(1), weights=w)/prior[rare].sum()}

def fit(dls, cbs, seed):
    set_seed(seed)
    learn = tabular_learner(dls, layers=[32], cbs=cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, 1e-2)
    return learn

def run_seed(seed):
    trn, tst = long_tailed_digits()
    cont = [c for c in trn.columns if c != 'label']
    tr, va = stratified_split(trn.label, valid_pct=.25, seed=seed)
    cont = [c for c in cont if trn.iloc[tr][c].std() > 0]   # a pixel always 0 in train would be normalised by 1e-7 elsewhere
    df = pd.concat([trn.iloc[tr], trn.iloc[va]], ignore_index=True)
    to = TabularPandas(df, procs=[Normalize], cont_names=cont, y_names='label', y_block=CategoryBlock(),
                       splits=[list(range(len(tr))), list(range(len(tr), len(df)))])
    dls = to.dataloaders(bs=32, num_workers=0)
    lbls = get_labels(dls)
    prior, minority = lbls.prior, minority_classes(lbls)
    tdl = dls.test_dl(tst, with_labels=True)
    y = tst.label.map({v: i for i, v in enumerate(dls.vocab)}).to_numpy().astype(int)
    w = prior[y]/np.bincount(y, minlength=len(prior))[y]*len(y)     # the balanced test rows weighted to the train prior
    def pred(learn):
        with learn.no_bar(): p, _, d = learn.get_preds(dl=tdl, with_decoded=True)
        return scores(p.double().numpy(), d.numpy(), y, w, prior, minority)
    res = {}
    plain = fit(dls, [], seed)
    res['plain'] = pred(plain)
    plain.add_cb(PriorCorrection()); res['plain + PriorCorrection()'] = pred(plain); plain.remove_cb(plain.prior_correction)
    with plain.no_bar(): plain.tune_threshold('balanced_accuracy')
    res["plain + tune_threshold('balanced_accuracy')"] = pred(plain)
    os_ = fit(dls, [OverSamplingCallback(seed=seed), PriorCorrection()], seed)
    os_.prior_correction.enabled = False; res['oversample'] = pred(os_); os_.prior_correction.enabled = True
    os_.remove_cb(os_.prior_correction); os_.add_cb(PriorCorrection(decision='accuracy'))
    res["oversample + PriorCorrection(decision='accuracy')"] = pred(os_)
    os_.remove_cb(os_.prior_correction); os_.add_cb(PriorCorrection())
    res['oversample + PriorCorrection()'] = pred(os_)
    with os_.no_bar(): T = os_.calibrate()
    res['oversample + PriorCorrection() + calibrate()'] = pred(os_)
    return res, T

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--out', type=Path, default=ROOT/'benchmarks'/'decisions.md')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    start, rows, temps = time.perf_counter(), [], []
    for seed in range(args.seeds):
        res, T = run_seed(seed)
        temps.append(T)
        rows += [{'recipe': k, 'seed': seed, **v} for k, v in res.items()]
    df = pd.DataFrame(rows)
    cols = [c for c in df.columns if c not in ('recipe', 'seed')]
    g = df.groupby('recipe', sort=False)[cols]
    m, s = g.mean(), g.std()
    lines = ['| recipe | ' + ' | '.join(cols) + ' |', '|---|' + '---|'*len(cols)]
    lines += [f"| `{r}` | " + ' | '.join(f"{m.loc[r, c]:.3f} ± {s.loc[r, c]:.3f}" for c in cols) + ' |' for r in m.index]
    txt = '\n'.join([f"# Probabilities vs decisions on long-tailed digits ({args.seeds} seeds, mean ± std)", '',
                     __doc__.split('\n\n', 2)[2].strip(), '', *lines, '',
                     f"Temperatures fitted by `calibrate()`: {', '.join(f'{t:.2f}' for t in temps)}. "
                     f"Ran in {time.perf_counter()-start:.0f} s on {platform.machine()} ({platform.python_version()}), "
                     f"torch threads 1, by `python benchmarks/bench_decisions.py --seeds {args.seeds}`.", ''])
    args.out.write_text(txt)
    print(txt)

if __name__ == '__main__': main()
