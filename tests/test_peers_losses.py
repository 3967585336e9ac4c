"""Peers' own test cases, run against our drop-in losses and metrics.

Each block names the peer suite it ports (fastai `nbs/01a_losses.ipynb`; torchvision `test/test_ops.py::TestFocalLoss`;
kornia `tests/losses/test_focal_loss.py`; catalyst `contrib/losses/focal.py`; imbalanced-learn
`imblearn/metrics/tests/test_classification.py`; the reference code of LDAM-DRW, logit adjustment, balanced softmax,
class-balanced loss and ASL) and ports the cases whose arguments mean the same for ours. The expected values are the
peer's formula written out here (never its code), or scikit-learn / PyTorch / fastai computing the same quantity.
Where we deliberately differ, the test pins our documented behaviour and says why."""
import functools, pickle, warnings
import numpy as np, pytest, torch
import torch.nn.functional as F
import sklearn.metrics as skm
from torch.utils.data import TensorDataset
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import BaseLoss, CrossEntropyLossFlat, BCEWithLogitsLossFlat
from fastai.losses import FocalLoss as FastaiFocalLoss
from fastai.metrics import BalancedAccuracy, MatthewsCorrCoef, F1Score
from torchvision.ops import sigmoid_focal_loss
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, AsymmetricLoss, DeferredReweighting
from imbalance_fastai.metrics import (threshold_scores, best_threshold, best_offsets, minority_recall, MinorityRecall,
                                      AvgPrecisionMacro, Decided)
from imbalance_fastai.calibration import calibration_bins, expected_calibration_error, fit_temperature

torch.set_num_threads(1)

def close(a, b, tol=1e-5): return torch.allclose(torch.as_tensor(a).double(), torch.as_tensor(b).double(), rtol=tol, atol=tol, equal_nan=False)

def grad_of(f, x):
    "Value and gradient of the scalar `f(x)`"
    x = x.detach().clone().requires_grad_()
    v = f(x)
    v.backward()
    return v.detach(), x.grad

# ================================================================ fastai: nbs/01a_losses.ipynb
# Already ported in tests/test_losses.py (not repeated here): FocalLossFlat(gamma=0) == CrossEntropyLossFlat on (32,5,10)
# and on a segmentation output (axis=1), gamma>0 differs, activation/decodes, fastai's FocalLoss's values without weights
# (and with weights at gamma=0; with gamma>0 fastai weights p_t, a documented difference), get_preds(with_loss=True),
# MixUp, learn.export/load_learner.

@pytest.mark.parametrize('make', [lambda c, **kw: LogitAdjustedLoss([1.]*c, **kw), lambda c, **kw: FocalLoss(gamma=0, **kw)])
def test_fastai_cross_entropy_flat_cases(make):
    "fastai's CrossEntropyLossFlat cases: a (32,5,10) output with the classes last, a segmentation output on axis=1; softmax activation, argmax decodes"
    torch.manual_seed(0)
    output, target = torch.randn(32, 5, 10), torch.randint(0, 10, (32, 5))
    tst, ce = make(10, axis=-1, reduction='none'), CrossEntropyLossFlat(reduction='none')
    # fastai flattens 'none' to (160,); ours keeps the target's shape, as fastai's unflattened FocalLoss and F.cross_entropy do
    assert tst(output, target).shape == (32, 5) and close(tst(output, target).flatten(), ce(output, target))
    assert torch.equal(tst.activation(output), F.softmax(output, dim=-1))
    assert torch.equal(tst.decodes(output), output.argmax(dim=-1))
    lf = make(5, axis=1)
    output, target = torch.randn(4, 5, 16, 16), torch.randint(0, 5, (4, 16, 16))
    assert close(lf(output, target), CrossEntropyLossFlat(axis=1)(output, target), 1e-4)
    assert torch.equal(lf.activation(output), F.softmax(output, dim=1)) and torch.equal(lf.decodes(output), output.argmax(dim=1))

def test_fastai_weighted_cross_entropy_on_the_device():
    "fastai's `CrossEntropyLossFlat(weight=torch.ones(10)).to(device)` case: ours moves its weight with `to` and gives the same loss"
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    tst = FocalLoss(gamma=0, weight=torch.ones(10)).to(device)
    output, target = torch.randn(32, 10, device=device), torch.randint(0, 10, (32,), device=device)
    assert tst.weight.device.type == device.type
    assert close(tst(output, target).cpu(), CrossEntropyLossFlat(weight=torch.ones(10, device=device))(output, target).cpu())

@pytest.mark.parametrize('red', ['mean', 'sum', 'none'])
def test_fastai_focal_loss_unflattened_segmentation(red):
    "fastai's `FocalLoss` (not Flat) takes (N,C,H,W) outputs on dim 1, as F.cross_entropy: ours gives its values and shapes"
    torch.manual_seed(1)
    out, targ = torch.randn(3, 4, 5, 6)*2, torch.randint(0, 4, (3, 5, 6))
    for g in (0., 2.):
        a, b = FocalLoss(g, None, red)(out, targ), FastaiFocalLoss(g, None, red)(out, targ)
        assert a.shape == b.shape and close(a, b)

def test_fastai_flat_wrapping_and_pickling():
    "fastai's way to flatten a loss, `BaseLoss(FocalLoss, ..., axis=...)`, works with ours, and both pickle (fastai issue 3901)"
    torch.manual_seed(2)
    w = torch.tensor([1., 2., 3.])
    flat = BaseLoss(FocalLoss, gamma=1., weight=w, axis=1)
    out, targ = torch.randn(4, 3, 5), torch.randint(0, 3, (4, 5))
    assert close(flat(out, targ), FocalLoss(1., w)(out, targ))
    for lf in (flat, FocalLoss(1., w), FocalLoss(mode='multilabel', alpha=.25)):
        lf2 = pickle.loads(pickle.dumps(lf))
        x, t = (out, (out > 0).float()) if getattr(lf, 'mode', None) == 'multilabel' else (out, targ)
        assert close(lf2(x, t), lf(x, t))

def test_fastai_bce_with_logits_flat_cases():
    "fastai's BCEWithLogitsLossFlat cases for FocalLoss(mode='multilabel', gamma=0): int 0/1 targets, sigmoid activation, thresh decodes"
    torch.manual_seed(3)
    output, target = torch.randn(32, 5), torch.randint(0, 2, (32, 5))
    tst = FocalLoss(gamma=0, mode='multilabel')
    assert close(tst(output, target), BCEWithLogitsLossFlat()(output, target))
    assert torch.equal(tst.activation(output), torch.sigmoid(output))
    assert torch.equal(tst.decodes(torch.sigmoid(output)), BCEWithLogitsLossFlat().decodes(torch.sigmoid(output)))
    output, target = torch.randn(32, 5, 10), torch.rand(32, 5, 10)   # fastai's case uses randn targets; ours are probabilities
    assert close(tst(output, target), BCEWithLogitsLossFlat()(output, target))
    # fastai's case feeds randn (not in [0,1]) targets; ours refuses them (a target outside [0,1] is a bug upstream)
    with pytest.raises(ValueError, match=r'outside \[0, 1\]'): tst(output, torch.randn(32, 5, 10))

def test_fastai_pos_weight_through_class_weights_and_alpha():
    "fastai's `BCEWithLogitsLossFlat(pos_weight=...)`: class_weights(multi-hot, 'inverse') is the usual pos_weight neg/pos, and alpha=w/(1+w) with weight=1+w is that loss"
    torch.manual_seed(4)
    output, target = torch.randn(64, 3), (torch.rand(64, 3) < torch.tensor([.5, .2, .1])).float()
    pw = class_weights(target, 'inverse')
    pos = target.sum(0)
    assert close(pw, (len(target)-pos)/pos)
    ref = BCEWithLogitsLossFlat(pos_weight=pw)(output, target)
    ours = FocalLoss(gamma=0, mode='multilabel', alpha=pw/(1+pw), weight=1+pw)(output, target)
    assert close(ours, ref)

# ================================================================ torchvision: test/test_ops.py::TestFocalLoss

def _diverse_pair(seed, shape=(5, 2)):
    "torchvision's `_generate_diverse_input_target_pair`: logits of probabilities small/big/random against all-0, all-1 and random 0/1 targets"
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi-lo)*torch.rand(shape, generator=g, dtype=torch.float64).clamp(1e-6, 1-1e-6)
    tgt = {'zeros': lambda: torch.zeros(shape, dtype=torch.float64), 'ones': lambda: torch.ones(shape, dtype=torch.float64),
           'random_binary': lambda: torch.randint(0, 2, shape, generator=g).double()}
    xs, ts = [], []
    for p in ((0., .2), (.8, 1.), (0., 1.)):
        for t in ('zeros', 'ones', 'random_binary'):
            q = u(*p); xs.append(torch.log(q/(1-q))); ts.append(tgt[t]())
    return torch.cat(xs), torch.cat(ts)

@pytest.mark.parametrize('alpha', [None, 0., .58, 1.])   # torchvision's alpha=-1 (no weighting) is our alpha=None
@pytest.mark.parametrize('gamma', [0, 2])
@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('mode', ['multilabel', 'binary'])
def test_torchvision_correct_ratio(alpha, gamma, seed, mode):
    "Focal loss <= BCE, and focal/BCE = (1-p_t)**gamma * alpha_t, elementwise (reduction='none')"
    x, t = _diverse_pair(seed)
    if mode == 'binary': x, t = x.reshape(-1), t.reshape(-1)
    fl = FocalLoss(gamma, mode=mode, alpha=alpha, reduction='none')(x, t)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction='none')
    assert fl.shape == ce.shape and (fl <= ce + 1e-12).all()
    p = torch.sigmoid(x)
    p_t = p*t + (1-p)*(1-t)
    ratio = (1-p_t)**gamma * (1 if alpha is None else alpha*t + (1-alpha)*(1-t))
    ok = ce > 1e-12
    assert close((fl/ce)[ok], ratio[ok])
    assert (fl[~ok] == 0).all()

@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@pytest.mark.parametrize('seed', [2, 3])
def test_torchvision_equal_ce_loss(reduction, seed):
    "alpha=None (torchvision's -1) and gamma=0: BCE with logits, values and gradients"
    x, t = _diverse_pair(seed)
    v1, g1 = grad_of(lambda x: FocalLoss(0, mode='multilabel', reduction=reduction)(x, t), x)
    v2, g2 = grad_of(lambda x: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), x)
    assert close(v1, v2) and close(g1, g2)

@pytest.mark.parametrize('alpha', [None, 0., .58, 1.])
@pytest.mark.parametrize('gamma', [0, 2])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_torchvision_same_values_as_sigmoid_focal_loss(alpha, gamma, reduction):
    "torchvision's test_jit compares two implementations on the diverse pair: here ours against `ops.sigmoid_focal_loss` itself (TorchScript does not apply to an nn.Module with buffers set at build time)"
    x, t = _diverse_pair(4)
    ours = FocalLoss(gamma, mode='multilabel', alpha=alpha, reduction=reduction)(x, t)
    ref = sigmoid_focal_loss(x, t, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction)
    assert close(ours, ref)

def test_torchvision_alpha_minus_one_points_to_none():
    "torchvision's alpha=-1 (no weighting) is our alpha=None; -1 itself is refused with that pointer, not read as a weight"
    for mode in ('binary', 'multilabel'):
        with pytest.raises(ValueError, match=r"torchvision's alpha=-1\) pass alpha=None"): FocalLoss(mode=mode, alpha=-1)

def test_torchvision_invalid_reduction():
    "torchvision raises ValueError for an unknown reduction; ours does too, when the loss is built"
    with pytest.raises(ValueError, match='reduction'): FocalLoss(mode='multilabel', reduction='batchwise_mean')
    with pytest.raises(ValueError, match='reduction'): sigmoid_focal_loss(torch.zeros(2), torch.zeros(2), reduction='batchwise_mean')

# ================================================================ kornia: tests/losses/test_focal_loss.py

@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('ignore_index', [-100, None])
def test_kornia_binary_value_same_as_torch_bce_loss(reduction, ignore_index):
    "binary_focal_loss_with_logits(alpha=None, gamma=0) on (2,3,2) logits and soft labels is F.binary_cross_entropy_with_logits"
    torch.manual_seed(5)
    logits, labels = torch.rand(2, 3, 2), torch.rand(2, 3, 2)
    assert close(FocalLoss(0, mode='multilabel', reduction=reduction, ignore_index=ignore_index)(logits, labels),
                 F.binary_cross_entropy_with_logits(logits, labels, reduction=reduction))

@pytest.mark.parametrize('make', [lambda **kw: FocalLoss(2., **kw), lambda **kw: LogitAdjustedLoss([1., 2., 3.], **kw),
                                  lambda **kw: LDAMLoss([5, 3, 1], **kw)])
def test_kornia_ignore_index_none_ignores_nothing(make):
    "kornia's ignore_index=None: nothing ignored, so the loss is the unignored one, and a -100 target is refused like any code out of range"
    torch.manual_seed(18)
    logits, labels = torch.randn(6, 3), torch.randint(0, 3, (6,))
    assert close(make(ignore_index=None)(logits, labels), make()(logits, labels))
    with pytest.raises(ValueError, match=r'class codes \[-100\] outside \[0, 3\)'): make(ignore_index=None)(logits, labels.masked_fill(labels == 0, -100))
    for lf in (FocalLoss(mode='multilabel', ignore_index=None), AsymmetricLoss(ignore_index=None)):
        t = (torch.rand(6, 3) < .5).float()
        assert close(lf(logits, t), type(lf)(**({'mode': 'multilabel'} if isinstance(lf, FocalLoss) else {}))(logits, t))
        with pytest.raises(ValueError, match=r'outside \[0, 1\]'): lf(logits, t.masked_fill(t == 0, -100))

@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_kornia_binary_weight_is_bces_weight(reduction):
    "kornia's `weight` per class (on axis 1 of (2,3,2)) is BCE's `weight`; ours is `weight` on the label axis"
    torch.manual_seed(6)
    logits, labels, w = torch.rand(2, 3, 2), torch.rand(2, 3, 2), torch.rand(3)
    assert close(FocalLoss(0, w, reduction, mode='multilabel')(logits, labels),
                 F.binary_cross_entropy_with_logits(logits, labels, weight=w[:, None], reduction=reduction))

@pytest.mark.parametrize('reduction,expected_shape', [('none', (2, 3, 2)), ('mean', ()), ('sum', ())])
@pytest.mark.parametrize('alpha', [None, .2, .5])
@pytest.mark.parametrize('gamma', [0., 1., 2.])
def test_kornia_binary_shape_alpha_gamma(reduction, expected_shape, alpha, gamma):
    logits, labels = torch.rand(2, 3, 2), torch.rand(2, 3, 2)
    assert FocalLoss(gamma, mode='multilabel', alpha=alpha, reduction=reduction)(logits, labels).shape == expected_shape

@pytest.mark.parametrize('reduction,expected_shape', [('none', (2, 3, 2)), ('mean', ()), ('sum', ())])
@pytest.mark.parametrize('ignore_index', [-100, 255])
def test_kornia_binary_ignore_index(reduction, expected_shape, ignore_index):
    "Shapes with ignored labels, and the values: ignored labels give 0 and leave the mean"
    torch.manual_seed(7)
    logits, labels = torch.rand(2, 3, 2), torch.rand(2, 3, 2)
    ignore = torch.rand(2, 3, 2) > .6
    lab = labels.masked_fill(ignore, ignore_index)
    lf = FocalLoss(.5, mode='multilabel', alpha=.8, reduction=reduction, ignore_index=ignore_index)
    v = lf(logits, lab)
    assert v.shape == expected_shape
    full = FocalLoss(.5, mode='multilabel', alpha=.8, reduction='none')(logits, labels)
    ref = {'none': full.masked_fill(ignore, 0), 'sum': full[~ignore].sum(), 'mean': full[~ignore].mean()}[reduction]
    assert close(v, ref)

def test_kornia_binary_gradcheck():
    torch.manual_seed(8)
    logits, labels = torch.rand(2, 3, 2, dtype=torch.float64, requires_grad=True), torch.rand(2, 3, 2, dtype=torch.float64)
    lf = FocalLoss(2., mode='multilabel', alpha=.25)
    assert torch.autograd.gradcheck(lambda x: lf(x, labels), (logits,))
    labels[torch.rand(2, 3, 2) > .8] = -100
    assert torch.autograd.gradcheck(lambda x: lf(x, labels), (logits,))

def test_kornia_binary_numeric_stability():
    "Logits of +-100 on their right labels: a loss of exactly 0 (and a finite gradient)"
    x = torch.tensor([[100., -100.]], requires_grad=True)
    v = FocalLoss(2., mode='multilabel', alpha=.25, reduction='none')(x, torch.tensor([[1., 0.]]))
    assert torch.equal(v, torch.zeros(1, 2))
    v.sum().backward()
    assert torch.isfinite(x.grad).all()

@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('gamma', [0., 2.])
@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('spatial', [False, True])
def test_kornia_ignored_extreme_logits(reduction, gamma, weighted, spatial):
    "Ignored targets whose logits are float32's extremes change neither the loss nor its gradient"
    extreme = torch.finfo(torch.float32).max
    logits, labels = torch.tensor([[extreme, -extreme], [0., 0.]]), torch.tensor([-100, 0])
    if spatial: logits, labels = logits.T.reshape(1, 2, 1, 2), labels.reshape(1, 1, 2)
    lf = FocalLoss(gamma, torch.tensor([.5, 1.5]) if weighted else None, reduction)
    v1, g1 = grad_of(lambda x: lf(x, labels).sum(), logits)
    v2, g2 = grad_of(lambda x: lf(x, labels).sum(), torch.zeros_like(logits))
    assert close(v1, v2) and close(g1, g2)

@pytest.mark.parametrize('ignore_index', [-100, 255])
def test_kornia_all_ignored_extreme_logits(ignore_index):
    "Every target ignored: 'sum' gives 0 and a zero gradient"
    extreme = torch.finfo(torch.float32).max
    v, g = grad_of(lambda x: FocalLoss(reduction='sum', ignore_index=ignore_index)(x, torch.full((1,), ignore_index)),
                   torch.tensor([[extreme, -extreme]]))
    assert v == 0 and torch.equal(g, torch.zeros(1, 2))

@pytest.mark.parametrize('value', [float('inf'), float('-inf'), float('nan')])
def test_kornia_ignored_non_finite_logits(value):
    "A non-finite logit in an ignored row changes neither the loss nor the gradient, which is 0 there (F.cross_entropy's is NaN for inf and NaN)"
    logits, safe = torch.tensor([[value, 0.], [.3, -.2]]), torch.tensor([[0., 0.], [.3, -.2]])
    labels = torch.tensor([-100, 1])
    for lf in (FocalLoss(2., reduction='sum'), FocalLoss(2., torch.tensor([.5, 1.5]), 'mean')):
        v1, g1 = grad_of(lambda x: lf(x, labels), logits)
        v2, g2 = grad_of(lambda x: lf(x, labels), safe)
        assert close(v1, v2)
        assert (g1[0] == 0).all() and close(g1, g2)

@pytest.mark.parametrize('reduction,expected_shape', [('none', (2, 3, 2)), ('mean', ()), ('sum', ())])
@pytest.mark.parametrize('alpha', [None, (.2, .3, .5)])
@pytest.mark.parametrize('gamma', [0., 1., 2.])
def test_kornia_multiclass_shapes(reduction, expected_shape, alpha, gamma):
    "kornia's 'none' is (N,C,H,W), one value per class; ours is one loss per target, (N,H,W), as F.cross_entropy and fastai's FocalLoss"
    logits, labels = torch.rand(2, 3, 3, 2), torch.randint(3, (2, 3, 2))
    assert FocalLoss(gamma, reduction=reduction, alpha=alpha)(logits, labels).shape == expected_shape
    assert FocalLoss(gamma, reduction=reduction)(torch.rand(2, 3), torch.randint(3, (2,))).shape == ((2,) if reduction == 'none' else ())

def test_kornia_multiclass_scalar_alpha_is_refused():
    "kornia's scalar alpha in the softmax loss is a constant factor on every loss; ours is one weight per class, and a scalar is refused with a pointer"
    with pytest.raises(ValueError, match='one weight per class'): FocalLoss(2., alpha=.25)

@pytest.mark.parametrize('ignore_index', [-100, 255])
def test_kornia_multiclass_value_ignore_index(ignore_index):
    "Ignored targets give 0 ('none') and the others are unchanged, as with an extra class whose logit is -inf"
    torch.manual_seed(9)
    logits, labels = torch.rand(2, 3, 3, 2), torch.randint(3, (2, 3, 2))
    ignore = torch.rand(2, 3, 2) > .6
    lab = labels.masked_fill(ignore, ignore_index)
    extra = torch.cat([logits, logits.new_full((2, 1, 3, 2), float('-inf'))], dim=1)
    ref = FocalLoss(.5, reduction='none')(extra, labels.masked_fill(ignore, 3)).masked_fill(ignore, 0)
    assert close(FocalLoss(.5, reduction='none', ignore_index=ignore_index)(logits, lab), ref)

def test_kornia_multiclass_gradcheck():
    torch.manual_seed(10)
    logits, labels = torch.rand(2, 3, 3, 2, dtype=torch.float64, requires_grad=True), torch.randint(3, (2, 3, 2))
    labels[torch.rand(2, 3, 2) > .8] = -100
    lf = FocalLoss(2., torch.tensor([.25, 1., 2.]))
    assert torch.autograd.gradcheck(lambda x: lf(x, labels), (logits,))

def test_kornia_docstring_example_is_exact_here():
    "kornia's binary example (logits 6.325, 5.26, 87.49; labels 1, 1, 0; alpha=.25, gamma=2, mean) prints 4.6052, which is its eps=1e-8 clamping log(1-p) at log(1e-8); ours is the exact loss, 0.75*87.49/3 and two tiny terms"
    logits, labels = torch.tensor([[[[6.325]]], [[[5.26]]], [[[87.49]]]]), torch.tensor([[[1.]], [[1.]], [[0.]]])   # (N,1,H,W) logits, (N,H,W) labels
    x, t = logits.double().view(-1), labels.double().view(-1)
    p = torch.sigmoid(x); p_t = p*t + (1-p)*(1-t)
    exact = ((.25*t + .75*(1-t))*(1-p_t)**2*F.binary_cross_entropy_with_logits(x, t, reduction='none')).mean()
    ours = FocalLoss(2., mode='binary', alpha=.25)(logits, labels)
    assert close(ours, exact) and ours == pytest.approx(.75*87.49/3, rel=1e-4)

@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_kornia_multiclass_formula(reduction):
    "kornia's earlier focal_loss (one value per target): sum over classes of one_hot * alpha * (1-p)**gamma * -log p, one per target: ours times its scalar alpha"
    torch.manual_seed(19)
    x, t = torch.randn(2, 4, 3, 5, dtype=torch.float64), torch.randint(0, 4, (2, 3, 5))
    p = F.softmax(x, 1)
    per = (F.one_hot(t, 4).movedim(-1, 1)*.5*(1-p)**2*-p.log()).sum(1)
    ref = {'none': per, 'mean': per.mean(), 'sum': per.sum()}[reduction]
    assert close(.5*FocalLoss(2., reduction=reduction)(x, t), ref)

# ================================================================ catalyst: contrib/losses/focal.py

def _catalyst_sigmoid_focal(x, t, gamma=2., alpha=.25):
    "catalyst's `metrics.sigmoid_focal_loss` per element, written from its definition: -(1-p_t)**gamma log p_t, times alpha_t"
    logpt = -F.binary_cross_entropy_with_logits(x, t, reduction='none')
    return -(1-logpt.exp())**gamma * logpt * (alpha*t + (1-alpha)*(1-t))

def test_catalyst_focal_loss_binary():
    "FocalLossBinary(gamma=2, alpha=.25): flattened sigmoid focal loss, mean; with `ignore`, those targets filtered out"
    torch.manual_seed(11)
    x, t = torch.randn(8, 1, 4, 4)*2, (torch.rand(8, 1, 4, 4) < .2).float()
    ref = _catalyst_sigmoid_focal(x.view(-1), t.view(-1)).mean()
    assert close(FocalLoss(2., mode='binary', alpha=.25)(x, t), ref)
    t_ign = t.masked_fill(torch.rand(8, 1, 4, 4) < .3, -1)
    keep = t_ign.view(-1) != -1
    ref = _catalyst_sigmoid_focal(x.view(-1)[keep], t_ign.view(-1)[keep]).mean()
    assert close(FocalLoss(2., mode='binary', alpha=.25, ignore_index=-1)(x, t_ign), ref)

def test_catalyst_focal_loss_multiclass_one_vs_rest():
    "FocalLossMultiClass: the sum over classes of the binary focal loss of each class against the rest: ours on one-hot targets, times C"
    torch.manual_seed(12)
    x, t = torch.randn(20, 4)*2, torch.randint(0, 4, (20,))
    oh = F.one_hot(t, 4).float()
    ref = sum(_catalyst_sigmoid_focal(x[:, c], oh[:, c]).mean() for c in range(4))
    assert close(4*FocalLoss(2., mode='multilabel', alpha=.25)(x, oh), ref)
    # its `ignore=-1` drops those rows from every class's mean: ours with the rows' targets set to ignore_index
    t_ign = t.masked_fill(torch.arange(20) % 5 == 0, -1)
    keep = t_ign != -1
    ref = sum(_catalyst_sigmoid_focal(x[keep, c], oh[keep, c]).mean() for c in range(4))
    assert close(4*FocalLoss(2., mode='multilabel', alpha=.25, ignore_index=-1)(x, oh.masked_fill(~keep[:, None], -1)), ref)

# ================================================================ imbalanced-learn: imblearn/metrics/tests/test_classification.py

@functools.lru_cache
def _imblearn_prediction(binary):
    "imblearn's `make_prediction`: a classifier's predictions on noisy iris (here a seeded logistic regression on half the rows)"
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    if binary: X, y = X[y < 2], y[y < 2]
    rng = np.random.RandomState(37); p = rng.permutation(len(y)); X, y = X[p], y[p]
    X = np.c_[X, np.random.RandomState(0).randn(len(y), 20*X.shape[1])]
    half = len(y)//2
    clf = LogisticRegression(C=.05, max_iter=500).fit(X[:half], y[:half])
    return y[half:], clf.predict(X[half:]), clf.predict_proba(X[half:])

def test_imblearn_sensitivity_specificity_binary_in_threshold_scores():
    "threshold_scores' recall is sensitivity_score, and its balanced accuracy and Youden's J are (sens+spec)/2 and sens+spec-1; the other columns are scikit-learn's"
    im = pytest.importorskip('imblearn.metrics')
    y, _, proba = _imblearn_prediction(binary=True)
    df = threshold_scores(proba[:, 1], y, thresholds=np.array([.3, .5, .7]))
    for _, r in df.iterrows():
        d = (proba[:, 1] > r.threshold).astype(int)
        sens, spec = im.sensitivity_score(y, d), im.specificity_score(y, d)
        assert r.recall == pytest.approx(sens)
        assert r.balanced_accuracy == pytest.approx((sens+spec)/2) and r.youden == pytest.approx(sens+spec-1)
        assert r.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, d))
        assert r.mcc == pytest.approx(skm.matthews_corrcoef(y, d)) and r.f1 == pytest.approx(skm.f1_score(y, d))
        assert r.precision == pytest.approx(skm.precision_score(y, d, zero_division=0))
        assert r.macro_f1 == pytest.approx(skm.f1_score(y, d, average='macro'))

def test_imblearn_sensitivity_of_the_classes_asked_for():
    "minority_recall(classes=...) is imblearn's sensitivity_score(labels=classes, average='macro') when every class asked for has rows"
    im = pytest.importorskip('imblearn.metrics')
    y, d, _ = _imblearn_prediction(binary=False)
    for classes in ([0], [1, 2], [0, 1, 2]):
        assert minority_recall(y, d, classes) == pytest.approx(im.sensitivity_score(y, d, labels=classes, average='macro'))

def test_imblearn_extra_labels_are_left_out():
    "imblearn's extra labels (classes without a row in y_true) count 0 in its macro average; ours leaves them out (documented: the mean over the classes that have rows, NaN if none has)"
    im = pytest.importorskip('imblearn.metrics')
    y, d = np.array([1, 3, 3, 2]), np.array([1, 1, 3, 2])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        theirs = im.sensitivity_score(y, d, labels=[0, 1, 2, 3, 4], average='macro')
    assert minority_recall(y, d, [0, 1, 2, 3, 4]) == pytest.approx(im.sensitivity_score(y, d, labels=[1, 2, 3], average='macro'))
    assert minority_recall(y, d, [0, 1, 2, 3, 4]) > theirs
    assert np.isnan(minority_recall(y, d, [0, 4]))

def test_imblearn_single_class():
    "imblearn's single-class case: all positives predicted positive have a sensitivity of 1; a threshold cannot be tuned on one class"
    im = pytest.importorskip('imblearn.metrics')
    df = threshold_scores(np.array([.9, .8]), np.array([1, 1]), thresholds=np.array([.5]))
    assert df.recall.iloc[0] == im.sensitivity_score([1, 1], [1, 1]) == 1
    with pytest.raises(ValueError, match='single class'): best_threshold(np.array([.9, .8]), np.array([1, 1]))

def test_imblearn_multilabel_targets_refused_for_class_recall():
    "imblearn's sensitivity_score raises ValueError for multi-label indicator targets; so does minority_recall, unless the decisions are a bool mask (multi-label decisions: each label's recall)"
    im = pytest.importorskip('imblearn.metrics')
    y_true, y_pred = np.eye(5)[[1, 3, 3, 2]], np.eye(5)[[1, 1, 3, 2]]
    with pytest.raises(ValueError): im.sensitivity_score(y_true, y_pred)
    with pytest.raises(ValueError, match='the decisions as a bool mask'): minority_recall(y_true, y_pred, [1])
    assert minority_recall(y_true, y_pred.astype(bool), [3]) == pytest.approx(.5)   # label 3: 2 positives, 1 found

def test_imblearn_classification_report_per_class_columns():
    "imbalance_report's per-class precision, recall, f1 and support are classification_report_imbalanced's pre, rec, f1, sup (its spe/geo/iba are not offered)"
    im = pytest.importorskip('imblearn.metrics')
    from imbalance_fastai.report import imbalance_report
    y, d, proba = _imblearn_prediction(binary=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        rep = imbalance_report(proba, y)['uncorrected']
        ref = im.classification_report_imbalanced(y, proba.argmax(1), output_dict=True)
    for k in range(3):
        for ours, theirs in (('precision', 'pre'), ('recall', 'rec'), ('f1', 'f1'), ('support', 'sup')):
            assert rep[(ours, str(k))] == pytest.approx(ref[str(k)][theirs])

# ================================================================ scikit-learn through our fastai metrics

class _Fixed(torch.nn.Module):
    "A 'model' whose output for row `i` is row `i` of a fixed table of logits"
    def __init__(self, logits): super().__init__(); self.z = torch.nn.Parameter(logits.clone())
    def forward(self, i): return self.z[i.view(-1)]

def _fixed_learner(logits, y, bs=8, column=False, loss_func=None):
    "A fastai Learner that predicts `logits` for the rows of a validation set with targets `y` ((bs,1) batches with `column`)"
    i = torch.arange(len(y))
    yt = torch.as_tensor(y)
    ds = TensorDataset(i, yt[:, None] if column else yt)
    dls = DataLoaders(DataLoader(ds, bs=bs), DataLoader(ds, bs=bs))
    return Learner(dls, _Fixed(torch.as_tensor(logits, dtype=torch.float32)), loss_func=loss_func or CrossEntropyLossFlat())

def _validate(learn, metrics):
    learn.metrics = metrics
    with learn.no_bar(), learn.no_logging(): return [float(v) for v in learn.validate()[1:]]

def _case(kind, seed=0, n=80):
    "Logits and targets: 'multiclass' (4 classes, class 3 in one batch only), 'binary', or 'absent' (class 3 never in the targets)"
    rng = np.random.default_rng(seed)
    c = 2 if kind == 'binary' else 4
    y = rng.choice(c, n, p=[.9, .1] if c == 2 else [.5, .3, .15, .05])
    if kind == 'multiclass': y[y == 3] = 0; y[[3, 5]] = 3        # class 3 only in the first batch
    if kind == 'absent': y[y == 3] = 1
    z = rng.normal(size=(n, c)) + 1.5*np.eye(c)[y]
    return z, y

@pytest.mark.parametrize('kind', ['multiclass', 'binary', 'absent'])
@pytest.mark.parametrize('column', [False, True])
def test_sklearn_decided_metrics(kind, column):
    "Decided(BalancedAccuracy()), Decided(MatthewsCorrCoef()), Decided(F1Score(average='macro')) and fastai's own metrics equal scikit-learn on the argmax, over batches where a class is absent"
    z, y = _case(kind)
    d = z.argmax(1)
    learn = _fixed_learner(z, y, column=column)
    got = _validate(learn, [Decided(BalancedAccuracy()), Decided(MatthewsCorrCoef()), Decided(F1Score(average='macro')), BalancedAccuracy()])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # sklearn warns of a class predicted but absent from y_true
        ref = [skm.balanced_accuracy_score(y, d), skm.matthews_corrcoef(y, d), skm.f1_score(y, d, average='macro'), skm.balanced_accuracy_score(y, d)]
    assert got == pytest.approx(ref)

@pytest.mark.parametrize('kind', ['multiclass', 'binary', 'absent'])
@pytest.mark.parametrize('column', [False, True])
def test_sklearn_average_precision_macro(kind, column):
    "AvgPrecisionMacro is average_precision_score one-vs-rest, macro, over the classes with positives (a class absent from validation is left out; sklearn scores it 0)"
    z, y = _case(kind)
    p = torch.softmax(torch.tensor(z, dtype=torch.float32), 1).double().numpy()
    learn = _fixed_learner(z, y, column=column)
    got, = _validate(learn, [AvgPrecisionMacro()])
    if kind == 'binary': ref = skm.average_precision_score(y, p[:, 1])
    else:
        present = np.unique(y)
        ref = skm.average_precision_score(np.eye(4)[y][:, present], p[:, present], average='macro')
    assert got == pytest.approx(ref, abs=1e-6)

def test_sklearn_average_precision_without_positives():
    "A validation set without positives: AvgPrecisionMacro is NaN (documented: undefined), where scikit-learn warns and returns 0"
    z, y = _case('binary')
    y[:] = 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        got, = _validate(_fixed_learner(z, y), [AvgPrecisionMacro()])
        assert skm.average_precision_score(y, z[:, 1]) == 0
    assert np.isnan(got)

@pytest.mark.parametrize('column', [False, True])
def test_sklearn_minority_recall_of_a_class(column):
    "MinorityRecall(cls=k) is recall_score(labels=[k]); for a class absent from validation it is NaN (sklearn: 0 with a warning)"
    z, y = _case('multiclass')
    d = z.argmax(1)
    learn = _fixed_learner(z, y, column=column)
    got = _validate(learn, [MinorityRecall(cls=3), MinorityRecall(cls=1)])
    assert got == pytest.approx([skm.recall_score(y, d, labels=[3], average='macro'), skm.recall_score(y, d, labels=[1], average='macro')])
    z, y = _case('absent')
    assert np.isnan(_validate(_fixed_learner(z, y, column=column), [MinorityRecall(cls=3)])[0])

def test_sklearn_minority_recall_of_the_rarest_classes():
    "MinorityRecall() averages the recall of the rarest 30% of the train split's classes (here 2 of 4: classes 3 and 2), recall_score(labels=...) of those"
    z, y = _case('multiclass')
    d = z.argmax(1)
    got, = _validate(_fixed_learner(z, y), [MinorityRecall()])
    assert got == pytest.approx(skm.recall_score(y, d, labels=[3, 2], average='macro'))

def test_sklearn_metrics_of_sigmoid_learners():
    "A binary learner with one logit (FocalLoss(mode='binary'), (bs,1) targets) and a multi-label one: AP and balanced accuracy as scikit-learn's on p and p > 0.5"
    rng = np.random.default_rng(1)
    n = 64
    yb = (rng.random(n) < .2).astype(np.float32)
    zb = rng.normal(size=(n, 1)) + 2*yb[:, None]
    pb = 1/(1+np.exp(-zb[:, 0]))
    got = _validate(_fixed_learner(zb, yb[:, None], loss_func=FocalLoss(mode='binary')), [AvgPrecisionMacro(), Decided(BalancedAccuracy())])
    assert got == pytest.approx([skm.average_precision_score(yb, pb), skm.balanced_accuracy_score(yb, pb > .5)])
    Y = (rng.random((n, 3)) < [.3, .1, 0]).astype(np.float32)   # the third label has no positive in validation: left out
    Z = rng.normal(size=(n, 3)) + 2*Y
    got, = _validate(_fixed_learner(Z, Y, loss_func=FocalLoss(mode='multilabel')), [AvgPrecisionMacro()])
    assert got == pytest.approx(skm.average_precision_score(Y[:, :2], 1/(1+np.exp(-Z[:, :2])), average='macro'))

@pytest.mark.parametrize('column', [False, True])
def test_fastai_ap_metrics_agree(column):
    "AvgPrecisionMacro is fastai's APScoreBinary() on a 2-class softmax learner and APScoreMulti() on a multi-label one (every label with positives)"
    from fastai.metrics import APScoreBinary, APScoreMulti
    z, y = _case('binary')
    a, b = _validate(_fixed_learner(z, y, column=column), [AvgPrecisionMacro(), APScoreBinary()])
    assert a == pytest.approx(b, abs=1e-9)
    rng = np.random.default_rng(4)
    Y = (rng.random((64, 3)) < [.3, .2, .1]).astype(np.float32)
    Z = rng.normal(size=(64, 3)) + 2*Y
    a, b = _validate(_fixed_learner(Z, Y, loss_func=FocalLoss(mode='multilabel')), [AvgPrecisionMacro(), APScoreMulti()])
    assert a == pytest.approx(b, abs=1e-9)

def test_fastai_multilabel_metrics_on_the_learners_decisions():
    "Decided(F1ScoreMulti()) is fastai's F1ScoreMulti at the learner's per-label decisions (its tuned thresholds); Decided(F1Score()) would flatten the labels: refused"
    from fastai.metrics import F1ScoreMulti, F1Score
    rng = np.random.default_rng(4)
    Y = (rng.random((64, 3)) < [.3, .2, .1]).astype(np.float32)
    Z = rng.normal(size=(64, 3)) + 2*Y
    P = 1/(1+np.exp(-Z))
    learn = _fixed_learner(Z, Y, loss_func=FocalLoss(mode='multilabel'))
    got = _validate(learn, [Decided(F1ScoreMulti()), F1ScoreMulti()])
    assert got == pytest.approx([skm.f1_score(Y, P > .5, average='macro')]*2)
    t = np.array([.3, .6, .4])
    learn.set_decision(thresh=t)
    got = _validate(learn, [Decided(F1ScoreMulti()), F1ScoreMulti()])
    assert got == pytest.approx([skm.f1_score(Y, P > t, average='macro'), skm.f1_score(Y, P >= .5, average='macro')])
    with pytest.raises(TypeError, match='F1ScoreMulti'): _validate(learn, [Decided(F1Score(average='macro'))])

def test_sklearn_class_weight_balanced():
    "class_weights(labels) is scikit-learn's compute_class_weight('balanced'), for codes and names (labels as a Series: a list of numbers is read as counts)"
    import pandas as pd
    from sklearn.utils.class_weight import compute_class_weight
    y = np.random.default_rng(0).choice(4, 200, p=[.6, .25, .1, .05])
    for s in (pd.Series(y), pd.Series(np.array(list('abcd'))[y])):
        assert np.allclose(class_weights(s).numpy(), compute_class_weight('balanced', classes=np.unique(s), y=s))
    assert np.allclose(class_weights(np.bincount(y)).numpy(), compute_class_weight('balanced', classes=np.arange(4), y=y))

def test_sklearn_calibration_curve_and_ece():
    "calibration_bins of a binary model is sklearn's calibration_curve (uniform bins, the same edges), and the ECE its count-weighted gap"
    from sklearn.calibration import calibration_curve
    rng = np.random.default_rng(2)
    p = rng.random(500)
    y = (rng.random(500) < p**1.5).astype(int)
    for n_bins in (5, 10, 15):
        df = calibration_bins(p, y, n_bins)
        ok = df['count'].to_numpy() > 0
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins)
        assert np.allclose(df.frequency.to_numpy()[ok], prob_true) and np.allclose(df.mean_prob.to_numpy()[ok], prob_pred)
        ece = (df['count'][ok]*(df.frequency[ok]-df.mean_prob[ok]).abs()).sum()/len(p)
        assert expected_calibration_error(p, y, n_bins) == pytest.approx(ece)

def test_sklearn_temperature_scaling():
    "fit_temperature is 1/beta of scikit-learn's temperature scaling (CalibratedClassifierCV(method='temperature')) on the same logits"
    import sklearn.calibration as skc
    if not hasattr(skc, '_TemperatureScaling'): pytest.skip("scikit-learn < 1.8 has no temperature scaling")
    rng = np.random.default_rng(3)
    y = rng.choice(3, 400, p=[.6, .3, .1])
    z = 3*(rng.normal(size=(400, 3)) + 1.2*np.eye(3)[y])   # over-confident logits: T > 1
    T = fit_temperature(z, y)
    assert T > 1 and T == pytest.approx(1/float(skc._TemperatureScaling().fit(z, y).beta_), rel=1e-3)
    # one logit per row: sklearn reads x as the 2-class logits (-x, x), whose softmax is sigmoid(2x), so T = 1/(2 beta)
    yb = (y == 2).astype(int)
    zb = 4*(rng.normal(size=400) + 1.5*yb)
    Tb = fit_temperature(zb, yb, multilabel=True)
    assert Tb == pytest.approx(1/(2*float(skc._TemperatureScaling().fit(zb, yb).beta_)), rel=1e-3)

@functools.lru_cache
def _cancer_model():
    "A logistic regression fitted on the first half of breast-cancer data (malignant the positive class, thinned to about 15%)"
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    X, y = load_breast_cancer(return_X_y=True)
    X, y = (X - X.mean(0))/X.std(0), 1-y
    keep = (y == 0) | (np.random.default_rng(0).random(len(y)) < .3)
    X, y = X[keep], y[keep]
    n = len(y)//2
    return LogisticRegression(C=.05).fit(X[:n], y[:n]), X, y, n

@pytest.mark.parametrize('metric', ['balanced_accuracy', 'f1'])
def test_sklearn_tuned_threshold(metric):
    "best_threshold does what scikit-learn's TunedThresholdClassifierCV(cv='prefit') does on the same held-out rows, and scores at least as well (it tries every midpoint, sklearn a grid of 100)"
    ms = pytest.importorskip('sklearn.model_selection')
    if not hasattr(ms, 'TunedThresholdClassifierCV'): pytest.skip('scikit-learn < 1.5')
    clf, X, y, n = _cancer_model()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        tuned = ms.TunedThresholdClassifierCV(clf, scoring=metric, cv='prefit', refit=False).fit(X[n:], y[n:])
    p = clf.predict_proba(X[n:])[:, 1]
    f = skm.balanced_accuracy_score if metric == 'balanced_accuracy' else skm.f1_score
    t = best_threshold(p, y[n:], metric)
    assert f(y[n:], p > t) >= tuned.best_score_ - 1e-12
    assert f(y[n:], p > t) == pytest.approx(threshold_scores(p, y[n:])[metric].max())

def test_sklearn_best_offsets_scores():
    "best_offsets' scores are scikit-learn's: the offsets it returns score, by sklearn, at least the argmax"
    z, y = _case('multiclass', seed=3, n=300)
    logp = torch.log_softmax(torch.tensor(z), 1).numpy()
    for metric, f in (('balanced_accuracy', skm.balanced_accuracy_score), ('macro_f1', lambda a, b: skm.f1_score(a, b, average='macro')),
                      ('mcc', skm.matthews_corrcoef)):
        o = best_offsets(np.exp(logp), y, metric)
        assert f(y, (logp + o).argmax(1)) >= f(y, logp.argmax(1)) - 1e-12

# ================================================================ reference implementations of the long-tail losses

def _ldam_ref(x, t, counts, max_m=.5, s=30., weight=None):
    "kaidic/LDAM-DRW `LDAMLoss`, from its definition: margins 1/n**(1/4) scaled to max_m, subtracted from the target logit, then CE of s*logits"
    m = 1/np.sqrt(np.sqrt(np.asarray(counts, float)))
    m = torch.tensor(m*(max_m/m.max()), dtype=x.dtype)
    return F.cross_entropy(s*(x - F.one_hot(t, x.shape[1]).to(x.dtype)*m), t, weight=weight)

def test_ldam_drw_reference():
    "LDAM values and gradients, and the DRW weights of the reference (train.py: (1-beta)/(1-beta**n), normalised to sum to C), which give the same weighted mean"
    torch.manual_seed(13)
    counts = [500, 120, 30, 5]
    x, t = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 4, (40,))
    v1, g1 = grad_of(lambda x: LDAMLoss(counts)(x, t), x)
    v2, g2 = grad_of(lambda x: _ldam_ref(x, t, counts), x)
    assert close(v1, v2) and close(g1, g2)
    beta, n = .9999, np.asarray(counts, float)
    w_ref = (1-beta)/(1-beta**n); w_ref = torch.tensor(w_ref/w_ref.sum()*len(n))
    w = class_weights(counts, 'effective', beta=beta)
    assert close(w/w.sum(), w_ref/w_ref.sum())          # the same up to scale: ours makes sum(w_c n_c) = n, documented
    assert close(LDAMLoss(counts, weight=w)(x, t), _ldam_ref(x, t, counts, weight=w_ref))   # a weighted mean: the scale cancels
    assert close(class_weights(counts, 'effective', beta=beta, normalize=False), (1-beta)/(1-beta**n))

def test_ldam_drw_schedule():
    "The reference's DRW switches to the class-balanced weights (beta=0.9999) at epoch 160 of 200: our defaults"
    drw = DeferredReweighting()
    assert drw.switch_epoch(200) == 160 and drw.beta == .9999
    assert DeferredReweighting(start_epoch=160).switch_epoch(200) == 160

def test_logit_adjustment_reference():
    "google-research logit_adjustment: CE of logits + tau*log(prior) (the 1e-12 there is a guard); prior from counts"
    torch.manual_seed(14)
    counts = np.array([600., 250., 100., 50.])
    prior = counts/counts.sum()
    x, t = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 4, (32,))
    for tau in (.5, 1., 2.):
        ref = lambda x: F.cross_entropy(x + tau*torch.log(torch.tensor(prior**1, dtype=x.dtype)), t)
        v1, g1 = grad_of(lambda x: LogitAdjustedLoss(counts, tau)(x, t), x)
        v2, g2 = grad_of(ref, x)
        assert close(v1, v2) and close(g1, g2)
    # post-hoc adjustment there: argmax of logits - tau*log(prior); the loss-adjusted model predicts with the raw logits
    assert torch.equal(LogitAdjustedLoss(counts).decodes(x), x.argmax(1))

def test_balanced_softmax_reference():
    "jiawei-ren/BalancedMetaSoftmax: CE of logits + log(sample_per_class), with counts (not the prior: the same loss)"
    torch.manual_seed(15)
    spc = torch.tensor([400., 90., 9., 1.], dtype=torch.float64)
    x, t = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 4, (32,))
    for red in ('mean', 'sum', 'none'):
        v1, g1 = grad_of(lambda x: BalancedSoftmaxLoss(spc, reduction=red)(x, t).sum(), x)
        v2, g2 = grad_of(lambda x: F.cross_entropy(x + spc.log(), t, reduction=red).sum(), x)
        assert close(v1, v2) and close(g1, g2)

def test_class_balanced_loss_reference():
    "Cui et al.: weights (1-beta)/(1-beta**n_y), normalised to sum to C; softmax CB loss = weighted CE. beta=0 is no weighting, beta->1 inverse frequency"
    counts = np.array([2., 3., 1., 2., 2.])   # the worked example of the PyTorch port (samples_per_cls=[2,3,1,2,2])
    for beta in (0., .9, .999, .9999):
        w_ref = (1-beta)/(1-beta**counts) if beta > 0 else np.ones(5)
        w_ref = w_ref/w_ref.sum()*5
        w = class_weights(counts, 'effective', beta=beta).double().numpy()
        assert np.allclose(w/w.sum()*5, w_ref)
    w = class_weights(np.array([10., 1000.]), 'effective', beta=1-1e-9).double().numpy()
    assert w[0]/w[1] == pytest.approx(100, rel=1e-3)
    torch.manual_seed(16)
    x, t = torch.randn(10, 5, dtype=torch.float64), torch.randint(0, 5, (10,))
    w = class_weights(counts, 'effective', beta=.9999)
    assert close(FocalLoss(0., w)(x, t), (F.cross_entropy(x, t, reduction='none')*w.double()[t]).mean())

def _asl_ref(x, y, gamma_neg=4., gamma_pos=1., clip=.05, eps=1e-8):
    "Alibaba-MIIL/ASL `AsymmetricLoss`, from its definition: clipped negatives, one-sided focusing, summed (full autograd, as its focal weight is not detached)"
    p = torch.sigmoid(x)
    xs_neg = (1-p+clip).clamp(max=1) if clip else 1-p
    loss = y*torch.log(p.clamp(min=eps)) + (1-y)*torch.log(xs_neg.clamp(min=eps))
    pt = p*y + xs_neg*(1-y)
    return -(loss*torch.pow(1-pt, gamma_pos*y + gamma_neg*(1-y))).sum()

@pytest.mark.parametrize('gn,gp,clip', [(4., 1., .05), (0., 0., 0.), (2., 0., .1), (4., 1., 0.)])
def test_asymmetric_loss_reference(gn, gp, clip):
    "Values and gradients of the reference with reduction='sum' (the reference's); our default 'mean' is that sum over the number of targets"
    torch.manual_seed(17)
    x, y = torch.randn(16, 6, dtype=torch.float64)*2, (torch.rand(16, 6) < .3).double()
    v1, g1 = grad_of(lambda x: AsymmetricLoss(gn, gp, clip, reduction='sum')(x, y), x)
    v2, g2 = grad_of(lambda x: _asl_ref(x, y, gn, gp, clip), x)
    assert close(v1, v2) and close(g1, g2)
    assert close(AsymmetricLoss(gn, gp, clip)(x, y), _asl_ref(x, y, gn, gp, clip)/y.numel())

def test_asymmetric_loss_is_exact_where_the_reference_clamps():
    "The reference clamps log p at eps=1e-8 (a positive with logit -30 costs 18.4 there); ours is the exact -log p = softplus(-x), about 30"
    x, y = torch.tensor([[-30., 2.]], dtype=torch.float64), torch.tensor([[1., 0.]], dtype=torch.float64)
    ours = AsymmetricLoss(4., 1., .05, reduction='none')(x, y)
    exact_pos = (1-torch.sigmoid(x[0, 0]))*F.softplus(-x[0, 0])
    assert close(ours[0, 0], exact_pos) and _asl_ref(x[:, :1], y[:, :1]) == pytest.approx(-np.log(1e-8), rel=1e-6)
    assert close(ours[0, 1], _asl_ref(x[:, 1:], y[:, 1:]))   # away from the clamp the two agree
