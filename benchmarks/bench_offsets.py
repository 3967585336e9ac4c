"""Speed of `best_offsets` (coordinate search over per-class offsets) against the naive search it replaces, in one run.

    python benchmarks/bench_offsets.py      # -> benchmarks/offsets.md

The naive search tries every distinct decision of every class (n+1 offsets per class) and scores each with scikit-learn
(`balanced_accuracy_score`); its time is estimated as c x (n+1) x (time of one scikit-learn call, measured here), a lower
bound, since it leaves out making the decisions. `best_offsets` scores all candidates of a class from one `bincount`
and a cumulative sum (exhaustively up to 2**22/c candidates; for the million rows, a grid of 1024 and a local
refinement). Times are CPU seconds of one pass (`max_iter=1`), one numpy thread, with the balanced accuracy that pass
gains over the argmax.
"""
from __future__ import annotations
import os, platform, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
import numpy as np
import sklearn.metrics as skm
from imbalance_fastai.metrics import best_offsets
from imbalance_fastai.decisions import apply_offsets

ROOT = Path(__file__).resolve().parents[1]

def problem(n, c, seed=0):
    rng = np.random.default_rng(seed)
    prior = np.exp(-np.arange(c)/(c/3)); prior /= prior.sum()
    y = rng.choice(c, n, p=prior)
    z = rng.normal(size=(n, c)) + 1.5*np.eye(c)[y] + np.log(prior)
    return np.exp(z)/np.exp(z).sum(1, keepdims=True), y

def cpu(f):
    t = time.process_time(); r = f(); return time.process_time()-t, r

def main():
    rows = []
    for n, c in [(2_000, 3), (10_000, 10), (10_000, 100), (1_000_000, 20)]:
        P, y = problem(n, c)
        t_ours, o = cpu(lambda: best_offsets(P, y, max_iter=1))
        d = P.argmax(1)
        reps = max(1, int(2e6//n))
        t_call = cpu(lambda: [skm.balanced_accuracy_score(y, d) for _ in range(reps)])[0]/reps
        naive = c*(n+1)*t_call
        gain = skm.balanced_accuracy_score(y, apply_offsets(P, o)) - skm.balanced_accuracy_score(y, d)
        rows.append((n, c, t_ours, t_call*1e3, naive, naive/t_ours, gain))
    lines = ['| rows | classes | best_offsets, one pass (s) | one scikit-learn score (ms) | naive pass, estimated (s) | ratio | balanced accuracy gained |',
             '|---|---|---|---|---|---|---|']
    lines += [f"| {n:,} | {c} | {a:.3f} | {b:.2f} | {e:,.0f} | {r:,.0f}x | {g:+.3f} |" for n, c, a, b, e, r, g in rows]
    txt = '\n'.join(['# best_offsets against a naive coordinate search', '', __doc__.split('\n\n', 2)[2].strip(), '', *lines, '',
                     f"Measured on {platform.machine()}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
                     "by `python benchmarks/bench_offsets.py`.", ''])
    (ROOT/'benchmarks'/'offsets.md').write_text(txt)
    print(txt)

if __name__ == '__main__': main()
