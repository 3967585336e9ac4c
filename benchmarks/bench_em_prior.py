"""Speed of `em_prior` (SQUAREM-accelerated EM, two matrix-vector products per step) against its previous implementation, in one run.

    python benchmarks/bench_em_prior.py      # -> benchmarks/em_prior.md

Probabilities are the exact Bayes posteriors, for a uniform train prior, of rows drawn at the 10 class shares
[0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.015, 0.01, 0.005]: class k's score is N(1, 1) on column k and N(0, 1)
elsewhere, so the classes overlap and plain EM needs hundreds of steps at `tol=1e-8`. Both implementations run with
their defaults (`max_iter=1000`, `tol=1e-8`), on float32 (what `get_preds` returns) and float64 probabilities.
**CPU** is `time.process_time` of the call, one BLAS/OpenMP thread; **steps** are EM steps (old) and evaluations of
the EM map (new: a SQUAREM cycle takes three); **peak** is the call's `tracemalloc` peak above what was allocated
before it, in bytes per row; **|new-old|** is the largest difference between the two priors, and **|new-true|**,
**|old-true|** their distance to the fixed point (the textbook update run to `tol=1e-13`, at 10^5 rows only). The
probabilities themselves are built before the timing and not counted.
"""
from __future__ import annotations
import os
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_v] = '1'
import argparse, platform, time, tracemalloc
from pathlib import Path
import numpy as np
from imbalance_fastai.calibration import em_prior
from imbalance_fastai.decisions import _np
from imbalance_fastai.prior import _check_probs, _sum_tol

ROOT = Path(__file__).resolve().parents[1]
SHARES = np.array([.5, .2, .1, .05, .05, .04, .03, .015, .01, .005])
OLD_LIMIT_S = 300   # the old implementation is skipped where its time, extrapolated from 10x fewer rows, is longer

def baseline_em_prior(probs, train_prior, multilabel=False, max_iter=1000, tol=1e-8):
    "The baseline: em_prior as it was before this change (plain EM on a float64 copy of probs, (n, c) buffers updated in place)"
    P,s = _np(probs),_np(train_prior).reshape(-1)
    if P.size==0 or P.ndim>2: raise ValueError(f"probs must be non-empty probabilities (n, c) (or a binary model's (n,)), got shape {P.shape}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter<1: raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if P.ndim==1 and not multilabel:
        P = np.stack([1-P, P], 1)
        if len(s)==1: s = np.r_[1-s, s]
    if P.ndim==1: P = P[:,None]
    _check_probs(P, softmax=not multilabel, tol=_sum_tol(probs))
    if len(s)!=P.shape[1]: raise ValueError(f"train_prior has {len(s)} values but probs has {P.shape[1]} columns")
    if multilabel:
        if ((s<=0)|(s>=1)).any(): raise ValueError(f"per-label train priors must be inside (0,1), got {np.round(s, 4).tolist()}")
        pi,odds_s = s.copy(),s/(1-s)
        A,B = np.empty(P.shape, np.result_type(P, s)),np.empty(P.shape, np.result_type(P, s))
        for _ in range(max_iter):
            r = pi/(1-pi)/odds_s
            np.multiply(P, r, out=A); np.add(A, 1, out=B); B -= P; A /= B
            new = np.clip(A.mean(0), 1e-12, 1-1e-12)
            done = np.abs(new-pi).max()<tol
            pi = new
            if done: break
        return pi
    if (s<0).any() or s.sum()<=0: raise ValueError(f"train_prior must be >= 0 with a positive sum, got {np.round(s, 4).tolist()}")
    s = s/s.sum()
    pi = s.copy()
    w0 = np.divide(1., s, out=np.zeros_like(s), where=s>0)
    q = np.empty(P.shape, np.result_type(P, s))
    for _ in range(max_iter):
        COUNT[0] += 1
        np.multiply(P, pi*w0, out=q)
        q /= np.maximum(q.sum(1, keepdims=True), np.finfo(np.float64).tiny)
        new = q.mean(0)
        done = np.abs(new-pi).max()<tol
        pi = new
        if done: break
    return pi

def probs(n, dtype, seed=0, chunk=1<<20):
    "Bayes posteriors (n, 10) for a uniform prior of rows drawn at SHARES, built in chunks in `dtype`"
    rng = np.random.default_rng(seed)
    P = np.empty((n, len(SHARES)), dtype)
    for a in range(0, n, chunk):
        m = min(chunk, n-a)
        z = rng.standard_normal((m, len(SHARES)))
        z[np.arange(m), rng.choice(len(SHARES), m, p=SHARES)] += 1.   # scores N(1,1) on the true class
        z -= z.max(1, keepdims=True); np.exp(z, out=z); z /= z.sum(1, keepdims=True)   # posteriors: softmax of the log-likelihoods
        P[a:a+m] = z
    return P


def measure(f):
    COUNT[0] = 0
    tracemalloc.start(); base = tracemalloc.get_traced_memory()[0]; tracemalloc.reset_peak()
    t = time.process_time(); r = f(); cpu = time.process_time()-t
    peak = tracemalloc.get_traced_memory()[1]-base; tracemalloc.stop()
    return r, cpu, peak, COUNT[0]

COUNT = [0]
def counting_new():
    "Count the new implementation's evaluations of the EM map (its `_softmax_map`'s function, wrapped)"
    import imbalance_fastai.calibration as cal
    make = cal._softmax_map
    def wrapped(P, w0):
        F = make(P, w0)
        def G(pi, ref=None): COUNT[0] += 1; return F(pi, ref)
        return G
    cal._softmax_map = wrapped

def textbook(P, s, tol=1e-13):
    P, pi = P.astype(np.float64), s.copy()
    for _ in range(100_000):
        new = ((q := P*(pi/s))/q.sum(1, keepdims=True)).mean(0)
        if np.abs(new-pi).max() < tol: return new
        pi = new
    return pi

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--sizes', default='100000,1000000,10000000'); args = ap.parse_args()
    counting_new()
    s = np.full(len(SHARES), .1)
    rows, notes, old_rate = [], [], {}
    for n in [int(x) for x in args.sizes.split(',')]:
        for dtype in (np.float32, np.float64):
            P = probs(n, dtype)
            new, t_new, m_new, k_new = measure(lambda: em_prior(P, s))
            est = old_rate.get(dtype.__name__, 0)*n
            if est > OLD_LIMIT_S:
                notes.append(f"the old implementation at {n:,} rows, {dtype.__name__}: skipped, {est:.0f} s extrapolated from 10x fewer rows")
                old, t_old, m_old, k_old = None, np.nan, np.nan, None
            else:
                old, t_old, m_old, k_old = measure(lambda: baseline_em_prior(P, s))
                old_rate[dtype.__name__] = t_old/n
            true = textbook(P, s) if n <= 100_000 else None
            rows.append(dict(n=n, dt=dtype.__name__, t_old=t_old, t_new=t_new, m_old=m_old/n, m_new=m_new/n, k_old=k_old, k_new=k_new,
                             diff=np.nan if old is None else np.abs(new-old).max(),
                             e_new=np.nan if true is None else np.abs(new-true).max(), e_old=np.nan if true is None or old is None else np.abs(old-true).max()))
            r = rows[-1]; print(r, flush=True)
            del P
    f = lambda x, fmt: '' if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, fmt)
    lines = ['| rows | dtype | old CPU (s) | new CPU (s) | new/old | old steps | new evaluations | old peak (B/row) | new peak (B/row) | \\|new-old\\| | \\|old-true\\| | \\|new-true\\| |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['dt']} | {f(r['t_old'], '.2f') or 'skipped'} | {r['t_new']:.2f} | {f(r['t_new']/r['t_old'], '.3f')} | {f(r['k_old'], 'd')} | {f(r['k_new'], 'd')} | "
                     f"{f(r['m_old'], '.0f')} | {r['m_new']:.1f} | {f(r['diff'], '.1e')} | {f(r['e_old'], '.1e')} | {f(r['e_new'], '.1e')} |")
    import numpy
    txt = '\n'.join(['# em_prior: SQUAREM and two products a step, against the previous plain EM', '',
                     f"Generated by `python benchmarks/bench_em_prior.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
                     f"{os.cpu_count()} CPU cores shared with other jobs, numpy {numpy.__version__}, Python {platform.python_version()}; "
                     f"load average (1 min) at the end {os.getloadavg()[0]:.1f}.", '',
                     __doc__.split('\n\n', 2)[2].strip(), '', *lines, '', *[f"- {x}" for x in notes], ''])
    (ROOT/'benchmarks'/'em_prior.md').write_text(txt)
    print(txt)

if __name__ == '__main__': main()
