"""Rare-class IoU of a small U-Net on generated shapes: plain training against resampling the images of a rare class.

The data (no download): 64x64 RGB images with 2-3 filled shapes each, drawn with numpy in random colours on a noisy
background: circles (class 1) and squares (class 2) in every image, triangles (class 3) in `--rare-share` of the train
images only (exactly round(n * share) of them: 4 and 8 of 400 by default). The validation set (200 images) has a
triangle in half of its images, so the rare class's IoU is measured on plenty of pixels. Images and masks are written
as PNG files and read the fastai way, `SegmentationDataLoaders.from_label_func(...)` with `MaskBlock` codes;
`get_labels(dls)` reads the masks once (never the images) into per-image class presence, which is all the samplers need.

Strategies, each with the same number of optimizer steps (an epoch of another length gets proportionally fewer or
more epochs), the same model, learning rate and seeds:

- plain: fastai's defaults, natural batches.
- oversample: `OverSamplingCallback()` on the multi-label presence: each image weighted by its rarest class, so the
  groups of images whose rarest class is 'triangle', 'square', ... get equal shares of an epoch.
- repeat_factor: `OverSamplingCallback('repeat_factor', thresh=t)`, repeat-factor sampling (Gupta et al. 2019, LVIS):
  r(c) = max(1, sqrt(t / f(c))) with f(c) the share of train images containing class c, each image repeated by the
  max r over its classes (floor(r) times, plus once more with probability r - floor(r), fresh each epoch). Its epochs
  are longer than the natural one, so it runs fewer of them.
- class-weighted: natural batches, `CrossEntropyLossFlat(weight=class_weights(dls), axis=1)`: each pixel's loss
  weighted by its class's scikit-learn 'balanced' weight, read from the train masks' pixel counts (`class_weights`
  on segmentation `DataLoaders` counts pixels, not images).
- class-weighted-sqrt: the same with `class_weights(dls, method='sqrt')`, weights 1/sqrt(pixels of the class). The
  'balanced' weight of a class in a few images is huge (the triangle holds 0.03% of the train pixels at 1%);
  the square root is the milder weighting segmentation practice uses for such classes.
- oversample+class-weighted-sqrt, repeat_factor+class-weighted-sqrt: both at once. Resampling acts between images
  (how often an image with a triangle is seen), the pixel weights within them (a triangle is 64 to 181 of an image's
  4,096 pixels at 1%, most of the others background), so the two correct different imbalances. The weights are
  the natural train pixels', not the resampled epoch's.

Two train sets are drawn, with the triangle in 1% and in 2% of the images (`--rare-share`): the rarer the class, the
more often plain training never learns it.

The model is fastai's `unet_learner` on a tiny convolutional encoder (4 ConvLayers, 8-64 channels; no pretrained
weights), trained with `fit_one_cycle`; IoU per class is `imbalance_report`'s (one confusion matrix over all validation
pixels, IoU = TP / (TP + FP + FN), argmax decisions). Plain training sometimes never learns the rare class (its IoU
then near 0), so the gain over plain is noisy: the table gives each strategy's rare-class IoU relative to plain (the
ratio of the means over seeds) with a 95% interval of a paired bootstrap over the seeds (the same seeds drawn for both).
Writes `benchmarks/segmentation.md`.

    python benchmarks/bench_segmentation.py --jobs 2       # 2 train sets x 10 seeds x 3 strategies: about 30 min on 2 cores
    python benchmarks/bench_segmentation.py --jobs 2 --rare-share .01 --out benchmarks/segmentation_weights.md \
        --strategies plain class-weighted class-weighted-sqrt oversample+class-weighted-sqrt repeat_factor+class-weighted-sqrt
                                                           # the pixel-weighted losses, alone and with resampling: about 50 min
    python benchmarks/bench_segmentation.py --seeds 1 --epochs 1 --n-train 64 --n-valid 16 --rare-share .05   # a smoke run
"""
from __future__ import annotations
import argparse, math, platform, shlex, sys, tempfile, time, warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
warnings.filterwarnings('ignore', category=FutureWarning)
from PIL import Image
from torch import nn
from fastai.torch_core import set_seed
from fastai.layers import ConvLayer
from fastai.losses import CrossEntropyLossFlat
from fastai.vision.data import SegmentationDataLoaders
from fastai.vision.learner import unet_learner
from fastai.callback.schedule import fit_one_cycle   # noqa: F401 (patches Learner.fit_one_cycle)
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from imbalance_fastai.core import get_labels
from imbalance_fastai.resampler import Resampler
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.report import imbalance_report
from imbalance_fastai.losses import class_weights

CODES = ['background', 'circle', 'square', 'triangle']
RARE = 3


def draw_shapes(n:int, rare_share:float, rng, size:int=64):
    "`n` images `(n, size, size, 3)` and masks `(n, size, size)`; a triangle (the rare class) in `round(n*rare_share)` of them"
    yy, xx = np.mgrid[:size, :size]
    imgs = (rng.random((n, 1, 1, 3))*120 + rng.normal(0, 20, (n, size, size, 3))).clip(0, 255).astype(np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    rare = np.zeros(n, bool); rare[rng.permutation(n)[:round(n*rare_share)]] = True
    for i in range(n):
        cls = rng.integers(1, 3, rng.integers(2, 4))
        if rare[i]: cls[0] = RARE
        for c in cls:
            r = rng.integers(6, 11); cx, cy = rng.integers(r, size-r, 2)
            dx, dy = xx-cx, yy-cy
            if c == 1: m = dx**2 + dy**2 < r*r
            elif c == 2: m = (abs(dx) < .8*r) & (abs(dy) < .8*r)
            else: m = (dy < .8*r) & (dy > -r) & (abs(dx) < .6*(dy+r))
            imgs[i][m] = rng.random(3)*135 + 120
            masks[i][m] = c
    return imgs, masks


def write_pngs(folder:Path, imgs, masks, tag:str):
    "Write `tag_i.png` (image) and `tag_i_mask.png` (mask) files; return the image paths"
    fns = []
    for i, (im, m) in enumerate(zip(imgs, masks)):
        f = folder/f'{tag}_{i:04d}.png'
        Image.fromarray(im).save(f); Image.fromarray(m).save(folder/f'{tag}_{i:04d}_mask.png')
        fns.append(f)
    return fns


def mask_of(f): return f.parent/f'{f.stem}_mask.png'


def tiny_encoder(pretrained=False):
    "A small convolutional encoder for `unet_learner` (ends in a pooling layer, which `create_body` cuts off)"
    return nn.Sequential(ConvLayer(3, 8), ConvLayer(8, 16, stride=2), ConvLayer(16, 32, stride=2),
                         ConvLayer(32, 64, stride=2), nn.AdaptiveAvgPool2d(1))


SAMPLINGS = ('plain', 'oversample', 'repeat_factor')
WEIGHTINGS = {'class-weighted': 'balanced', 'class-weighted-sqrt': 'sqrt'}   # name: the `class_weights` method


def parse_strategy(strategy):
    "(sampling, `class_weights` method or None) of a strategy name: 'oversample', 'class-weighted-sqrt', 'oversample+class-weighted-sqrt'..."
    sampling, _, weighting = strategy.partition('+')
    if sampling in WEIGHTINGS and not weighting: sampling, weighting = 'plain', sampling
    if sampling not in SAMPLINGS or (weighting and weighting not in WEIGHTINGS): raise ValueError(
        f"unknown strategy {strategy!r}: pass a sampling {list(SAMPLINGS)}, a weighting {list(WEIGHTINGS)}, or sampling+weighting")
    return sampling, WEIGHTINGS.get(weighting)


def run(strategy, fns, valid_idx, seed, epochs, lr, bs, thresh):
    "Train one U-Net with `strategy`; return (IoU per class, epochs run, seconds)"
    set_seed(seed)
    dls = SegmentationDataLoaders.from_label_func(fns[0].parent, fns, mask_of, codes=CODES, bs=bs, valid_idx=valid_idx)
    n_train = len(dls.train_ds)
    cbs, rows, loss = [], n_train, {}
    sampling, method = parse_strategy(strategy)
    if sampling == 'oversample': cbs = [OverSamplingCallback(seed=seed)]
    elif sampling == 'repeat_factor':
        cbs = [OverSamplingCallback('repeat_factor', thresh=thresh, seed=seed)]
        rows = Resampler(get_labels(dls), 'repeat_factor', thresh=thresh, seed=seed).n_samples   # the expected epoch length
    if method:
        loss = dict(loss_func=CrossEntropyLossFlat(weight=class_weights(dls, method=method), axis=1))   # pixel counts of the train masks
    n_epoch = max(1, round(epochs*n_train/rows))
    learn = unet_learner(dls, tiny_encoder, pretrained=False, n_in=3, cbs=cbs, **loss)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(n_epoch, lr)
        preds, targs = learn.get_preds()
    secs = time.perf_counter() - start
    rep = imbalance_report(preds.numpy(), targs.numpy(), vocab=CODES)   # argmax decisions: one confusion matrix of all pixels
    return rep.xs('iou', level='metric')['uncorrected'].to_numpy(), n_epoch, secs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=10)
    p.add_argument('--epochs', type=int, default=10, help='epochs of plain training (others: the same optimizer steps)')
    p.add_argument('--n-train', type=int, default=400)
    p.add_argument('--n-valid', type=int, default=200)
    p.add_argument('--rare-share', type=float, nargs='+', default=[.01, .02], help='shares of train images with a triangle')
    p.add_argument('--thresh', type=float, default=.5, help='repeat-factor threshold t')
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--strategies', nargs='+', default=['plain', 'oversample', 'repeat_factor'], help='of the list above')
    p.add_argument('--jobs', type=int, default=1, help='runs in parallel (processes of one thread each)')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'segmentation.md')
    a = p.parse_args(argv)
    for s in a.strategies:   # refused before any run, not in a worker after the runs before it
        try: parse_strategy(s)
        except ValueError as e: p.error(str(e))
    a.argv = sys.argv[1:] if argv is None else argv
    t_start = time.perf_counter()
    blocks, tmps = [], []
    with ProcessPoolExecutor(a.jobs) as ex:
        for share in a.rare_share:
            rng = np.random.default_rng(0)
            ti, tm = draw_shapes(a.n_train, share, rng)
            vi, vm = draw_shapes(a.n_valid, .5, rng)
            tmps.append(tempfile.TemporaryDirectory())
            fns = write_pngs(Path(tmps[-1].name), ti, tm, 'train') + write_pngs(Path(tmps[-1].name), vi, vm, 'valid')
            valid_idx = list(range(a.n_train, len(fns)))
            futs = {s: [ex.submit(run, s, fns, valid_idx, seed, a.epochs, a.lr, a.bs, a.thresh) for seed in range(a.seeds)]
                    for s in a.strategies}
            blocks.append((int((tm == RARE).any((1, 2)).sum()), futs))
        for share, (n_rare, futs) in zip(a.rare_share, blocks):
            for s, fs in futs.items():
                for seed, f in enumerate(fs):
                    futs[s][seed] = iou, n_epoch, secs = f.result()
                    print(f"{share:.0%} {s:14s} seed {seed}: IoU {np.round(iou, 3).tolist()}  ({n_epoch} epochs, {secs:.0f} s)", flush=True)
    for t in tmps: t.cleanup()
    write_table(a, blocks, time.perf_counter()-t_start)


def ratio_cell(x, base, n_boot=10_000):
    "`mean(x)/mean(base)` over paired seeds, with the 95% interval of a bootstrap that resamples the seeds"
    if base.mean() <= 0: return f"+{x.mean():.3f} (plain is 0)"
    idx = np.random.default_rng(0).integers(0, len(x), (n_boot, len(x)))
    b = base[idx].mean(1)
    lo, hi = np.percentile(x[idx].mean(1)[b > 0]/b[b > 0], [2.5, 97.5])
    r = x.mean()/base.mean()
    return f"{r:.2f}x ({(r-1)*100:+.0f}%) [{lo:.2f}x, {hi:.2f}x]"


def write_table(a, blocks, total):
    weighted = any('class-weighted' in s for s in a.strategies)
    lines = ['# Segmentation: rare-class IoU with ' + ('pixel class weights, alone and with resampling' if weighted else 'resampled images'), '',
             f"Written by `benchmarks/bench_segmentation.py`. Generated shapes (64x64, no download): {a.n_train} train images "
             f"with circles and squares, a triangle (the rare class) in a few of them; {a.n_valid} validation images, half with "
             f"a triangle. fastai `unet_learner` on a tiny encoder (4 ConvLayers, 8-64 channels, no pretrained weights), "
             f"`fit_one_cycle`, lr {a.lr:g}, bs {a.bs}; every strategy makes the optimizer steps of {a.epochs} plain epochs. "
             f"IoU on the validation pixels, mean ± std over {a.seeds} seeds (0..{a.seeds-1}); repeat-factor threshold "
             f"t = {a.thresh:g}. 'vs plain': the strategy's mean triangle IoU over plain's, with the 95% interval of a paired "
             f"bootstrap over the seeds (10,000 resamples of the seeds, the same for both).", '']
    if weighted:
        lines += ["class-weighted: natural batches and `CrossEntropyLossFlat(weight=class_weights(dls), axis=1)`, each pixel's "
                  "loss weighted by its class's 'balanced' weight from the train masks' pixel counts; class-weighted-sqrt: "
                  "`class_weights(dls, method='sqrt')`, 1/sqrt(pixels of the class); a+b: the sampling a and the loss b "
                  "together (the weights are the natural train pixels', not the resampled epoch's).", '']
    for n_rare, res in blocks:
        f = n_rare/a.n_train
        lines += [f"**Triangle in {n_rare} of {a.n_train} train images ({f:.0%}):** repeat factor "
                  f"r = sqrt({a.thresh:g}/{f:.3f}) = {max(1, math.sqrt(a.thresh/f)):.2f} for those images, 1 for the others.", '',
                  '| strategy | ' + ' | '.join(f'IoU {c}' for c in CODES) + ' | mIoU | triangle IoU vs plain | triangle IoU per seed | epochs | s/run |',
                  '|:---|' + '---:|'*(len(CODES)+5)]
        plain = np.array([r[0] for r in res['plain']])[:, RARE].mean() if 'plain' in res else None
        for s, rs in res.items():
            iou = np.array([r[0] for r in rs])
            m, sd = iou.mean(0), iou.std(0, ddof=1) if len(iou) > 1 else np.zeros(iou.shape[1])
            miou = iou.mean(1)
            cells = [f"{m[j]:.3f} ± {sd[j]:.3f}" for j in range(len(CODES))]
            cells.append(f"{miou.mean():.3f} ± {miou.std(ddof=1) if len(miou) > 1 else 0:.3f}")
            if plain is None or s == 'plain': cells.append('')
            else: cells.append(ratio_cell(iou[:, RARE], np.array([r[0] for r in res['plain']])[:, RARE]))
            cells.append(' '.join(f"{v:.2f}" for v in iou[:, RARE]))
            lines.append(f"| {s} | " + ' | '.join(cells) + f" | {rs[0][1]} | {np.mean([r[2] for r in rs]):.0f} |")
        lines.append('')
    lines.append(f"torch {torch.__version__}, {platform.machine()}, one thread; whole run {total/60:.1f} min. "
                 f"{a.jobs} run(s) at a time. Regenerate: `python benchmarks/bench_segmentation.py {shlex.join(a.argv)}`.")
    a.out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
