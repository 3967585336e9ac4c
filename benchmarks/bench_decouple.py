"""Decoupled classifier re-training on long-tailed digits: cRT and τ-norm beside plain training and oversampling.

The data is the demo's (`imbalance-fastai demo`): `long_tailed_digits(20)`, scikit-learn's digits with a long-tailed
train split (ratio 20: 128 rows of the commonest digit, 6 of the rarest) and a balanced hold-out of 50 rows per digit,
never resampled and never used for tuning. The model is the demo's too: `tabular_learner(layers=[32])`,
`fit_one_cycle(5, 1e-2)`, bs 32; a second block repeats the recipes with fastai's default tabular model
(`layers=[200,100]`) and weight decay 0.3, which gave the best features for re-training in a small search.

Recipes (each seed trains its own model; cRT and τ-norm start from that seed's plain model):
- plain: natural batches.
- oversample: `OverSamplingCallback()` for the whole training.
- plain + cRT: then `learn.retrain_classifier(epochs, lr=3e-2)`: the classifier re-initialised and re-trained on
  class-balanced batches, the rest frozen.
- plain + τ-norm (τ=1): then `tau_normalize(learn, 1)`.
- plain + τ-norm (tuned): the plain model trained on 80% of the train split, τ tuned by `tau_normalize(learn)` on the
  other 20% (a stratified, long-tailed validation split): the honest way to choose τ without touching the hold-out.
- plain + cRT + τ-norm (τ=1).

Scores on the hold-out: balanced accuracy, macro-F1 and the mean recall of the three rarest digits, mean ± std over
`--seeds` seeds. Writes `benchmarks/decouple.md`.

    python benchmarks/bench_decouple.py        # about 2 minutes on one busy core
"""
from __future__ import annotations
import argparse, platform, time, warnings
from pathlib import Path
import pandas as pd, torch
torch.set_num_threads(1)
warnings.filterwarnings('ignore')
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score
from fastai.torch_core import set_seed
from fastai.data.block import CategoryBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.callback.schedule import fit_one_cycle   # noqa: F401 (patches Learner.fit_one_cycle)
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from imbalance_fastai.data import long_tailed_digits, stratified_split
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.decouple import tau_normalize


class Setup:
    "The data and the training settings of one block of the table"
    def __init__(self, layers, wd, epochs=5, lr=1e-2, bs=32, crt_epochs=10, crt_lr=3e-2):
        self.layers,self.wd,self.epochs,self.lr,self.bs,self.crt_epochs,self.crt_lr = layers,wd,epochs,lr,bs,crt_epochs,crt_lr
        self.trn,self.tst = long_tailed_digits(20, seed=0)
        self.cont = [c for c in self.trn.columns if c != 'label']
        self.vocab = sorted(self.trn.label.unique())
        counts = self.trn.label.value_counts()
        self.rare = list(counts.sort_values(kind='stable').index[:3])

    def tabular(self, train_rows, valid):
        df = pd.concat([train_rows, valid], ignore_index=True)
        return TabularPandas(df, procs=[Normalize], cont_names=self.cont, y_names='label', y_block=CategoryBlock(vocab=self.vocab),
                             splits=[list(range(len(train_rows))), list(range(len(train_rows), len(df)))])

    def fit(self, seed, cbs=(), train_rows=None, valid=None):
        "A learner trained on `train_rows` (the whole train split by default), validating on `valid` (the hold-out)"
        set_seed(seed)
        to = self.tabular(self.trn if train_rows is None else train_rows, self.tst if valid is None else valid)
        learn = tabular_learner(to.dataloaders(bs=self.bs, val_bs=1024), layers=self.layers, wd=self.wd, cbs=list(cbs))
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(self.epochs, self.lr)
        return learn

    def crt(self, learn, seed):
        with learn.no_bar(), learn.no_logging(): learn.retrain_classifier(self.crt_epochs, lr=self.crt_lr, seed=seed)

    def score(self, learn):
        "Scores on the balanced hold-out"
        dl = learn.dls.test_dl(self.tst)
        with learn.no_bar(): p, _ = learn.get_preds(dl=dl)
        y = self.tst.label.map({v: i for i, v in enumerate(self.vocab)}).to_numpy()
        pred = p.argmax(1).numpy()
        rec = recall_score(y, pred, average=None, labels=range(len(self.vocab)))
        return {'balanced_accuracy': balanced_accuracy_score(y, pred), 'macro_f1': f1_score(y, pred, average='macro'),
                'minority_recall': rec[[self.vocab.index(r) for r in self.rare]].mean()}


def recipes(s:Setup, seed:int):
    "Scores of every recipe for one seed"
    res = {}
    learn = s.fit(seed)
    res['plain'] = s.score(learn)
    state = {k: v.clone() for k, v in learn.model.state_dict().items()}
    tau_normalize(learn, 1.); res['plain + τ-norm (τ=1)'] = s.score(learn)
    learn.model.load_state_dict(state)
    s.crt(learn, seed); res['plain + cRT'] = s.score(learn)
    tau_normalize(learn, 1.); res['plain + cRT + τ-norm (τ=1)'] = s.score(learn)
    res['oversample'] = s.score(s.fit(seed, [OverSamplingCallback(seed=seed)]))
    ti, vi = stratified_split(s.trn.label, .2, seed=seed)
    tuned = s.fit(seed, train_rows=s.trn.iloc[ti], valid=s.trn.iloc[vi])
    tau = tau_normalize(tuned)   # tuned on the 20% held out of train, never on the hold-out
    res['plain + τ-norm (τ tuned on 20% of train)'] = {**s.score(tuned), 'tau': tau}
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'decouple.md')
    a = p.parse_args(argv)
    start = time.perf_counter()
    blocks = [("the demo's model: `tabular_learner(layers=[32])`, wd 0.01 (fastai's default)", Setup([32], None)),
              ("fastai's default tabular model `layers=[200,100]`, wd 0.3, cRT for 20 epochs", Setup([200, 100], .3, crt_epochs=20))]
    out = []
    for title, s in blocks:
        rows = {}
        for seed in range(a.seeds):
            for k, v in recipes(s, seed).items(): rows.setdefault(k, []).append(v)
            print(f"{title[:40]}... seed {seed} done ({time.perf_counter()-start:.0f} s)", flush=True)
        out.append((title, {k: pd.DataFrame(v) for k, v in rows.items()}))
    write(a, out, time.perf_counter()-start, s)


def write(a, blocks, secs, s):
    lines = ['# Decoupled classifier re-training on long-tailed digits', '',
             f"Written by `benchmarks/bench_decouple.py`. `long_tailed_digits(20)`: {len(s.trn)} train rows (long-tailed, "
             f"ratio 20), scored on the balanced hold-out of {len(s.tst)} rows, never used for training or tuning. "
             f"`fit_one_cycle(5, 1e-2)`, bs 32; cRT: `learn.retrain_classifier(epochs, lr=3e-2)` on class-balanced batches "
             f"(`strategy='oversample'`). Mean ± std over {a.seeds} seeds. Minority recall: mean recall of the rarest digits "
             f"{', '.join(map(repr, s.rare))}. Δ vs plain: balanced accuracy minus that of plain training "
             f"of the same model (the `plain` row of the same block); the two blocks train different models.", '']
    for title, df in blocks:
        plain = df['plain'].balanced_accuracy.mean()
        lines += [f"**{title}**", '', '| recipe | balanced acc | macro-F1 | minority recall | Δ vs plain (same model) |',
                  '|:---|---:|---:|---:|---:|']
        for k, d in df.items():
            c = [f"{d[m].mean():.3f} ± {d[m].std(ddof=1) if len(d) > 1 else 0:.3f}" for m in ('balanced_accuracy', 'macro_f1', 'minority_recall')]
            name = k + (f" (τ chosen: {', '.join(f'{t:g}' for t in d.tau)})" if 'tau' in d else '')
            lines.append(f"| {name} | " + ' | '.join(c) + f" | {d.balanced_accuracy.mean()-plain:+.3f} |")
        lines.append('')
    lines.append(f"torch {torch.__version__}, {platform.machine()}, one thread; whole run {secs/60:.1f} min. "
                 "Regenerate: `python benchmarks/bench_decouple.py`.")
    a.out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
