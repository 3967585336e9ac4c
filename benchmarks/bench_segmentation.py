"""Rare-class IoU of a small U-Net on generated shapes: plain training against resampling the images of a rare class.

The data (no download): 64x64 RGB images with 2-3 filled shapes each, drawn with numpy in random colours on a noisy
background: circles (class 1) and squares (class 2) in every image, triangles (class 3) in `--rare-share` of the train
images only (2% by default: exactly 8 of 400). The validation set (200 images) has a triangle in half of its images, so the
rare class's IoU is measured on plenty of pixels. Images and masks are written as PNG files and read the fastai way,
`SegmentationDataLoaders.from_label_func(...)` with `MaskBlock` codes; `get_labels(dls)` reads the masks once (never
the images) into per-image class presence, which is all the samplers need.

Strategies, each with the same number of optimizer steps (an epoch of another length gets proportionally fewer or
more epochs), the same model, learning rate and seeds:

- plain: fastai's defaults, natural batches.
- oversample: `OverSamplingCallback()` on the multi-label presence: each image weighted by its rarest class, so the
  groups of images whose rarest class is 'triangle', 'square', ... get equal shares of an epoch.
- repeat_factor: repeat-factor sampling (Gupta et al. 2019, LVIS) with `thresh` t: r(c) = max(1, sqrt(t / f(c))) with
  f(c) the share of train images containing class c, each image repeated by the max r over its classes. Through
  `OverSamplingCallback('repeat_factor', thresh=t)` when the library has it, otherwise as explicit per-image weights
  `OverSamplingCallback(wgts=r)` (the same expected draw rate per image, in epochs of the natural length); the table
  says which ran.

The model is fastai's `unet_learner` on a tiny convolutional encoder (4 ConvLayers, 8-64 channels; no pretrained
weights), trained with `fit_one_cycle`; IoU per class is computed from one confusion matrix over all validation pixels
(`np.bincount`), IoU = TP / (TP + FP + FN). Writes `benchmarks/segmentation.md`.

    python benchmarks/bench_segmentation.py                # 5 seeds x 3 strategies, 15-40 min on one (busy) CPU core
    python benchmarks/bench_segmentation.py --seeds 1 --epochs 2 --n-train 64   # a smoke run
"""
from __future__ import annotations
import argparse, math, platform, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
warnings.filterwarnings('ignore', category=FutureWarning)
from PIL import Image
from torch import nn
from fastai.torch_core import set_seed
from fastai.layers import ConvLayer
from fastai.vision.data import SegmentationDataLoaders
from fastai.vision.learner import unet_learner
from fastai.callback.schedule import fit_one_cycle   # noqa: F401 (patches Learner.fit_one_cycle)
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from imbalance_fastai.core import get_labels
from imbalance_fastai.callback import OverSamplingCallback

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


def repeat_factors(presence, thresh:float):
    "LVIS repeat factor of each image: max over its classes of max(1, sqrt(thresh / share of images with the class))"
    f = presence.mean(0)
    r = np.maximum(1., np.sqrt(thresh/np.maximum(f, 1e-12)))
    return np.where(presence, r[None], 1.).max(1)


def iou_per_class(pred, targ, c:int):
    "IoU of each class over all pixels, from one confusion matrix"
    cm = np.bincount(targ.ravel().astype(np.int64)*c + pred.ravel(), minlength=c*c).reshape(c, c)
    tp = np.diag(cm)
    return tp / np.maximum(cm.sum(0) + cm.sum(1) - tp, 1)


def rfs_callback(presence, thresh):
    "`OverSamplingCallback('repeat_factor', thresh=...)` if the library has it, else the same factors as `wgts`"
    try: return OverSamplingCallback('repeat_factor', thresh=thresh), 'repeat_factor'
    except (ValueError, TypeError): return OverSamplingCallback(wgts=repeat_factors(presence, thresh)), 'wgts'


def run(strategy, fns, valid_idx, seed, epochs, lr, bs, thresh):
    "Train one U-Net with `strategy`; return (IoU per class, epochs run, seconds, how repeat-factor ran)"
    set_seed(seed)
    dls = SegmentationDataLoaders.from_label_func(fns[0].parent, fns, mask_of, codes=CODES, bs=bs, valid_idx=valid_idx)
    n_train = len(dls.train_ds)
    lbls = get_labels(dls)
    how, cbs, rows = '', [], n_train
    if strategy == 'oversample': cbs = [OverSamplingCallback(seed=seed)]
    elif strategy == 'repeat_factor':
        cb, how = rfs_callback(lbls.codes, thresh)
        cbs = [cb]
        if how == 'repeat_factor': rows = float(repeat_factors(lbls.codes, thresh).sum())   # LVIS epochs are longer
    n_epoch = max(1, round(epochs*n_train/rows))
    learn = unet_learner(dls, tiny_encoder, pretrained=False, n_in=3, cbs=cbs)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(n_epoch, lr)
        preds, targs = learn.get_preds()
    secs = time.perf_counter() - start
    return iou_per_class(preds.argmax(1).numpy(), targs.numpy(), len(CODES)), n_epoch, secs, how


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--epochs', type=int, default=10, help='epochs of plain training (others: the same optimizer steps)')
    p.add_argument('--n-train', type=int, default=400)
    p.add_argument('--n-valid', type=int, default=200)
    p.add_argument('--rare-share', type=float, default=.02, help='share of train images with a triangle')
    p.add_argument('--thresh', type=float, default=.5, help='repeat-factor threshold t')
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--strategies', nargs='+', default=['plain', 'oversample', 'repeat_factor'])
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'segmentation.md')
    a = p.parse_args(argv)
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)
    ti, tm = draw_shapes(a.n_train, a.rare_share, rng)
    vi, vm = draw_shapes(a.n_valid, .5, rng)
    res = {s: [] for s in a.strategies}
    with tempfile.TemporaryDirectory() as tmp:
        fns = write_pngs(Path(tmp), ti, tm, 'train') + write_pngs(Path(tmp), vi, vm, 'valid')
        valid_idx = list(range(a.n_train, len(fns)))
        for seed in range(a.seeds):
            for s in a.strategies:
                iou, n_epoch, secs, how = run(s, fns, valid_idx, seed, a.epochs, a.lr, a.bs, a.thresh)
                res[s].append((iou, n_epoch, secs, how))
                print(f"{s:14s} seed {seed}: IoU {np.round(iou, 3).tolist()}  ({n_epoch} epochs, {secs:.0f} s)", flush=True)
    write_table(a, res, ti, tm, time.perf_counter()-t_start)


def write_table(a, res, ti, tm, total):
    n_rare = int((tm == RARE).any((1, 2)).sum())
    plain = np.array([r[0] for r in res['plain']]) if 'plain' in res else None
    lines = ['# Segmentation: rare-class IoU with resampled images', '',
             f"Written by `benchmarks/bench_segmentation.py`. Generated shapes (64x64, no download): {a.n_train} train images, "
             f"{n_rare} of them ({n_rare/a.n_train:.1%}) with a triangle (the rare class); {a.n_valid} validation images, half "
             f"with a triangle. fastai `unet_learner` on a tiny encoder (4 ConvLayers, 8-64 channels, no pretrained weights), "
             f"`fit_one_cycle`, lr {a.lr:g}, bs {a.bs}; every strategy makes the optimizer steps of {a.epochs} plain epochs. "
             f"IoU on the validation pixels, mean ± std over {a.seeds} seeds (0..{a.seeds-1}).", '',
             '| strategy | ' + ' | '.join(f'IoU {c}' for c in CODES) + ' | mIoU | triangle IoU vs plain | epochs | s/run |',
             '|:---|' + '---:|'*(len(CODES)+4)]
    for s, rs in res.items():
        iou = np.array([r[0] for r in rs])
        m, sd = iou.mean(0), iou.std(0, ddof=1) if len(iou) > 1 else np.zeros(iou.shape[1])
        miou = iou.mean(1)
        cells = [f"{m[j]:.3f} ± {sd[j]:.3f}" for j in range(len(CODES))]
        cells.append(f"{miou.mean():.3f} ± {miou.std(ddof=1) if len(miou) > 1 else 0:.3f}")
        if plain is None or s == 'plain': cells.append('')
        else:
            base = plain[:, RARE].mean()
            cells.append(f"{m[RARE]/base:.2f}x ({(m[RARE]/base-1)*100:+.0f}%)" if base > 0 else f"+{m[RARE]-base:.3f} (plain is 0)")
        name = s + (' (as wgts)' if rs[0][3] == 'wgts' else '')
        lines.append(f"| {name} | " + ' | '.join(cells) + f" | {rs[0][1]} | {np.mean([r[2] for r in rs]):.0f} |")
    lines += ['', f"Repeat-factor threshold t = {a.thresh:g}: the triangle images (f = {n_rare/a.n_train:.3f}) are repeated "
              f"r = {max(1, math.sqrt(a.thresh/max(n_rare/a.n_train, 1e-12))):.2f} times, circles and squares (in most images) once. "
              "'(as wgts)': the library had no `strategy='repeat_factor'` yet, so the factors went in as per-image `wgts` "
              "(same expected draw rate per image, epochs of the natural length).",
              f"torch {torch.__version__}, {platform.machine()}, one thread; whole run {total/60:.1f} min. "
              f"Regenerate: `python benchmarks/bench_segmentation.py`."]
    a.out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
