"""Forward+backward time of `imbalance_fastai.losses` against its baselines, on the same tensors, in one run.

Two tables. First, each loss of the library against `CrossEntropyLossFlat` on the same logits (the issue's target for
the long-tail losses: at most 1.3x): `BalancedSoftmaxLoss`, `LDAMLoss` (unweighted, and weighted as in the DRW phase
of `DeferredReweighting`), `CrossEntropyLossFlat(weight=...)` (DRW with fastai's loss), `LogitAdjustedLoss` and
`FocalLoss`; `AsymmetricLoss` and the sigmoid `FocalLoss`, which work elementwise on multi-hot targets, against
`BCEWithLogitsLossFlat` and `torchvision.ops.sigmoid_focal_loss` as well. Second, `FocalLoss` against the
implementations it replaces: fastai's `FocalLossFlat` and torchvision's `sigmoid_focal_loss`.

CPU, `torch.set_num_threads(1)`, timed as process CPU time (`time.process_time`), which other load on a shared machine
disturbs less than wall time; each loss and its baseline run alternately `--repeats` times after a warm-up, and the
table reports medians and their ratio (ours/baseline: below 1 is faster). Writes `benchmarks/losses.md`.

    python benchmarks/bench_losses.py            # about two minutes on one idle core
"""
import argparse, ctypes, platform, statistics, time
from pathlib import Path
import torch, torch.nn.functional as F
torch.set_num_threads(1)

def _steady_malloc():
    "Serve big tensors from the heap (glibc `mallopt`), so that timings measure the loss, not page faults of fresh memory"
    try:
        libc = ctypes.CDLL('libc.so.6')
        return bool(libc.mallopt(-3, 1<<30) and libc.mallopt(-1, 1<<30))   # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD: 1 GiB
    except OSError: return False
from fastai.losses import FocalLossFlat, CrossEntropyLossFlat, BCEWithLogitsLossFlat
from torchvision.ops import sigmoid_focal_loss
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, AsymmetricLoss

def _step(loss_func, x, t):
    "CPU seconds of this process for one forward+backward of `loss_func` on a fresh leaf copy of `x`"
    x = x.detach().requires_grad_()
    t0 = time.process_time()
    loss_func(x, t).backward()
    return time.process_time() - t0

def bench(ours, x, t, base, xb, tb, repeats):
    "Median ms of `ours` (on `x`, `t`) and `base` (on `xb`, `tb`), run alternately (order flipped every round)"
    for _ in range(2): _step(ours, x, t); _step(base, xb, tb)
    a, b = [], []
    for i in range(repeats):
        if i % 2: b.append(_step(base, xb, tb)); a.append(_step(ours, x, t))
        else:     a.append(_step(ours, x, t)); b.append(_step(base, xb, tb))
    return statistics.median(a)*1e3, statistics.median(b)*1e3

def _tv(alpha, gamma): return lambda x, t: sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction='mean')

def _ldam_usual(margins, s):
    "LDAM as it is usually written (the paper's code does this): a one-hot mask, the batch's margins by a matrix product, `where`"
    def f(x, t):
        onehot = torch.zeros_like(x, dtype=torch.bool).scatter_(1, t[:, None], True)
        batch_m = (margins[None] @ onehot.float().T).view(-1, 1)
        return F.cross_entropy(s*torch.where(onehot, x - batch_m, x), t)
    return f

def cases():
    "(table, case, ours, its logits, its target, baseline name, baseline, its logits, its target)"
    g = torch.Generator().manual_seed(0)
    c = 1000
    x_mc, t_mc = torch.randn(4096, c, generator=g)*2, torch.randint(0, c, (4096,), generator=g)
    x_seg, t_seg = torch.randn(16, 21, 128, 128, generator=g)*2, torch.randint(0, 21, (16, 128, 128), generator=g)
    t_ml = (torch.rand(4096, c, generator=g) < .05).float()
    x_bin, t_bin = torch.randn(262144, 1, generator=g)*2, (torch.rand(262144, 1, generator=g) < .1).float()
    counts = (1000*torch.logspace(0, -2, c)).round().clamp_min(1)   # long tail, ratio 100
    cbw = class_weights(counts, 'effective', beta=.9999)   # the counts themselves, one per class
    seg_counts = torch.arange(1., 22)
    ce, ce_seg, bce = CrossEntropyLossFlat(), CrossEntropyLossFlat(axis=1), BCEWithLogitsLossFlat()
    mc, seg = (x_mc, t_mc), (x_seg, t_seg)
    vs_ce = ('fastai CrossEntropyLossFlat()', ce, *mc)
    vs_ce_seg = ('fastai CrossEntropyLossFlat(axis=1)', ce_seg, *seg)
    # LDAM's cross-entropy sees s*logits: give it logits/s, so that it sees the baseline's logits (a model trained with
    # it learns logits s times smaller)
    new = [
        ('BalancedSoftmaxLoss(counts)', BalancedSoftmaxLoss(counts), *mc, *vs_ce),
        ('LDAMLoss(counts), on logits/30', LDAMLoss(counts), x_mc/30, t_mc, *vs_ce),
        ('LDAMLoss(counts, weight=w) (DRW phase), on logits/30', LDAMLoss(counts, weight=cbw), x_mc/30, t_mc, *vs_ce),
        ('F.cross_entropy(30*x) (the scale alone, by autograd), on logits/30', lambda x, t: F.cross_entropy(30*x, t), x_mc/30, t_mc, *vs_ce),
        ('LDAMLoss(counts), on logits/30', LDAMLoss(counts), x_mc/30, t_mc, 'LDAM as usually written (one-hot mask, where)',
         _ldam_usual(LDAMLoss(counts).margins, 30.), x_mc/30, t_mc),
        ('CrossEntropyLossFlat(weight=w) (DRW phase)', CrossEntropyLossFlat(weight=cbw), *mc, *vs_ce),
        ('LogitAdjustedLoss(counts)', LogitAdjustedLoss(counts), *mc, *vs_ce),
        ('FocalLoss()', FocalLoss(), *mc, *vs_ce),
        ('FocalLoss(weight=w)', FocalLoss(weight=cbw), *mc, *vs_ce),
        ('BalancedSoftmaxLoss, segmentation', BalancedSoftmaxLoss(seg_counts), *seg, *vs_ce_seg),
        ('LDAMLoss, segmentation, on logits/30', LDAMLoss(seg_counts), x_seg/30, t_seg, *vs_ce_seg),
        ('AsymmetricLoss() (multi-label)', AsymmetricLoss(), x_mc, t_ml, 'fastai CrossEntropyLossFlat() (class codes)', ce, *mc),
        ("FocalLoss(mode='multilabel')", FocalLoss(mode='multilabel'), x_mc, t_ml, 'fastai CrossEntropyLossFlat() (class codes)', ce, *mc),
        ('AsymmetricLoss() (multi-label)', AsymmetricLoss(), x_mc, t_ml, 'fastai BCEWithLogitsLossFlat()', bce, x_mc, t_ml),
        ('AsymmetricLoss() (multi-label)', AsymmetricLoss(), x_mc, t_ml, 'torchvision sigmoid_focal_loss', _tv(.25, 2.), x_mc, t_ml),
        ("FocalLoss(mode='multilabel')", FocalLoss(mode='multilabel'), x_mc, t_ml, 'fastai BCEWithLogitsLossFlat()', bce, x_mc, t_ml),
    ]
    old = [
        ('multiclass, gamma=2', FocalLoss(), *mc, 'fastai FocalLossFlat()', FocalLossFlat(), *mc),
        ('multiclass, gamma=0.5', FocalLoss(.5), *mc, 'fastai FocalLossFlat(gamma=0.5)', FocalLossFlat(gamma=.5), *mc),
        ('multiclass, gamma=2, weight=w', FocalLoss(weight=cbw), *mc, 'fastai FocalLossFlat(weight=w)', FocalLossFlat(weight=cbw), *mc),
        ('segmentation, gamma=2', FocalLoss(), *seg, 'fastai FocalLossFlat(axis=1)', FocalLossFlat(axis=1), *seg),
        ('multilabel, gamma=2, alpha=0.25', FocalLoss(alpha=.25, mode='multilabel'), x_mc, t_ml,
         'torchvision sigmoid_focal_loss', _tv(.25, 2.), x_mc, t_ml),
        ('multilabel, gamma=0.5, no alpha', FocalLoss(.5, mode='multilabel'), x_mc, t_ml,
         'torchvision sigmoid_focal_loss', _tv(-1, .5), x_mc, t_ml),
        ('binary, gamma=2, alpha=0.25', FocalLoss(alpha=.25, mode='binary'), x_bin, t_bin,
         'torchvision sigmoid_focal_loss', _tv(.25, 2.), x_bin, t_bin),
    ]
    return [('new', *o) for o in new] + [('old', *o) for o in old]

TARGET = 1.3   # issue 14: each new loss at most 1.3x CrossEntropyLossFlat, forward+backward
NOT_LOSSES = ('F.cross_entropy(30*x)', 'CrossEntropyLossFlat(weight=w)')   # reference rows, not losses of the library

def _elementwise(name):
    "Whether the row `name` is a multi-label loss, which works on every element of its output"
    return name.startswith('AsymmetricLoss') or 'multilabel' in name

def _unary_ms(repeats=5):
    "Median ms of `torch.log1p` and `torch.log` on 4M floats: on some CPU builds `log1p` (and `softplus`, BCE) is several times slower"
    x = torch.rand(4096, 1000) + .5
    ms = lambda f: statistics.median(_t(f, x) for _ in range(repeats))*1e3
    return ms(torch.log1p), ms(torch.log)

def _t(f, x):
    t0 = time.process_time(); f(x)
    return time.process_time() - t0

def main(repeats=15, out=Path(__file__).parent/'losses.md'):
    t_start = time.perf_counter()
    rows, targets, softmax_missed = {'new': [], 'old': []}, [], []
    steady = _steady_malloc()
    for table, name, ours, x, t, base_name, base, xb, tb in cases():
        a, b = bench(ours, x, t, base, xb, tb, repeats)
        rows[table].append(f"| {name} | {tuple(x.shape)} | {a:.1f} | {base_name} | {b:.1f} | **{a/b:.2f}** |")
        print(rows[table][-1], flush=True)
        if table == 'new' and base_name.startswith('fastai CrossEntropyLossFlat') and not name.startswith(NOT_LOSSES):
            targets.append(f"| {name} | {tuple(x.shape)} | {a/b:.2f} | {'yes' if a/b <= TARGET else '**no**'} |")
            if a/b > TARGET and not _elementwise(name): softmax_missed.append(f"{name} ({a/b:.2f}x)")
    total = time.perf_counter() - t_start
    log1p_ms, log_ms = _unary_ms()
    head = ["| loss | output shape | ours (ms) | baseline | baseline (ms) | ours/baseline |", "|---|---|---|---|---|---|"]
    md = "\n".join([
        "# Loss speed: forward + backward",
        "",
        "Written by `benchmarks/bench_losses.py`. CPU, one thread (`torch.set_num_threads(1)`), float32, process CPU time "
        f"(`time.process_time`); median of {repeats} alternating runs per pair after a warm-up. "
        "Ratio = ours/baseline (below 1: ours is faster). "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}; whole run {total:.0f} s. "
        "The machine is shared, so single timings are noisy; the alternation keeps both sides under the same load. "
        + ("Big tensors are served from the heap (`mallopt`), so that the times measure the losses and not the page "
           "faults of fresh memory, which otherwise make them bimodal." if steady else "")
        + f" In this run `torch.log1p` took {log1p_ms:.1f} ms and `torch.log` {log_ms:.1f} ms on 4M floats: where `log1p` is "
        "the slower, so are the losses built on it (`BCEWithLogitsLossFlat`, `softplus`, torchvision's focal loss, our "
        "multi-label `FocalLoss`), and the ratios against them move with it from run to run on this machine.",
        "",
        "**Against cross-entropy.** The softmax losses are `F.cross_entropy` on shifted logits: `BalancedSoftmaxLoss` and "
        "`LogitAdjustedLoss` add one vector over the class axis, `LDAMLoss` scales the logits and subtracts one margin per "
        "row (its rows run on logits/30, the logits a model trained with it learns, so that its cross-entropy sees the "
        "baseline's logits; on logits 30 times too large `exp` underflows into slow denormals). Its cost over "
        "cross-entropy is the scale `s` itself: one multiply over the logits forward; backward, the factor `s` is applied "
        "to the gradient of the loss (one number per target) instead of to every logit, a pass that "
        "`F.cross_entropy(30*x)` pays (a backward that builds a graph, for a second derivative, turns the shortcut off, "
        "so second derivatives stay exact). Weights (`DeferredReweighting`'s second phase) cost nothing measurable. "
        "`FocalLoss` computes "
        "`(1-p_t)**gamma` on the target's log-probability only. `AsymmetricLoss` and the multi-label `FocalLoss` work on "
        "every element of a `(bs, n_labels)` output, so their fair baselines are the elementwise ones "
        "(`BCEWithLogitsLossFlat`, one fused kernel, and torchvision's focal loss); their row against cross-entropy, "
        "which reads one log-probability per row, is there for completeness (the target, below, is still cross-entropy). "
        "`AsymmetricLoss` is one autograd node whose backward is the gradient in closed form (when a second derivative "
        "is asked for, autograd differentiates the same formula instead), and takes `-log p` from "
        "the sigmoid (one `log`, no `softplus`: `softplus` and `log1p` are several times slower than `log` on some CPU "
        "builds); the multi-label `FocalLoss` takes `1-p_t` for 0/1 targets from one sigmoid (`sigmoid(x*(1-2t))`) "
        "rather than `-expm1(-BCE)`.",
        "",
        f"**Targets** (issue 14: forward+backward at most {TARGET}x `CrossEntropyLossFlat` on the same logits; each "
        "loss's ratio from the table below, segmentation against `CrossEntropyLossFlat(axis=1)`):",
        "",
        f"| loss | output shape | ours/CrossEntropyLossFlat | meets <= {TARGET}x |", "|---|---|---|---|", *targets, "",
        ("The softmax losses meet the target. " if not softmax_missed else
         f"Of the softmax losses, {', '.join(softmax_missed)} miss the target in this run. ") + "The elementwise multi-label losses (`AsymmetricLoss`, `FocalLoss(mode="
        "'multilabel')`) do not, by far: they evaluate a sigmoid and logarithms on every one of the "
        "4M logits forward and backward, where cross-entropy reads one log-probability per row; fastai's own "
        "`BCEWithLogitsLossFlat` is itself 2x to 10x cross-entropy here (its times are below). Against their fair baselines they are in the "
        "table below.",
        "",
        *head, *rows['new'], "",
        "**`FocalLoss` against what it replaces** (fastai's `FocalLossFlat`, torchvision's `sigmoid_focal_loss`):",
        "",
        *head, *rows['old'], ""])
    out.write_text(md)
    print(f"wrote {out} in {total:.0f} s")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=15, help='timed runs per loss')
    main(p.parse_args().repeats)
