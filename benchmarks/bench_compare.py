"""How long `imbalance-fastai compare` takes, as a user runs it: `--help`, `--quick` on scikit-learn's breast-cancer table,
and the full default (`DEFAULT_STRATEGIES` that run on 80,000 train rows, x 5 folds) on a 100,000-row table.

    python benchmarks/bench_compare.py                 # all three -> benchmarks/compare.md
    python benchmarks/bench_compare.py --skip-full     # --help and --quick only (a minute)
    taskset -c 0,1 python benchmarks/bench_compare.py  # on a bigger machine: pin to 2 cores, as the target is stated

Each command runs in a subprocess through the installed console script (or `python -m imbalance_fastai`), so the times
include starting Python and importing pandas, PyTorch and fastai. On a shared machine the wall time moves with the load:
the load average before and after, the CPU time of the command and the cores it may use are written next to it, and the
per-strategy seconds come from the run's own `runs.csv`.

The 100,000-row table is synthetic (no download): 8 numeric columns, 2 categorical ones and a binary label with about 9%
positives that depends on a few columns non-linearly, like a churn table.
"""
from __future__ import annotations
import argparse, os, platform, resource, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _command():
    exe = shutil.which('imbalance-fastai') or str(Path(sys.executable).parent/'imbalance-fastai')
    return [exe] if Path(exe).exists() else [sys.executable, '-m', 'imbalance_fastai']


def churn_table(n=100_000, seed=0)->pd.DataFrame:
    "A synthetic churn-like table: 8 numeric and 2 categorical columns, about 9% 'churn'"
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    plan = rng.choice(list('abcd'), n)
    logit = 1.5*X[:,0] - X[:,1] + 0.5*X[:,2]*X[:,3] - 3.5 + 0.5*(plan=='d')
    y = np.where(rng.random(n) < 1/(1+np.exp(-logit)), 'churn', 'stay')
    return pd.DataFrame(X, columns=[f'x{i}' for i in range(8)]).assign(plan=plan, region=rng.choice(list('nsew'), n), y=y)


def _timed(args, cwd):
    "Wall time, CPU time (children), load average before/after, stdout, stderr of one command"
    load0 = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(_command() + args, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0: sys.exit(f"{' '.join(args)} failed with status {r.returncode}:\n{r.stderr[-3000:]}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return dict(wall=wall, cpu=cpu, load=(load0, os.getloadavg()[0]), out=r.stdout, err=r.stderr)


def _verdict(out): return next((l for l in out.splitlines() if l.startswith('Verdict:')), '(no verdict)')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--skip-full', action='store_true', help='skip the full default run on 100,000 rows')
    p.add_argument('--rows', type=int, default=100_000, help='rows of the synthetic table (default: 100,000)')
    p.add_argument('--out', type=Path, default=ROOT/'benchmarks'/'compare.md', help='markdown file to write')
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        h = _timed(['--help'], tmp)
        rows.append(('`imbalance-fastai --help`', '-', h))
        from sklearn.datasets import load_breast_cancer
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        X.assign(target=np.where(y == 0, 'malignant', 'benign')).to_csv(tmp/'breast_cancer.csv', index=False)
        q = _timed(['compare', 'breast_cancer.csv', '--label', 'target', '--quick', '--no-progress'], tmp)
        qr = pd.read_csv(tmp/'breast_cancer_comparison_quick'/'runs.csv')
        rows.append(('`compare breast_cancer.csv --label target --quick`', f"569 rows: {qr.strategy.nunique()} strategies × {qr.fold.nunique()} folds", q))
        notes.append(f"--quick on breast cancer: {_verdict(q['out'])}")
        if not args.skip_full:
            churn_table(args.rows).to_csv(tmp/'churn.csv', index=False)
            f = _timed(['compare', 'churn.csv', '--label', 'y', '--no-progress'], tmp)
            runs = pd.read_csv(tmp/'churn_comparison'/'runs.csv')
            rows.append((f'`compare churn.csv --label y` (the defaults)', f"{args.rows:,} rows: {runs.strategy.nunique()} strategies × 5 folds", f))
            per = runs.groupby('strategy', sort=False).seconds.agg(['mean', 'sum'])
            notes.append(f"full default on {args.rows:,} rows: {_verdict(f['out'])}")
            notes += [f"full default: {l.strip()}" for l in f['out'].splitlines() if ' left out: ' in l]
            summ = pd.read_csv(tmp/'churn_comparison'/'comparison.csv', index_col='strategy')
            cell = lambda nm: f"{nm} {summ.loc[nm, 'balanced_accuracy']:.3f} / {summ.loc[nm, 'log_loss']:.3f} / {summ.loc[nm, 'ece']:.3f}"
            pairs = [(a, b) for a, b in (('plain', 'plain+prior'), ('oversample', 'oversample+prior')) if {a, b} <= set(summ.index)]
            if pairs: notes.append('full default, balanced acc / log-loss / ECE (PriorCorrection: probabilities for the data\'s prior, '
                                   'decisions of the balanced model): ' + '; '.join(f"{cell(a)} -> {cell(b)}" for a, b in pairs))
            notes.append('seconds per run (mean over folds) / in all: ' +
                         ', '.join(f"{k} {v['mean']:.1f}/{v['sum']:.0f}" for k, v in per.iterrows()))
    md = ['| command | data | wall time | CPU time | load average before/after |', '|:---|:---|---:|---:|---:|']
    md += [f"| {c} | {d} | {r['wall']:.1f} s | {r['cpu']:.1f} s | {r['load'][0]:.1f}/{r['load'][1]:.1f} |" for c, d, r in rows]
    md += ['', f"Measured {datetime.now(timezone.utc):%Y-%m-%d} by `python benchmarks/bench_compare.py` on {cores} usable CPU cores "
           f"({os.cpu_count()} in the machine, {platform.machine()}, Python {platform.python_version()}); times include starting "
           "Python and importing pandas, PyTorch and fastai. The machine is shared: a load average above the number of cores "
           "means other jobs were competing for them.", ''] + [f'- {n}' for n in notes]
    args.out.write_text('\n'.join(md) + '\n')
    print('\n'.join(md))


if __name__ == '__main__': main()
