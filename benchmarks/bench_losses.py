"""Forward+backward time of `imbalance_fastai.losses` against its baselines, on the same tensors, in one run.

Baselines: fastai's `FocalLossFlat` (multiclass, segmentation), `torchvision.ops.sigmoid_focal_loss` (binary,
multilabel) and fastai's `CrossEntropyLossFlat` (for `LogitAdjustedLoss`, which adds one broadcast add to it).
CPU, `torch.set_num_threads(1)`, timed as process CPU time (`time.process_time`), which other load on a shared machine
disturbs less than wall time; each loss and its baseline run alternately `--repeats` times after a warm-up, and the
table reports medians and their ratio (ours/baseline: below 1 is faster). Writes `benchmarks/losses.md`.

    python benchmarks/bench_losses.py            # about a minute on one idle core
"""
import argparse, platform, statistics, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from fastai.losses import FocalLossFlat, CrossEntropyLossFlat
from torchvision.ops import sigmoid_focal_loss
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss

def _step(loss_func, x, t):
    "CPU seconds of this process for one forward+backward of `loss_func` on a fresh leaf copy of `x`"
    x = x.detach().requires_grad_()
    t0 = time.process_time()
    loss_func(x, t).backward()
    return time.process_time() - t0

def bench(ours, base, x, t, repeats):
    "Median ms of `ours` and `base`, run alternately (order flipped every round) on the same `x`, `t`"
    for _ in range(2): _step(ours, x, t); _step(base, x, t)
    a, b = [], []
    for i in range(repeats):
        if i % 2: b.append(_step(base, x, t)); a.append(_step(ours, x, t))
        else:     a.append(_step(ours, x, t)); b.append(_step(base, x, t))
    return statistics.median(a)*1e3, statistics.median(b)*1e3

def cases():
    g = torch.Generator().manual_seed(0)
    x_mc, t_mc = torch.randn(4096, 1000, generator=g)*2, torch.randint(0, 1000, (4096,), generator=g)
    x_seg, t_seg = torch.randn(16, 21, 128, 128, generator=g)*2, torch.randint(0, 21, (16, 128, 128), generator=g)
    x_ml, t_ml = torch.randn(4096, 1000, generator=g)*2, (torch.rand(4096, 1000, generator=g) < .05).float()
    x_bin, t_bin = torch.randn(262144, 1, generator=g)*2, (torch.rand(262144, 1, generator=g) < .1).float()
    prior = torch.rand(1000, generator=g) + .01
    tv = lambda alpha, gamma: (lambda x, t: sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction='mean'))
    return [
        ('multiclass, gamma=2', FocalLoss(), 'fastai FocalLossFlat()', FocalLossFlat(), x_mc, t_mc),
        ('multiclass, gamma=0.5', FocalLoss(.5), 'fastai FocalLossFlat(gamma=0.5)', FocalLossFlat(gamma=.5), x_mc, t_mc),
        ('segmentation, gamma=2', FocalLoss(), 'fastai FocalLossFlat(axis=1)', FocalLossFlat(axis=1), x_seg, t_seg),
        ('multilabel, gamma=2, alpha=0.25', FocalLoss(alpha=.25, mode='multilabel'), 'torchvision sigmoid_focal_loss',
         tv(.25, 2.), x_ml, t_ml),
        ('multilabel, gamma=0.5, no alpha', FocalLoss(.5, mode='multilabel'), 'torchvision sigmoid_focal_loss',
         tv(-1, .5), x_ml, t_ml),
        ('binary, gamma=2, alpha=0.25', FocalLoss(alpha=.25, mode='binary'), 'torchvision sigmoid_focal_loss',
         tv(.25, 2.), x_bin, t_bin),
        ('LogitAdjustedLoss, tau=1', LogitAdjustedLoss(prior), 'fastai CrossEntropyLossFlat()', CrossEntropyLossFlat(),
         x_mc, t_mc),
    ]

def main(repeats=15, out=Path(__file__).parent/'losses.md'):
    t_start = time.perf_counter()
    rows = []
    for name, ours, base_name, base, x, t in cases():
        a, b = bench(ours, base, x, t, repeats)
        rows.append(f"| {name} | {tuple(x.shape)} | {a:.1f} | {base_name} | {b:.1f} | {a/b:.2f} |")
        print(rows[-1], flush=True)
    total = time.perf_counter() - t_start
    md = "\n".join([
        "# Loss speed: forward + backward",
        "",
        "Written by `benchmarks/bench_losses.py`. CPU, one thread (`torch.set_num_threads(1)`), float32, process CPU time "
        f"(`time.process_time`); median of {repeats} alternating runs per loss after a warm-up. "
        "Ratio = ours/baseline (below 1: ours is faster).",
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}; whole run {total:.0f} s.",
        "The machine is shared, so single timings are noisy; the alternation keeps both sides under the same load. "
        "`LogitAdjustedLoss` is cross-entropy plus one add over the logits: its row shows that cost, not a requirement.",
        "",
        "| case | output shape | ours (ms) | baseline | baseline (ms) | ours/baseline |",
        "|---|---|---|---|---|---|",
        *rows, ""])
    out.write_text(md)
    print(f"wrote {out} in {total:.0f} s")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=15, help='timed runs per loss')
    main(p.parse_args().repeats)
