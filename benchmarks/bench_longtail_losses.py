"""The long-tail losses against plain training, focal loss and oversampling, on long-tailed digits, over several seeds.

Data: `imbalance_fastai.data.long_tailed_digits(20)`: scikit-learn's 8x8 digits (no download), a train split whose
class sizes fall exponentially from the most common digit to the rarest (ratio 20), and a balanced hold-out of 50
rows per digit that no run sees while training. Model: fastai's `tabular_learner` with one hidden layer of 64 units
on the 64 pixels (normalised), `fit_one_cycle(EPOCHS, 1e-2)`, batch size 32, the same for every strategy; every
strategy makes the same number of optimizer steps (oversampling draws epochs as long as the train split). Nothing is
tuned on the hold-out. Each seed changes the initialisation, the batches and the resampling; the data split is fixed.

Scores on the hold-out: balanced accuracy (on a balanced set, the accuracy: the mean recall over the digits), and
minority recall, the mean recall of the rarest 30% of the digits of the train split (3 digits), each as mean ± sample
standard deviation over the seeds. Writes `benchmarks/longtail_losses.md`.

    python benchmarks/bench_longtail_losses.py             # 8 strategies x 10 seeds, about 3 minutes on one core
    python benchmarks/bench_longtail_losses.py --seeds 3 --strategies plain ldam-drw
"""
import argparse, math, platform, time
from pathlib import Path
import numpy as np, pandas as pd, torch
torch.set_num_threads(1)
import warnings
warnings.filterwarnings('ignore', category=FutureWarning)
import fastai
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.schedule import fit_one_cycle   # noqa: F401 (patches Learner.fit_one_cycle)
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from fastai.data.block import CategoryBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from imbalance_fastai.core import get_labels
from imbalance_fastai.data import long_tailed_digits
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.losses import FocalLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, DeferredReweighting

EPOCHS, LR, BS, LAYERS, RATIO = 30, 1e-2, 32, [64], 20.

# name: (what it is, loss from the DataLoaders or None for fastai's cross-entropy, callbacks)
STRATEGIES = {
    'plain': ("fastai's defaults: natural batches, cross-entropy", None, lambda: []),
    'focal': ("FocalLoss(gamma=2)", lambda dls: FocalLoss(2.), lambda: []),
    'class-balanced focal': ("FocalLoss(weight=class_weights(dls, 'effective', beta=0.9999))",
                             lambda dls: FocalLoss(2., class_weights(dls, 'effective', beta=.9999)), lambda: []),
    'oversample': ("OverSamplingCallback(): every class equally likely in each epoch", None, lambda: [OverSamplingCallback()]),
    'balanced softmax': ("BalancedSoftmaxLoss(dls) (Ren et al. 2020)", lambda dls: BalancedSoftmaxLoss(dls), lambda: []),
    'LDAM': ("LDAMLoss(dls) (Cao et al. 2019; max_m=0.5, s=30)", lambda dls: LDAMLoss(dls), lambda: []),
    'LDAM-DRW': ("LDAMLoss(dls) + DeferredReweighting() (weights from 80% of the fit)", lambda dls: LDAMLoss(dls),
                 lambda: [DeferredReweighting()]),
    'CE-DRW': ("cross-entropy + DeferredReweighting()", None, lambda: [DeferredReweighting()]),
}
NEW = ('balanced softmax', 'LDAM', 'LDAM-DRW', 'CE-DRW')

def _data():
    trn, tst = long_tailed_digits(RATIO, seed=0)
    df = pd.concat([trn, tst], ignore_index=True)
    splits = (list(range(len(trn))), list(range(len(trn), len(df))))
    to = TabularPandas(df, procs=[Normalize], cont_names=[c for c in df.columns if c!='label'], y_names='label',
                       y_block=CategoryBlock(), splits=splits)
    return trn, tst, to

def run_one(name, to, seed, minority):
    "Train one learner as strategy `name` says, with `seed`; its scores on the hold-out"
    _, loss_fn, cbs_fn = STRATEGIES[name]
    set_seed(seed, reproducible=True)
    dls = to.dataloaders(bs=BS, val_bs=512, num_workers=0)
    learn = tabular_learner(dls, layers=LAYERS, loss_func=loss_fn(dls) if loss_fn else None, cbs=cbs_fn())
    t0 = time.process_time()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(EPOCHS, LR, cbs=_NoValid())
        probs, targs = learn.get_preds()
    secs = time.process_time() - t0
    pred, y = probs.argmax(1).numpy(), targs.view(-1).numpy()
    recall = np.array([(pred[y==c]==c).mean() for c in range(probs.shape[1])])
    return {'strategy': name, 'seed': seed, 'balanced_accuracy': recall.mean(), 'minority_recall': recall[minority].mean(),
            'accuracy': (pred==y).mean(), 'cpu_seconds': secs}

class _NoValid(Callback):
    "Skip the validation epochs of the fit (the hold-out is scored once, after training, with `get_preds`)"
    def before_validate(self): raise CancelValidException()

def _ms(v): return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v)>1 else f"{v[0]:.3f}"

def main(seeds=10, strategies=None, out=Path(__file__).parent/'longtail_losses.md'):
    strategies = list(strategies or STRATEGIES)
    trn, tst, to = _data()
    lbls = get_labels(to.train)
    k = math.ceil(.3*lbls.c)
    minority = np.argsort(lbls.counts, kind='stable')[:k]
    counts = dict(zip(lbls.vocab, lbls.counts.tolist()))
    print(f"train counts {counts}; hold-out {len(tst)} rows; minority digits {[lbls.vocab[i] for i in minority]}", flush=True)
    start, rows = time.perf_counter(), []
    for name in strategies:
        for seed in range(seeds):
            rows.append(run_one(name, to, seed, minority))
            r = rows[-1]
            print(f"{name:>22} seed {seed}: balanced acc {r['balanced_accuracy']:.3f}, minority recall "
                  f"{r['minority_recall']:.3f} ({r['cpu_seconds']:.1f} s)", flush=True)
    runs = pd.DataFrame(rows)
    g = runs.groupby('strategy', sort=False)
    plain = g.get_group('plain') if 'plain' in g.groups else None
    table = ["| strategy | what it is | balanced accuracy | minority recall | vs plain (balanced acc.) | CPU s/run |",
             "|---|---|---|---|---|---|"]
    for name, d in g:
        diff = ''
        if plain is not None and name!='plain':
            dv = d.balanced_accuracy.to_numpy() - plain.set_index('seed').loc[d.seed, 'balanced_accuracy'].to_numpy()
            diff = f"{dv.mean():+.3f} ± {dv.std(ddof=1):.3f}" if len(dv)>1 else f"{dv[0]:+.3f}"
        bold = lambda s: f"**{s}**" if name in NEW else s
        table.append(f"| {bold(name)} | {STRATEGIES[name][0]} | {_ms(d.balanced_accuracy.to_numpy())} | "
                     f"{_ms(d.minority_recall.to_numpy())} | {diff} | {d.cpu_seconds.mean():.1f} |")
    total = time.perf_counter() - start
    md = "\n".join([
        "# Long-tail losses on long-tailed digits",
        "",
        f"Written by `benchmarks/bench_longtail_losses.py` (fastai {fastai.__version__}, torch {torch.__version__}, "
        f"{platform.machine()}, one thread; {len(runs)} runs in {total/60:.1f} min).",
        "",
        f"Train split: scikit-learn's digits with class sizes falling exponentially from {int(lbls.counts.max())} rows to "
        f"{int(lbls.counts.min())} (ratio {RATIO:g}), {len(lbls)} rows; hold-out: {len(tst)} rows, 50 per digit, never "
        f"trained on. `tabular_learner(layers={LAYERS})`, `fit_one_cycle({EPOCHS}, {LR:g})`, batch size {BS}, the same "
        f"optimizer steps for every strategy; seeds 0-{seeds-1} (initialisation, batches, resampling). Mean ± standard "
        f"deviation over the {seeds} seeds; 'vs plain' is the mean ± standard deviation of the paired difference (same "
        "seed) in balanced accuracy. "
        f"Minority recall: the mean recall of the rarest 30% of the digits in the train split "
        f"({', '.join(str(lbls.vocab[i]) for i in minority)}). The new losses are in bold. `AsymmetricLoss` is for "
        "multi-label data and is not in this single-label comparison. LDAM runs here on fastai's ordinary linear head; "
        "the paper pairs it with a normalised (cosine) last layer, which `s=30` is scaled for.",
        "",
        *table, ""])
    out.write_text(md)
    runs.to_csv(out.with_suffix('.csv'), index=False, float_format='%.5g')
    print(md)
    print(f"wrote {out} and {out.with_suffix('.csv')}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help='seeds per strategy (at least 3 for a standard deviation worth reading)')
    p.add_argument('--strategies', nargs='*', choices=list(STRATEGIES), help='strategies to run (default: all)')
    a = p.parse_args()
    main(a.seeds, a.strategies)
