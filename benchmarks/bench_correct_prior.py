"""Speed and memory of `correct_prior` (Bayes prior-shift correction of probabilities) against its previous implementation, in one run.

    python benchmarks/bench_correct_prior.py      # -> benchmarks/correct_prior.md

The previous implementation copied the probabilities to float64 and built two more `(n, c)` float64 arrays; the current
one keeps float32 rows (what `get_preds` returns) in float32 and divides in place. Inputs: softmax rows of 10 classes
(and a binary model's positive-class column), float32, built before the timing. **CPU** is `time.process_time` of one
call after a warm-up call (the median of 3), one thread; **peak** is the call's `tracemalloc` peak above what was
allocated before it, in bytes per row; **|new-old|** the largest difference between the two results; **rows off 1**
the largest distance of a corrected softmax row's sum from 1.
"""
from __future__ import annotations
import os
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_v] = '1'
import argparse, platform, statistics, time, tracemalloc
from pathlib import Path
import numpy as np
from imbalance_fastai.prior import correct_prior, logit_shift, _check_probs, _sum_tol, _binary_positive
from imbalance_fastai.decisions import _np, _along

ROOT = Path(__file__).resolve().parents[1]
SHARES = np.array([.5, .2, .1, .05, .05, .04, .03, .015, .01, .005])

def baseline_correct_prior(probs, train_prior, target_prior, multilabel=False, axis=-1):
    "The baseline: correct_prior as it was before this change (a float64 copy of probs, then p*r and its normalised copy)"
    p = _np(probs)
    single = p.ndim==1 or p.shape[axis]==1
    _check_probs(p, softmax=not (multilabel or single), axis=axis, tol=_sum_tol(probs))
    s,t = _np(train_prior).reshape(-1),_np(target_prior).reshape(-1)
    if single: s,t = _binary_positive(s, t)
    r = np.exp(logit_shift(s, t, multilabel or single))
    if p.ndim>1: r = _along(r, axis, p.ndim)
    if multilabel or single: return p*r/(p*r + 1 - p)
    q = p*r
    return q/q.sum(axis, keepdims=True)

def _inputs(n, c, seed=0):
    rng = np.random.default_rng(seed)
    if c==1: return rng.random(n, dtype=np.float32), [.5, .5], [.98, .02]
    z = rng.standard_normal((n, c), dtype=np.float32)
    z -= z.max(1, keepdims=True); np.exp(z, out=z); z /= z.sum(1, keepdims=True)
    return z, np.full(c, 1/c), SHARES

def _measure(f, args):
    f(*args)   # warm-up: the page faults of fresh memory are not the method's
    tracemalloc.start(); res = f(*args); peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    times = []
    for _ in range(3):
        t0 = time.process_time(); f(*args); times.append(time.process_time()-t0)
    return res, statistics.median(times), peak

def _ms(t): return f"{t*1e3:.1f} ms" if t<.01 else f"{t*1e3:.0f} ms"

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='100000,1000000,10000000')
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'correct_prior.md'))
    a = p.parse_args()
    rows = []
    for c in (10, 1):
        for n in map(int, a.sizes.split(',')):
            args = _inputs(n, c)
            old,t_old,m_old = _measure(baseline_correct_prior, args)
            new,t_new,m_new = _measure(correct_prior, args)
            off = float(np.abs(new.sum(1)-1).max()) if c>1 else None
            rows.append((f"{'softmax, 10 classes' if c>1 else 'binary, (n,)'}", n, t_old, t_new, m_old/n, m_new/n, old.dtype, new.dtype,
                         float(np.abs(new-old).max()), off))
            print(rows[-1], flush=True)
    out = ["# `correct_prior`: the current implementation against the previous one", "",
           f"Written by `python benchmarks/bench_correct_prior.py` on {platform.machine()}, numpy {np.__version__}, one thread. "
           + ' '.join(__doc__.split('\n\n')[2].split()), "",
           "| probabilities | rows | CPU old | CPU new | speed-up | peak old (B/row) | peak new (B/row) | result old → new | abs(new-old) max | rows off 1 |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for kind,n,to,tn,mo,mn,do,dn,diff,off in rows:
        out.append(f"| {kind} | {n:,} | {_ms(to)} | {_ms(tn)} | {to/tn:.1f}× | {mo:.0f} | {mn:.0f} | {do} → {dn} | {diff:.1e} | {'' if off is None else f'{off:.1e}'} |")
    Path(a.out).write_text('\n'.join(out)+'\n')
    print(f"wrote {a.out}")

if __name__ == '__main__': main()
