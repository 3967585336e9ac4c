"""Index generation for one epoch, and label extraction, against the usual baselines, measured in one run.

`python benchmarks/bench_sampling.py` writes `benchmarks/sampling.md` (shown by the README) and prints it.

Timings on a shared machine move with its load, so every time is reported as a ratio to `np.random.permutation(n)`
measured in the same rounds (the methods of one size run one after the other, round after round), as the median of the
rounds, next to the raw seconds; the load average is recorded during the run.
"""
from __future__ import annotations
import argparse, os, platform, tempfile, time, tracemalloc, types, warnings
from datetime import datetime, timezone
from pathlib import Path
import numpy as np, torch, fastai
from PIL import Image
from torch.utils.data import WeightedRandomSampler
from fastai.callback.data import WeightedDL
from fastai.data.block import DataBlock, CategoryBlock
from fastai.data.transforms import parent_label, RandomSplitter
from fastai.vision.data import ImageBlock
from imbalance_fastai.core import get_labels
from imbalance_fastai.sampling import Resampler, weighted_dataloaders

SIZES = (1_000_000, 2**24, 20_000_000)
LOADS = []   # 1-minute load averages sampled during the run
SHARES = np.array([.5, .2, .1, .05, .05, .04, .03, .015, .01, .005])   # 10 classes, the rarest 0.5% of rows
TORCH_MAX = 2**24   # torch.multinomial refuses more categories than this
TORCH_BIG_ROUNDS = 2   # torch.multinomial at 2**24 takes 20-40 s a round here: median (mean) of 2, not of --repeat
CHOICE_BIG_ROUNDS = 2   # rng.choice(n, n, p) above 1M takes 15-30 s a round here: median (mean) of 2
clock = time.process_time   # CPU seconds of this process: with other jobs on the cores, wall time mostly measures the wait for one
TORCH_THREADS = 1   # numpy's draws use one thread, and the machine has 2 cores shared with other jobs

def _fmt_s(t): return f"{t:.3f} s" if t<10 else f"{t:.1f} s"
def _cell(t, t_perm, n_out):
    "Seconds, ratio to `np.random.permutation` of the same size, nanoseconds per drawn index"
    return f"{_fmt_s(t)} · **{t/t_perm:.2f}×** · {1e9*t/n_out:.0f} ns/row"

def _rounds(fns, repeat, limit=None):
    "Run each of `fns` (name -> callable) once per round, `repeat` rounds (at most `limit[name]` for some); the times of each"
    res,limit = {k: [] for k in fns},limit or {}
    for i in range(repeat):
        for k,f in fns.items():
            if i>=limit.get(k, repeat): continue
            t = clock(); f(); res[k].append(clock()-t)
    return res

def _peak(f):
    "Peak memory traced (numpy buffers and Python objects) while `f` runs, above what was allocated before; and its result"
    tracemalloc.start(); tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = f()
    peak = tracemalloc.get_traced_memory()[1]-base
    tracemalloc.stop()
    return peak, out

def _weighted_dl_idxs(p):
    "fastai's `WeightedDL.get_idxs` itself, on a stand-in holding what it reads (`n`, `shuffle`, normalised `wgts`)"
    return WeightedDL.get_idxs(types.SimpleNamespace(n=len(p), shuffle=True, wgts=p))

def bench_epochs(repeat):
    "Time one epoch's indices at each size in `SIZES`; returns rows of results and the raw numbers"
    all_codes = np.random.default_rng(0).choice(len(SHARES), max(SIZES), p=SHARES)
    res = {}
    for n in SIZES:
        codes = all_codes[:n]
        t = clock(); over = Resampler(codes, seed=1); t_setup = clock()-t   # from a raw array
        under = Resampler(over.labels, strategy='undersample', seed=2)
        t = clock(); under.sample(); t_under_first = clock()-t   # draws each class's permutation
        cnt = np.bincount(codes)
        w = torch.as_tensor(1/cnt[codes], dtype=torch.double)   # WeightedRandomSampler's weights: 1/n_c per row
        wj = w.numpy()*(1 + np.random.default_rng(3).random(n))   # per-row weights: more than 65,536 distinct values
        t = clock(); byrow = Resampler(None, wgts=wj, seed=3); t_setup_rows = clock()-t
        assert byrow.order is None   # drawn row by row, not by weight group
        pj,gen = wj/wj.sum(),np.random.default_rng(4)
        fns = {'perm': lambda: np.random.permutation(n), 'over': over.sample, 'under': under.sample,
               'rows': byrow.sample, 'choice': lambda: gen.choice(n, n, p=pj)}   # choice: what the rows path did before
        if n<=TORCH_MAX: fns['multinomial'] = lambda: torch.multinomial(w, n, replacement=True)
        if n==SIZES[0]:
            fns['wrs'] = lambda: list(WeightedRandomSampler(w, n))
            p = w.numpy()/w.numpy().sum()
            fns['wdl'] = lambda: _weighted_dl_idxs(p)
        limit = {'multinomial': TORCH_BIG_ROUNDS} if n==TORCH_MAX else {}
        if n>SIZES[0]: limit['choice'] = CHOICE_BIG_ROUNDS
        times = _rounds(fns, repeat, limit=limit)
        r = {k: float(np.median(v)) for k,v in times.items()}
        r['ratio_rounds'] = [o/p for o,p in zip(times['over'], times['perm'])]   # the ratio in each round, for its spread
        LOADS.append(os.getloadavg()[0])
        r.update(n=n, n_under=under.n_samples, setup=t_setup, under_first=t_under_first, rounds={k: len(v) for k,v in times.items()},
                 setup_rows=t_setup_rows)
        c = np.bincount(byrow.sample(epoch=0), minlength=n); x = n*pj   # what was timed is right: each row within one
        assert ((c==np.floor(x)) | (c==np.ceil(x))).all()
        del c, x
        if n>TORCH_MAX:
            try: torch.multinomial(w, n, replacement=True); r['multinomial_error'] = None
            except RuntimeError as e: r['multinomial_error'] = str(e).splitlines()[0]
        if n==max(SIZES):
            r['codes_dtype'],r['codes_bytes'] = str(over.labels.codes.dtype),over.labels.codes.nbytes
            r['mem'] = {nm: _peak(f) for nm,f in (('perm', lambda: np.random.permutation(n)), ('over', over.sample), ('under', under.sample))}
            idxs = r['mem']['over'][1]   # what was timed is right: n indices in range, classes balanced
            assert len(idxs)==n and 0<=idxs.min() and idxs.max()<n
            k = np.bincount(codes[idxs], minlength=len(SHARES)); assert k.max()-k.min()<=1, k
            del idxs
            r['steps'] = _sample_steps(over)
        if n==SIZES[0]: r['mem_wdl'] = _peak(lambda: _weighted_dl_idxs(p))
        res[n] = r
        del over, under, w, byrow, wj, pj
    return res

def _sample_steps(r, epoch=0):
    "Time the steps of `Resampler.sample` (balanced oversampling) replayed one by one: same calls, same sizes"
    # cProfile cannot split them: numpy's Generator methods are invisible to it
    from imbalance_fastai.epochs import _rng, _STREAM_EPOCH, _STREAM_ROUND, _round_counts, _block_size, _block_table, _place
    rng,t = _rng(r.seed, _STREAM_EPOCH, epoch),{}
    t0 = clock()
    k = _round_counts(r.n_samples, r.shares, _rng(r.seed, _STREAM_ROUND, epoch))
    out = np.empty(int(k.sum()), dtype=r.order.dtype)
    t['split the epoch between classes (`_round_counts`), allocate the output'] = clock()-t0
    t_int = t_take = 0.; pos = 0
    for g in np.flatnonzero(k):
        members = r.order[r.starts[g]:r.starts[g+1]]
        t0 = clock(); i = rng.integers(0, len(members), k[g]); t1 = clock()
        np.take(members, i, out=out[pos:pos+k[g]]); t2 = clock()
        t_int,t_take,pos = t_int+t1-t0,t_take+t2-t1,pos+k[g]
    t['`rng.integers` per class'],t['`np.take` per class into the output'] = t_int,t_take
    b = _block_size(len(out), int((k>0).sum()))
    B = -(-len(out)//b)
    sizes = np.full(B, b); sizes[-1] = len(out)-b*(B-1)
    med = lambda f: float(np.median(_rounds({'f': f}, 3)['f']))   # median of 3 runs
    t_table = med(lambda: _block_table(k[k>0], sizes, np.random.default_rng(0)))
    t_place = med(lambda: _place(out, k, rng))
    t[f'`_place`: the block table ({B} blocks of {b} rows x {int((k>0).sum())} classes, multivariate hypergeometric)'] = t_table
    t['`_place`: gather each block\'s rows, shuffle inside each block (sort of random 64-bit keys)'] = t_place-t_table
    t_full = med(lambda: rng.shuffle(out))
    return t, t_full

def bench_labels(repeat, n_items=100_000, n_files=2_000):
    "Label read on an image `DataBlock` of `n_items` paths over `n_files` real PNG files: ours vs loading every item"
    rng = np.random.default_rng(0)
    vocab = ['a', 'b', 'c', 'd', 'e']
    shm = Path('/dev/shm')
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None) as tmp:
        ys = rng.choice(len(vocab), n_files, p=[.6, .25, .1, .04, .01])
        for v in vocab: (Path(tmp)/v).mkdir()
        files = []
        for i,y in enumerate(ys):
            f = Path(tmp)/vocab[y]/f'{i:05d}.png'
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(f)
            files.append(f)
        items = [files[i%n_files] for i in range(n_items)]   # every item is a real file; each file serves n_items/n_files items
        dblock = DataBlock(blocks=(ImageBlock, CategoryBlock), get_y=parent_label, splitter=RandomSplitter(0.2, seed=0))
        t = clock(); dsets = dblock.datasets(items); t_dsets = clock()-t
        trn = dsets.train
        n_sub = n_files
        def torchsampler_style(): return [int(trn[i][1]) for i in range(n_sub)]   # what a label callback iterating the dataset does
        t = _rounds({'ours': lambda: get_labels(trn), 'load': torchsampler_style}, repeat)
        t_ours,t_load = float(np.median(t['ours'])),float(np.median(t['load']))
        assert get_labels(trn).codes[:n_sub].tolist()==torchsampler_style()   # both read the same labels
        t = clock(); dls = weighted_dataloaders(dblock, items, bs=64, num_workers=0, seed=0); t_factory = clock()-t
        assert len(dls.train.resampler.labels)==len(trn)
    return dict(n_items=n_items, n_files=n_files, n_train=len(trn), n_sub=n_sub, t_dsets=t_dsets, t_ours=t_ours,
                t_load=t_load, t_load_full=t_load*len(trn)/n_sub, t_factory=t_factory)

def to_markdown(ep, lb, repeat, t_total, load):
    nm = lambda n: f"2**{n.bit_length()-1} ({n/1e6:.1f}M)" if n&(n-1)==0 else f"{n/1e6:g}M"
    L = []
    L += ["# Sampling benchmark: one epoch of indices", "",
          f"Generated by `python benchmarks/bench_sampling.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs; numpy {np.__version__}, "
          f"torch {torch.__version__} (`torch.set_num_threads({TORCH_THREADS})`: numpy's draws are single-threaded), fastai {fastai.__version__}. "
          f"Whole run: {t_total[0]:.0f} s wall, {t_total[1]:.0f} s CPU (a wall time well above the CPU time means other jobs held the cores); "
          f"load average (1 min) {load[0]:.1f} at the start, {', '.join(f'{o:.1f}' for o in LOADS)} after each size, {load[1]:.1f} at the end.", "",
          f"Labels: {len(SHARES)} classes with shares {SHARES.tolist()} (the rarest class 0.5% of rows). Times are CPU seconds of "
          "the benchmark process (`time.process_time`; every method runs on one thread), not wall time, which on this shared "
          "machine mostly measures the wait for a core. Each cell: seconds, "
          f"**ratio to `np.random.permutation(n)`** timed in the same rounds, nanoseconds per drawn index. Every time is the "
          f"median of {repeat} rounds; in each round the methods of one size run one after the other, so load from other jobs "
          "hits them alike. Absolute seconds on this shared machine mean little; the ratios are the result.", ""]
    L += ["| method | " + " | ".join(nm(n) for n in SIZES) + " |", "|---|" + "---|"*len(SIZES)]
    def row(label, f): L.append(f"| {label} | " + " | ".join(f(ep[n]) for n in SIZES) + " |")
    row("`np.random.permutation(n)` (reference)", lambda r: _cell(r['perm'], r['perm'], r['n']))
    row("**imbalance_fastai** `Resampler(labels).sample()`: balanced oversampling, n rows", lambda r: _cell(r['over'], r['perm'], r['n']))
    row("**imbalance_fastai** `Resampler(labels, strategy='undersample').sample()`: 10 × n_min rows, later epochs",
        lambda r: _cell(r['under'], r['perm'], r['n_under']) + f" ({r['n_under']:,} rows)")
    row("↳ its first epoch (draws each class's permutation once; single run)", lambda r: _cell(r['under_first'], r['perm'], r['n_under']))
    row(f"`torch.multinomial(w, n, replacement=True)` (what `WeightedRandomSampler` calls; median of {TORCH_BIG_ROUNDS} at 2**24)",
        lambda r: _cell(r['multinomial'], r['perm'], r['n']) if 'multinomial' in r else f"raises `RuntimeError: {r['multinomial_error']}`" if r['multinomial_error'] else "did not raise (not timed)")
    n0 = SIZES[0]; r0 = ep[n0]
    row("`list(WeightedRandomSampler(w, n))` (multinomial + Python ints)",
        lambda r: _cell(r['wrs'], r['perm'], r['n']) if 'wrs' in r else
                  ("not run: the multinomial row plus `.tolist()`" if 'multinomial' in r else "raises (as above)"))
    row("fastai `WeightedDL.get_idxs` (`list(np.random.choice(n, n, p=wgts))`)",
        lambda r: _cell(r['wdl'], r['perm'], r['n']) if 'wdl' in r else
                  f"skipped (too slow: extrapolated ≥ ~{r0['wdl']*r['n']/n0:.0f} s, linear per row from 1M; a lower bound)")
    row("**imbalance_fastai** `Resampler(None, wgts=w).sample()`, `w` one weight per row with more than 65,536 distinct values: "
        "systematic sampling over the rows shuffled within chunks (every row's count within one of its expectation), then the chunked placement",
        lambda r: _cell(r['rows'], r['perm'], r['n']))
    row(f"↳ what that path did before: `rng.choice(n, n, p=w)` (independent draws; median of {CHOICE_BIG_ROUNDS} above 1M)",
        lambda r: _cell(r['choice'], r['perm'], r['n']) + f" · **{r['choice']/r['rows']:.0f}×** the new path")
    row("`Resampler(labels)` setup from a raw label array (once per training run, not per epoch; single run)",
        lambda r: f"{_fmt_s(r['setup'])} · {r['setup']/r['perm']:.2f}×")
    row("`Resampler(None, wgts=w)` setup, `w` as above (checks the weights, sorts their values once; single run)",
        lambda r: f"{_fmt_s(r['setup_rows'])} · {r['setup_rows']/r['perm']:.2f}×")
    L.append("")
    big = ep[max(SIZES)]; mid = ep[TORCH_MAX]
    ratio_perm = big['over']/big['perm']
    ns_ours_big, ns_ours_mid, ns_torch = (1e9*big['over']/big['n'], 1e9*mid['over']/mid['n'], 1e9*mid['multinomial']/mid['n'])
    L += ["## Targets", "", "| target | measured | met? |", "|---|---|---|",
          f"| balanced epoch over 20,000,000 labels in at most 0.6× `np.random.permutation(20_000_000)` (medians; the ratio in each of the "
          f"{len(big['ratio_rounds'])} rounds: {', '.join(f'{o:.2f}' for o in big['ratio_rounds'])}) | "
          f"{_fmt_s(big['over'])} vs {_fmt_s(big['perm'])}: **{ratio_perm:.2f}×** | {'yes' if ratio_perm<=0.6 else '**no**'} |",
          f"| `Labels` codes stored as int32 (4 B/row) | {big['codes_dtype']}, {big['codes_bytes']/big['n']:.0f} B/row | "
          f"{'yes' if big['codes_bytes']/big['n']<=4 else '**no**'} |",
          f"| at least 10× faster per row than `torch.multinomial` (which raises above 2**24 categories, so its per-row time is taken at 2**24) | "
          f"ours at 20M {ns_ours_big:.0f} ns/row vs torch at 2**24 {ns_torch:.0f} ns/row: **{ns_torch/ns_ours_big:.1f}×** faster "
          f"(same n = 2**24: {ns_torch/ns_ours_mid:.1f}×) | {'yes' if ns_torch/ns_ours_big>=10 else '**no**'} |",
          f"| more than 65,536 distinct weights: every row's count within one of its expectation (checked on a drawn epoch at each size), "
          f"no slower than the `rng.choice` it replaces | at 20M {_fmt_s(big['rows'])} vs {_fmt_s(big['choice'])}: "
          f"**{big['choice']/big['rows']:.0f}×** faster, {big['rows']/big['perm']:.2f}× `np.random.permutation` | "
          f"{'yes' if big['rows']<=big['choice'] else '**no**'} |", ""]
    L += ["## Peak memory of one draw at 20M", "",
          "Traced with `tracemalloc` (numpy reports its buffers to it), above what was allocated before the call; it includes "
          "the returned index array. Not comparable for torch, whose allocations `tracemalloc` does not see.", "",
          "| call | rows | index array | peak | peak per row | peak / index array |", "|---|---|---|---|---|---|"]
    for k,lbl in (('perm', '`np.random.permutation(n)`'), ('over', '`Resampler(labels).sample()`'), ('under', "`Resampler(labels, strategy='undersample').sample()`")):
        peak,out = big['mem'][k]
        L.append(f"| {lbl} | {len(out):,} | {out.nbytes/2**20:.0f} MiB ({out.dtype}) | {peak/2**20:.0f} MiB | {peak/len(out):.1f} B | {peak/out.nbytes:.2f} |")
    peak,out = r0['mem_wdl']
    L.append(f"| fastai `WeightedDL.get_idxs` at 1M | {len(out):,} | a Python list | {peak/2**20:.0f} MiB | {peak/len(out):.0f} B | — |")
    L.append("")
    steps,t_full = big['steps']
    total = sum(steps.values())
    L += ["## Where `Resampler.sample()` spends its time (one balanced epoch at 20M)", "",
          "Its steps replayed one by one with the same calls and sizes (cProfile cannot split them: numpy's `Generator` methods "
          "do not show in it). The draws are timed once, the placement and the full shuffle as the median of 3 runs. The epoch's order is uniformly random either way (see `tests/test_resampler.py`); "
          "the block placement gets it without a random memory access per row.", "", "| step | seconds | share |", "|---|---|---|"]
    L += [f"| {k} | {v:.3f} | {v/total:.0%} |" for k,v in steps.items()]
    L += [f"| *for comparison, what the placement replaces:* one `rng.shuffle` of the whole epoch | {t_full:.3f} | — |", ""]
    L += [f"## Label extraction: image `DataBlock` of {lb['n_items']:,} items", "",
          f"`DataBlock(blocks=(ImageBlock, CategoryBlock), get_y=parent_label, splitter=RandomSplitter(0.2))` over {lb['n_items']:,} item "
          f"paths; they are {lb['n_files']:,} real 8×8 PNG files, each used {lb['n_items']//lb['n_files']} times (creating and deleting "
          f"{lb['n_items']:,} files takes minutes on this disk). The train split has {lb['n_train']:,} items. Median of {repeat} rounds. "
          "torchsampler's `ImbalancedDatasetSampler` has no reader for a fastai `Datasets`, so it needs a label callback that "
          "indexes the dataset, which opens and decodes every image; that is emulated by `[dsets.train[i][1] for i in ...]`, timed on "
          f"{lb['n_sub']:,} items and extrapolated to the train split. The files sit in memory (tmpfs), so loading is a lower bound "
          "for data on disk.", "",
          "| step | seconds | per item |", "|---|---|---|",
          f"| `dblock.datasets(items)` (both sides pay this) | {_fmt_s(lb['t_dsets'])} (single run) | {1e6*lb['t_dsets']/lb['n_items']:.1f} µs |",
          f"| **imbalance_fastai** `get_labels(dsets.train)` (reads the label pipeline, opens no file) | {_fmt_s(lb['t_ours'])} | {1e6*lb['t_ours']/lb['n_train']:.1f} µs |",
          f"| **imbalance_fastai** `weighted_dataloaders(dblock, items)` end to end (datasets + labels + `Resampler` + `DataLoaders`) | {_fmt_s(lb['t_factory'])} (single run) | {1e6*lb['t_factory']/lb['n_items']:.1f} µs |",
          f"| torchsampler-style read, loading every item: measured on {lb['n_sub']:,} | {_fmt_s(lb['t_load'])} | {1e6*lb['t_load']/lb['n_sub']:.0f} µs |",
          f"| ↳ extrapolated to the {lb['n_train']:,}-item train split | ~{_fmt_s(lb['t_load_full'])} | **{lb['t_load_full']/lb['t_ours']:.0f}×** ours |", ""]
    return "\n".join(L)

def main(args=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeat', type=int, default=5, help='rounds per measurement (the median is reported)')
    p.add_argument('--out', default=str(Path(__file__).with_name('sampling.md')), help='markdown file to write')
    a = p.parse_args(args)
    torch.set_num_threads(TORCH_THREADS)
    warnings.filterwarnings('ignore', category=FutureWarning)
    t0,c0,load0 = time.perf_counter(),clock(),os.getloadavg()[0]
    ep = bench_epochs(a.repeat)
    lb = bench_labels(a.repeat)
    md = to_markdown(ep, lb, a.repeat, (time.perf_counter()-t0, clock()-c0), (load0, os.getloadavg()[0]))
    Path(a.out).write_text(md+"\n")
    print(md)

if __name__=='__main__': main()
