"""Reading per-image class presence from a folder of segmentation masks: `get_labels` against fastai's own ways, in one run.

A folder of `--n` small PNG masks (64x64, mode 'L', 1-3 classes out of 5 per mask) and as many RGB images is written
once; a `DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_y=...)` `Datasets` is built over the images. Timed
(wall time, median of `--repeats` runs, the files already in the OS page cache after a warm-up pass):

- `get_labels(dsets)` cold: the mask cache emptied first (`clear_mask_cache()`), so every mask is decoded;
- `get_labels(dsets)` warm: the second call, which finds every file in the cache (one `os.stat` per file);
- baseline, fastai per item: `PILMask.create(f)` on each mask file, then the classes present (`np.bincount`), the
  shortest code a fastai user would write;
- baseline, the label pipeline: `dsets.tls[1][i]` for every item (`get_y`, `PILMask.create`), then the classes present;
- baseline, the dataset: `dsets[i]` for every item (the image is opened too), timed on `--n-items` items and scaled.

Ratios are to the first baseline (below 1: faster). Writes `benchmarks/masks.md`.

    python benchmarks/bench_masks.py            # 10,000 masks, about a minute on one busy core
"""
from __future__ import annotations
import argparse, os, platform, statistics, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
warnings.filterwarnings('ignore', category=FutureWarning)
from PIL import Image
from fastai.data.block import DataBlock
from fastai.data.transforms import IndexSplitter
from fastai.vision.core import PILMask
from fastai.vision.data import ImageBlock, MaskBlock
from imbalance_fastai.core import get_labels, clear_mask_cache

CODES = ['background', 'road', 'car', 'person', 'sign']


def write_folder(folder:Path, n:int, size:int=64):
    "`n` RGB images `i.png` and masks `i_mask.png`; return the image paths"
    rng = np.random.default_rng(0)
    fns = []
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        for c in rng.choice(np.arange(1, len(CODES)), rng.integers(1, 4), replace=False):
            x, y = rng.integers(0, size-16, 2); m[y:y+16, x:x+16] = c
        Image.fromarray(m).save(folder/f'{i:05d}_mask.png')
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder/f'{i:05d}.png')
        fns.append(folder/f'{i:05d}.png')
    return fns


def mask_of(f): return f.parent/f'{f.stem}_mask.png'


def presence(masks, c=len(CODES)):
    "Classes present in each mask, `(n, c)`, from arrays"
    return np.stack([np.bincount(np.asarray(m).ravel(), minlength=c)[:c] > 0 for m in masks])


def timed(f, repeats):
    "Median wall seconds of `f()` over `repeats` runs, and its last result"
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); res = f(); ts.append(time.perf_counter()-t)
    return statistics.median(ts), res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=10_000)
    p.add_argument('--n-items', type=int, default=1000, help='items timed for the dataset baseline (then scaled to --n)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'masks.md')
    a = p.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fns = write_folder(Path(tmp), a.n)
        dsets = DataBlock(blocks=(ImageBlock, MaskBlock(CODES)), get_y=mask_of, splitter=IndexSplitter([])).datasets(fns)
        masks = [mask_of(f) for f in fns]
        for f in masks: f.read_bytes()   # warm the OS page cache for every method alike
        def cold(): clear_mask_cache(); return get_labels(dsets, codes=CODES)
        t_cold, lbls = timed(cold, a.repeats)
        t_warm, warm = timed(lambda: get_labels(dsets, codes=CODES), a.repeats)
        t_base, base = timed(lambda: presence(PILMask.create(f) for f in masks), a.repeats)
        tl = dsets.tls[1]
        t_tl, tlp = timed(lambda: presence(tl[i] for i in range(len(tl))), a.repeats)
        k = min(a.n_items, a.n)
        t_ds, _ = timed(lambda: [dsets[i] for i in range(k)], 1)
        t_ds *= a.n/k
        assert (lbls.codes == base).all() and (warm.codes == base).all() and (tlp == base).all(), "methods disagree"
    rows = [('`get_labels(dsets)`, cold (cache emptied)', t_cold), ('`get_labels(dsets)`, warm (second call)', t_warm),
            ('baseline: `PILMask.create(f)` per mask + `np.bincount`', t_base),
            ('label pipeline: `dsets.tls[1][i]` per item + `np.bincount`', t_tl),
            (f'dataset: `dsets[i]` per item (opens the image too; {k:,} items, scaled)', t_ds)]
    lines = ['# Reading segmentation labels from mask files', '',
             f"Written by `benchmarks/bench_masks.py`. {a.n:,} PNG masks of 64x64 pixels (mode 'L', {len(CODES)} codes) and as "
             f"many RGB images, a `DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_y=...)` `Datasets`; wall time, "
             f"median of {a.repeats} runs, files in the OS page cache. Every method gives the same presence matrix "
             f"(checked). Ratio = time / the `PILMask.create` baseline.", '',
             '| method | seconds | per mask (µs) | ratio to baseline |', '|:---|---:|---:|---:|']
    lines += [f"| {nm} | {t:.3f} | {t/a.n*1e6:.0f} | {t/t_base:.2f} |" for nm, t in rows]
    lines += ['', f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs (shared); whole run "
              f"{time.perf_counter()-start:.0f} s. Regenerate: `python benchmarks/bench_masks.py`."]
    a.out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
