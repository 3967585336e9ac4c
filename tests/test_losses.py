"Training runs, fastai compatibility, formulas, gradients and bad targets of `imbalance_fastai.losses` (too wide for the notebook)"
import copy, pickle
import numpy as np, pandas as pd, pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.block import CategoryBlock, MultiCategoryBlock
from fastai.learner import Learner, load_learner
from fastai.losses import BaseLoss, CrossEntropyLossFlat
from fastai.losses import FocalLoss as FastaiFocalLoss
from fastai.callback.mixup import MixUp
from fastai.interpret import ClassificationInterpretation
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from torchvision.ops import sigmoid_focal_loss
from imbalance_fastai.core import Labels
from imbalance_fastai.prior import loss_prior_factor, _bends
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, DeferredReweighting, AsymmetricLoss
from tabular_data import VOCAB, _df, _tab_dls, _train_counts, _raw_outputs, _fit, _preds, _grad

torch.set_num_threads(1)
# ---------------------------------------------------------------- fastai compatibility

def test_star_imports_make_focal_loss_ours():
    "The README's order of imports replaces fastai's FocalLoss with ours, and the fastai-style calls all work"
    ns = {}
    exec("from fastai.vision.all import *\nfrom imbalance_fastai.all import *", ns)   # not at module level: pytest would collect fastcore's test_*
    assert ns['FocalLoss'] is FocalLoss
    out, targ = torch.randn(16, 3), torch.randint(0, 3, (16,))
    w = torch.tensor([1., 2., 4.])
    for fl in (ns['FocalLoss'](), ns['FocalLoss'](gamma=1., weight=w), ns['FocalLoss'](2., w), ns['FocalLoss'](2., w, 'sum')):
        assert torch.isfinite(fl(out, targ))
    assert torch.allclose(ns['FocalLoss'](2., w)(out, targ), ns['FocalLoss'](gamma=2., weight=w)(out, targ))

def test_fastai_style_code_runs_unchanged(tmp_path):
    "Code written for fastai's FocalLoss: in a Learner, get_preds, predict, decodes/activation, export and load_learner"
    set_seed(0)
    dls = _tab_dls('y', CategoryBlock())
    w = torch.tensor([1., 2., 4.])
    learn = tabular_learner(dls, layers=[16], loss_func=FocalLoss(gamma=1., weight=w))
    _fit(learn, 2)
    probs, targs, decoded = _preds(learn, with_decoded=True)
    assert probs.shape == (60, 3) and torch.allclose(probs.sum(1), torch.ones(60))
    assert torch.equal(decoded, probs.argmax(1)) and (decoded == targs.flatten()).float().mean() > .8
    _, _, losses = _preds(learn, with_loss=True)
    assert losses.shape == (60,) and learn.loss_func.reduction == 'mean'   # one loss per row, as fastai's flat losses; the reduction put back
    top, idx = ClassificationInterpretation.from_learner(learn).top_losses(5)   # fastai's interpretation ranks those losses
    assert top.shape == (5,) and torch.allclose(top, losses.sort(descending=True).values[:5])
    row, cls, p = learn.predict(_df().iloc[-1])
    assert int(cls) == int(p.argmax()) and row.decode().items['y'].iloc[0] == VOCAB[int(cls)]
    lf = learn.loss_func
    assert torch.equal(lf.decodes(lf.activation(torch.tensor([[0., 3., 1.]]))), torch.tensor([1]))
    learn.export(tmp_path/'focal.pkl')
    learn2 = load_learner(tmp_path/'focal.pkl')
    assert isinstance(learn2.loss_func, FocalLoss) and torch.equal(learn2.loss_func.weight, w)
    _, cls2, p2 = learn2.predict(_df().iloc[-1])
    assert int(cls2) == int(cls) and torch.allclose(p2, p, atol=1e-6)

def _focal_flat(*args, gamma=2., axis=-1, **kwargs):
    "fastai's `FocalLossFlat`, wrapping our `FocalLoss` instead of fastai's (as fastai builds it: `BaseLoss(FocalLoss, ...)`)"
    class OurFocalLossFlat(BaseLoss):
        y_int = True
        def decodes(self, x): return x.argmax(dim=self.axis)
        def activation(self, x): return F.softmax(x, dim=self.axis)
    return OurFocalLossFlat(FocalLoss, *args, gamma=gamma, axis=axis, **kwargs)

def test_fastai_focal_loss_tests_pass_with_ours():
    "fastai's own FocalLoss tests (nbs/01a_losses.ipynb), with our FocalLoss: directly, and wrapped as fastai's FocalLossFlat wraps its own"
    for make in (lambda **kw: FocalLoss(**{'axis': -1, **kw}), _focal_flat):
        # Compare focal loss with gamma = 0 to cross entropy
        fl, ce = make(gamma=0), CrossEntropyLossFlat()
        output, target = torch.randn(32, 5, 10), torch.randint(0, 10, (32, 5))
        assert torch.allclose(fl(output, target), ce(output, target), atol=1e-5)
        # Test focal loss with gamma > 0 is different than cross entropy
        fl = make(gamma=2)
        assert not torch.allclose(fl(output, target), ce(output, target))
        # In a segmentation task, we want to take the softmax over the channel dimension
        fl, ce = make(gamma=0, axis=1), CrossEntropyLossFlat(axis=1)
        output, target = torch.randn(32, 5, 128, 128), torch.randint(0, 5, (32, 128, 128))
        assert torch.allclose(fl(output, target), ce(output, target), atol=1e-4)
        assert torch.equal(fl.activation(output), F.softmax(output, dim=1))
        assert torch.equal(fl.decodes(output), output.argmax(dim=1))

def test_fastai_focal_loss_agrees_where_it_is_right():
    "Equal to fastai's FocalLoss without weights, and with weights at gamma=0; its weighted p_t differs (the bug fixed)"
    torch.manual_seed(0)
    out, targ = torch.randn(64, 4)*2, torch.randint(0, 4, (64,))
    w = torch.tensor([.5, 1., 2., 4.])
    for red in ('mean', 'sum', 'none'):
        for g in (0., 1., 2., 3.5):
            assert torch.allclose(FocalLoss(g, None, red)(out, targ), FastaiFocalLoss(g, None, red)(out, targ), atol=1e-5)
        assert torch.allclose(FocalLoss(0., w, red)(out, targ), FastaiFocalLoss(0., w, red)(out, targ), atol=1e-5)
    assert not torch.allclose(FocalLoss(2., w)(out, targ), FastaiFocalLoss(2., w)(out, targ))

# ---------------------------------------------------------------- formulas: values and gradients


def _focal_ref(x, t, gamma, w=None, ls=0.):
    "Focal loss from its definition, per row: sum_c q_c w_c (1-p_c)**gamma (-log p_c), q the smoothed one-hot target"
    p = F.softmax(x, 1)
    q = F.one_hot(t, x.shape[1]).to(x.dtype)*(1-ls) + ls/x.shape[1]
    wc = torch.ones(x.shape[1], dtype=x.dtype) if w is None else w.to(x.dtype)
    return (q*wc*(1-p)**gamma*-p.log()).sum(1)

@pytest.mark.parametrize('gamma', [0., .5, 2.])
@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('ls', [0., .1])
def test_focal_multiclass_values_and_gradients(gamma, weighted, ls):
    torch.manual_seed(1)
    x, t = torch.randn(24, 5)*2, torch.randint(0, 5, (24,))
    w = torch.rand(5) + .2 if weighted else None
    for red, agg in (('mean', lambda v: v.mean()), ('sum', lambda v: v.sum())):
        v1, g1 = _grad(lambda x: FocalLoss(gamma, w, red, label_smoothing=ls)(x, t), x)
        v2, g2 = _grad(lambda x: agg(_focal_ref(x, t, gamma, w, ls)), x)
        assert torch.allclose(v1, v2) and torch.allclose(g1, g2)

@pytest.mark.parametrize('mode', ['binary', 'multilabel'])
@pytest.mark.parametrize('gamma,alpha', [(2., .25), (.5, None), (0., .7), (3., .5)])
def test_sigmoid_focal_matches_torchvision_with_soft_targets(mode, gamma, alpha):
    "Values and gradients equal torchvision's sigmoid_focal_loss, for hard and soft targets"
    torch.manual_seed(2)
    shape = (30,) if mode=='binary' else (10, 4)
    x = torch.randn(shape)*3
    for t in ((torch.rand(shape) < .3).double(), torch.rand(shape, dtype=torch.float64)):
        for red in ('mean', 'sum', 'none'):
            f = lambda x: FocalLoss(gamma, alpha=alpha, mode=mode, reduction=red)(x, t)
            r = lambda x: sigmoid_focal_loss(x, t, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=red)
            v1, g1 = _grad(lambda x: f(x).sum(), x)
            v2, g2 = _grad(lambda x: r(x).sum(), x)
            assert torch.allclose(v1, v2) and torch.allclose(g1, g2)

def test_logit_adjusted_and_balanced_softmax_values_and_gradients():
    torch.manual_seed(3)
    x, t = torch.randn(24, 4)*2, torch.randint(0, 4, (24,))
    n = torch.tensor([700., 200., 80., 20.])
    def ref(x, tau):   # -log(n_y^tau e^{x_y} / sum_j n_j^tau e^{x_j})
        e = n.double()**tau*x.exp()
        return -(e[torch.arange(len(t)), t]/e.sum(1)).log().mean()
    for tau in (0., .5, 1., 2.):
        v1, g1 = _grad(lambda x: LogitAdjustedLoss(n, tau=tau)(x, t), x)
        v2, g2 = _grad(lambda x: ref(x, tau), x)
        assert torch.allclose(v1, v2) and torch.allclose(g1, g2)
    v1, g1 = _grad(lambda x: BalancedSoftmaxLoss(n)(x, t), x)
    v2, g2 = _grad(lambda x: LogitAdjustedLoss(n, tau=1.)(x, t), x)
    assert torch.equal(v1, v2) and torch.equal(g1, g2)
    v3, g3 = _grad(lambda x: ref(x, 1.), x)
    assert torch.allclose(v1, v3) and torch.allclose(g1, g3)



# ---------------------------------------------------------------- dtype and gradcheck

def _gradcheck_cases():
    g = torch.Generator().manual_seed(6)
    x3, t3 = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0])
    seg, mask = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64), torch.randint(0, 3, (2, 2, 2), generator=g)
    xb, tb = torch.randn(6, generator=g, dtype=torch.float64), torch.rand(6, generator=g, dtype=torch.float64)
    xm, tm = torch.randn(4, 3, generator=g, dtype=torch.float64), (torch.rand(4, 3, generator=g) < .5).double()
    tmi = tm.clone(); tmi[0, 0] = -100
    t3i = t3.clone(); t3i[1] = -100
    w3 = torch.tensor([.5, 1., 2.])
    return [
        ('focal multiclass', FocalLoss(2., w3), x3, t3i), ('focal multiclass gamma .5, smoothing', FocalLoss(.5, label_smoothing=.1), x3, t3),
        ('focal segmentation', FocalLoss(2., w3, 'none'), seg, mask), ('focal binary soft', FocalLoss(2., [.5, 2.], alpha=.3, mode='binary'), xb, tb),
        ('focal binary gamma 1.5', FocalLoss(1.5, mode='binary', reduction='sum'), xb, (tb > .5).double()),
        ('focal multilabel', FocalLoss(3., torch.rand(3), alpha=torch.rand(3), mode='multilabel'), xm, tmi),
        ('logit adjusted', LogitAdjustedLoss([5., 3, 1], tau=1.5, weight=w3, label_smoothing=.1), x3, t3i),
        ('balanced softmax', BalancedSoftmaxLoss([5., 3, 1], reduction='none'), seg, mask),
        ('ldam', LDAMLoss([50., 3, 1], s=3., weight=w3), x3, t3i), ('ldam segmentation', LDAMLoss([50., 3, 1], s=2., reduction='sum'), seg, mask),
        ('asymmetric', AsymmetricLoss(4., 1., 0.), xm, tmi), ('asymmetric clipped soft', AsymmetricLoss(2., 1., .05), xm, torch.rand(4, 3, dtype=torch.float64)),
    ]

@pytest.mark.parametrize('name,loss,x,t', _gradcheck_cases(), ids=[c[0] for c in _gradcheck_cases()])
def test_float64_and_gradcheck(name, loss, x, t):
    "float64 in, float64 out; finite differences agree with the backward pass"
    assert loss(x, t).dtype == torch.float64
    x = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (x,))

def _modes():
    "(name, loss, output, target) for every loss in every mode it has: softmax (`(bs,C)` and tabular `(bs,1)` targets), binary, multi-label, segmentation"
    g = torch.Generator().manual_seed(3)
    x, t, seg = torch.randn(8, 3, generator=g), torch.randint(0, 3, (8,), generator=g), torch.randn(2, 3, 4, 4, generator=g)
    mask, xb, yb = torch.randint(0, 3, (2, 4, 4), generator=g), torch.randn(8, 1, generator=g), torch.randint(0, 2, (8, 1), generator=g)
    ml = (torch.rand(8, 3, generator=g) < .4).float()
    softmax = [FocalLoss(weight=[1., 2, 3]), LogitAdjustedLoss([3., 2, 1]), BalancedSoftmaxLoss([3., 2, 1]), LDAMLoss([3., 2, 1], weight=[1., 2, 3])]
    for lf in softmax:
        n = type(lf).__name__
        yield f'{n}-softmax', lf, x, t
        yield f'{n}-tabular', lf, x, t[:, None]
        yield f'{n}-segmentation', lf, seg, mask
    yield 'FocalLoss-binary', FocalLoss(alpha=.3, mode='binary'), xb, yb
    yield 'FocalLoss-binary-segmentation', FocalLoss(mode='binary'), seg[:, :1], mask[:, None].clamp(max=1)
    yield 'FocalLoss-multilabel', FocalLoss(alpha=.3, mode='multilabel'), x, ml
    yield 'AsymmetricLoss-multilabel', AsymmetricLoss(), x, ml
    yield 'AsymmetricLoss-segmentation', AsymmetricLoss(), seg, (seg > 0).float()

MODES = list(_modes())

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize('name,lf,out,targ', MODES, ids=[m[0] for m in MODES])
def test_loss_has_the_input_dtype(name, lf, out, targ, dtype):
    "float64 in, float64 out, and so for half precision too (computed in float32, then cast back); gradients reach the input"
    for red in ('mean', 'sum', 'none'):
        lf.reduction = red
        o = out.detach().to(dtype).clone().requires_grad_()
        loss = lf(o, targ)
        assert loss.dtype == dtype
        ref = lf(out.to(dtype).float(), targ)   # the same half-precision logits, computed in float32 throughout
        tol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
        assert torch.allclose(loss.float(), ref.float(), rtol=tol, atol=tol)
        loss.sum().backward()
        assert o.grad.dtype == dtype and torch.isfinite(o.grad).all() and o.grad.abs().sum() > 0
    lf.reduction = 'mean'

@pytest.mark.parametrize('name,lf,out,targ', MODES, ids=[m[0] for m in MODES])
def test_reduction_none_has_the_target_shape(name, lf, out, targ):
    "One loss per target, shaped like the target (tabular (bs,1) and binary (bs,1) targets included), summing to 'sum'"
    lf.reduction = 'none'
    try: per = lf(out, targ)
    finally: lf.reduction = 'sum'
    try: total = lf(out, targ)
    finally: lf.reduction = 'mean'
    shape = targ.shape[:1] if targ.ndim == 2 and targ.shape[1] == 1 else targ.shape   # a column of targets: one loss per row
    assert per.shape == shape and torch.allclose(per.sum(), total, rtol=1e-5)

def test_binary_reduction_none_of_a_column_target_is_one_loss_per_row():
    "One logit per row and a (6,1) target give (6,), as fastai's flat losses do (MixUp weighs per-row losses by a (bs,) vector)"
    out, targ = torch.randn(6, 1), torch.randint(0, 2, (6, 1))
    loss = FocalLoss(mode='binary', reduction='none')(out, targ)
    assert loss.shape == (6,) and torch.allclose(loss, sigmoid_focal_loss(out, targ.float(), alpha=-1, reduction='none')[:, 0], atol=1e-6)
    lam = torch.rand(6)   # what fastai's MixUp does with them: torch.lerp(loss_shuffled, loss, lam), one weight per row
    assert torch.lerp(loss.flip(0), loss, lam).shape == (6,)
    assert FocalLoss(mode='binary', reduction='none')(out, targ[:, 0]).shape == (6,)

def test_losses_are_modules():
    "As fastai's FocalLoss(Module): isinstance, eval/train, double/half, parameters, state_dict; per-class tensors are buffers"
    for lf, names in ((FocalLoss(2., [1., 2, 3]), ['weight']), (FocalLoss(alpha=[.2, .3, .4], mode='multilabel'), ['alpha']),
                      (LogitAdjustedLoss([3., 2, 1], weight=[1., 2, 3]), ['weight', 'prior', 'adjustment']),
                      (BalancedSoftmaxLoss([3., 2, 1]), ['prior', 'adjustment']), (LDAMLoss([3., 2, 1]), ['margins']), (AsymmetricLoss(), [])):
        assert isinstance(lf, nn.Module) and list(lf.parameters()) == [] and list(lf.state_dict()) == names
        assert lf.eval() is lf and not lf.training and lf.train() is lf and lf.training
        assert all(v.dtype == torch.float64 for v in lf.double().state_dict().values())
        assert all(v.dtype == torch.float16 for v in lf.half().state_dict().values())
        lf.float()
        sd, other = lf.state_dict(), copy.deepcopy(lf)
        for v in other.state_dict().values(): v.mul_(2)   # a deepcopy's buffers are its own
        other.load_state_dict(sd)   # and a state_dict loads back into a loss built the same way
        assert all(torch.equal(other.state_dict()[k], sd[k]) for k in sd)

def test_to_fp16_trains_on_cpu():
    "`learn.to_fp16()` with each loss: a tabular fit of one epoch runs and gives a finite loss (CPU: autocast is CUDA's, so it is float32 there)"
    import warnings
    set_seed(0)
    dls, mdls = _tab_dls('y', CategoryBlock()), _tab_dls(['t0', 't1', 't2'], MultiCategoryBlock(encoded=True, vocab=['t0', 't1', 't2']))
    for lf, d in ((FocalLoss(), dls), (LogitAdjustedLoss([3., 2, 1]), dls), (BalancedSoftmaxLoss([3., 2, 1]), dls), (LDAMLoss([3., 2, 1]), dls),
                  (AsymmetricLoss(), mdls), (FocalLoss(mode='multilabel'), mdls)):
        learn = tabular_learner(d, layers=[8], loss_func=lf)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')   # GradScaler and autocast('cuda') warn that CUDA is not available
            _fit(learn.to_fp16(), 1)
        assert np.isfinite(learn.recorder.losses[-1].item()), lf

# ---------------------------------------------------------------- bad targets and arguments

@pytest.mark.parametrize('loss', [FocalLoss(), LogitAdjustedLoss([3., 2, 1]), BalancedSoftmaxLoss([3., 2, 1]), LDAMLoss([3., 2, 1])],
                         ids=['focal', 'logit-adjusted', 'balanced-softmax', 'ldam'])
def test_bad_class_codes_are_named_before_indexing(loss):
    x = torch.randn(6, 3)
    name = type(loss).__name__
    with pytest.raises(ValueError, match=rf"{name}.*the target has class codes \[3, 7\] outside \[0, 3\)"):
        loss(x, torch.tensor([0, 1, 3, 7, 2, 1]))
    with pytest.raises(ValueError, match=r"class codes \[-2\] outside"): loss(x, torch.tensor([0, 1, -2, 1, 2, 1]))
    with pytest.raises(ValueError, match="the target has non-integer values"): loss(x, torch.tensor([0., 1.5, 2, 1, 0, .2]))
    with pytest.raises(ValueError, match="outside"): loss(torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), 3))
    ok = torch.tensor([0, 1, -100, 2, 1, 0])
    assert torch.isfinite(loss(x, ok)) and torch.isfinite(loss(x, ok.float()))   # ignore_index and whole-number floats are fine

def test_ignore_index_inside_the_class_range():
    "Segmentation's 255 'void' label, and an ignore_index that is a class code, are left out"
    x, t = torch.randn(10, 4), torch.randint(0, 4, (10,))
    tv = t.clone(); tv[:3] = 255
    assert torch.allclose(FocalLoss(ignore_index=255)(x, tv), FocalLoss()(x[3:], t[3:]))
    assert torch.allclose(LDAMLoss([4., 3, 2, 1], ignore_index=255)(x, tv), LDAMLoss([4., 3, 2, 1])(x[3:], t[3:]))
    keep = t!=2
    assert torch.allclose(FocalLoss(ignore_index=2)(x, t), FocalLoss()(x[keep], t[keep]))
    assert torch.allclose(LogitAdjustedLoss([4., 3, 2, 1], ignore_index=2)(x, t), LogitAdjustedLoss([4., 3, 2, 1])(x[keep], t[keep]))

def test_sigmoid_bad_targets():
    x = torch.randn(6)
    with pytest.raises(ValueError, match=r"FocalLoss\(mode='binary'\): the target has values \[2.0\] outside \[0, 1\]"):
        FocalLoss(mode='binary')(x, torch.tensor([0, 1, 2, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"values \[nan\] outside"): FocalLoss(mode='binary')(x, torch.tensor([0, 1, float('nan'), 1, 0, 1]))
    with pytest.raises(ValueError, match="AsymmetricLoss: the target has values"): AsymmetricLoss()(torch.randn(2, 3), torch.tensor([[0, 1, 3], [1, 0, 0]]))

def test_constructor_errors():
    for f, msg in [(lambda: BalancedSoftmaxLoss([3, 0, 1]), r"classes \[1\] have prior 0"), (lambda: BalancedSoftmaxLoss([3., 1], reduction='avg'), 'reduction must be'),
                   (lambda: BalancedSoftmaxLoss([3., 1], weight=[1., -1]), 'weight must be finite and >= 0'),
                   (lambda: LDAMLoss([3., 1], max_m=float('nan')), 'max_m must be a finite number'), (lambda: LDAMLoss([3., 1], s=-30), 's must be a finite number > 0'),
                   (lambda: LDAMLoss([[1, 0], [0, 1], [1, 1]]), 'single-label'), (lambda: LogitAdjustedLoss([]), 'prior is empty'),
                   (lambda: AsymmetricLoss(gamma_pos=float('inf')), 'gamma_pos must be a finite number'), (lambda: AsymmetricLoss(thresh=2), 'thresh is a probability'),
                   (lambda: FocalLoss(gamma='2'), 'gamma must be a finite number'), (lambda: FocalLoss(alpha=[.5, 2.], mode='multilabel'), r'alpha must be finite and in \[0, 1\]'),
                   (lambda: DeferredReweighting(start_epoch=True), 'start_epoch must be an epoch number')]:
        with pytest.raises(ValueError, match=msg): f()
    for cls in (FocalLoss, AsymmetricLoss, DeferredReweighting):
        with pytest.raises(TypeError, match='unexpected keyword'): cls(gama=2.)
    with pytest.raises(TypeError, match='unexpected keyword'): LDAMLoss([3., 1], margin=.5)

def test_logit_adjusted_reads_integer_counts_as_counts():
    for src in ([900, 100], (900, 100), np.array([900, 100]), torch.tensor([900, 100]), [.9, .1]):
        assert torch.allclose(LogitAdjustedLoss(src).prior, torch.tensor([.9, .1]))
        assert torch.allclose(BalancedSoftmaxLoss(src).prior, torch.tensor([.9, .1]))
    assert torch.allclose(LDAMLoss([900, 100]).margins, LDAMLoss([.9, .1]).margins)
    assert torch.allclose(LogitAdjustedLoss(pd.Series([0, 0, 0, 1])).prior, torch.tensor([.75, .25]))   # a Series holds labels
    with pytest.raises(ValueError, match="one count or share per class"): LogitAdjustedLoss([0, 1, 1, 2, 0])

# ---------------------------------------------------------------- learners: each loss from the DataLoaders

@pytest.mark.parametrize('make', [lambda dls: BalancedSoftmaxLoss(dls), lambda dls: LDAMLoss(dls), lambda dls: LogitAdjustedLoss(dls, tau=1.)],
                         ids=['balanced-softmax', 'ldam', 'logit-adjusted'])
def test_long_tail_losses_from_dataloaders(make):
    "Counts read from the train split; training works; get_preds and predict use the loss's activation and decodes"
    set_seed(7)
    dls = _tab_dls('y', CategoryBlock())
    counts = _train_counts(dls)
    loss = make(dls)
    if isinstance(loss, LDAMLoss):
        m = counts**-.25
        assert torch.allclose(loss.margins, torch.tensor(m/m.max()*.5, dtype=torch.float32))
    else: assert torch.allclose(loss.prior, torch.tensor(counts/counts.sum(), dtype=torch.float32))
    learn = _fit(tabular_learner(dls, layers=[16], loss_func=loss), 3)
    probs, targs, decoded = _preds(learn, with_decoded=True)
    raw = _raw_outputs(learn)
    assert torch.allclose(probs, loss.activation(raw), atol=1e-6) and torch.equal(decoded, raw.argmax(1))
    assert (decoded == targs.flatten()).float().mean() > .8
    _, cls, p = learn.predict(_df().iloc[-1])
    assert int(cls) == int(p.argmax())
    _, _, losses = _preds(learn, with_loss=True)
    assert losses.shape == (60,)   # one loss per row: tabular targets are a column (bs,1)

def test_get_labels_does_not_load_inputs():
    "The counts come from the labels: a dataset whose inputs raise if loaded still gives its counts"
    class Items(torch.utils.data.Dataset):
        targets = [0]*50 + [1]*10 + [2]*2
        def __len__(self): return len(self.targets)
        def __getitem__(self, i): raise AssertionError('an input was loaded')
    dl = torch.utils.data.DataLoader(Items())
    assert torch.allclose(BalancedSoftmaxLoss(dl).prior, torch.tensor([50, 10, 2])/62)
    assert torch.allclose(LDAMLoss(dl).margins, LDAMLoss([50, 10, 2]).margins)

def test_segmentation_learner_with_reduction_none():
    "Outputs (bs,C,H,W) with masks (bs,H,W): per-pixel losses have the mask's shape"
    set_seed(3)
    img = torch.randn(40, 1, 6, 6); mask = (img[:, 0] > .5).long() + (img[:, 0] > 1.5).long()
    dls = DataLoaders.from_dsets(list(zip(img[:32], mask[:32])), list(zip(img[32:], mask[32:])), bs=8, num_workers=0)
    counts = torch.bincount(mask[:32].flatten(), minlength=3).float()
    for lf in (FocalLoss(weight=class_weights(counts)), BalancedSoftmaxLoss(counts), LDAMLoss(counts, s=5.)):
        learn = _fit(Learner(dls, nn.Conv2d(1, 3, 1), loss_func=lf), 2)
        probs, targs, decoded = _preds(learn, with_decoded=True)
        assert probs.shape == (8, 3, 6, 6) and decoded.shape == (8, 6, 6) and torch.equal(decoded, probs.argmax(1))
        lf.reduction = 'none'
        assert lf(torch.randn(4, 3, 6, 6), mask[:4]).shape == (4, 6, 6)
        lf.reduction = 'mean'

def test_binary_and_multilabel_learners():
    set_seed(4)
    dls = _tab_dls('yb', CategoryBlock())
    loss = FocalLoss(alpha=.75, weight=[1., 2.], mode='binary')
    learn = _fit(tabular_learner(dls, layers=[16], n_out=1, loss_func=loss), 2)
    probs, targs, decoded = _preds(learn, with_decoded=True)
    assert probs.shape == (60, 1) and torch.allclose(probs, torch.sigmoid(_raw_outputs(learn)), atol=1e-6)
    assert torch.equal(decoded, (probs[:, 0] > .5).long())
    loss.thresh = .2
    _, cls, p = learn.predict(_df().iloc[-1])
    assert int(cls) == int(p[0] > .2)
    tags = ['t0', 't1', 't2']
    dlm = _tab_dls(tags, MultiCategoryBlock(encoded=True, vocab=tags))
    for lf in (AsymmetricLoss(thresh=.4), FocalLoss(alpha=.6, mode='multilabel', thresh=.4)):
        learn = _fit(tabular_learner(dlm, layers=[16], loss_func=lf), 2)
        probs, targs, decoded = _preds(learn, with_decoded=True)
        assert probs.shape == targs.shape == (60, 3)
        assert torch.allclose(probs, torch.sigmoid(_raw_outputs(learn)), atol=1e-6) and torch.equal(decoded, probs > .4)
        assert ((probs > .5) == targs.bool()).float().mean() > .6
        _, _, losses = _preds(learn, with_loss=True)
        assert losses.shape == (60,)   # fastai averages each row's per-label losses

def test_mixup_mixes_our_losses():
    "MixUp reads `y_int` and `reduction`: it must train with our losses and restore the reduction"
    set_seed(2)
    x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
    dls = DataLoaders.from_dsets(list(zip(x[:48], y[:48])), list(zip(x[48:], y[48:])), bs=16, num_workers=0)
    for lf in (FocalLoss(weight=[1., 3.]), BalancedSoftmaxLoss([40., 8.]), LDAMLoss([40., 8.])):
        learn = _fit(Learner(dls, nn.Linear(4, 2), loss_func=lf, cbs=MixUp()))
        assert learn.loss_func is lf and lf.reduction == 'mean' and np.isfinite(learn.recorder.losses[-1].item())

def test_losses_pickle_and_move():
    "Learner.export pickles the loss; Learner moves it to the model's device with `to`"
    out, targ = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    for loss in (FocalLoss(2., [1., 2.]), FocalLoss(alpha=.3, mode='binary'), LogitAdjustedLoss([.9, .1], weight=[1., 2.]),
                 BalancedSoftmaxLoss([90, 10]), LDAMLoss([90, 10], weight=[1., 3.]), AsymmetricLoss()):
        o, t = (out[:, :1], targ) if getattr(loss, 'mode', '')=='binary' else (out, targ.float()[:, None].expand(5, 2).contiguous()) \
               if isinstance(loss, AsymmetricLoss) else (out, targ)
        loss2 = pickle.loads(pickle.dumps(loss))
        assert repr(loss2) == repr(loss) and torch.equal(loss(o, t), loss2(o, t))
        assert loss.to(torch.device('cpu')) is loss and loss.cpu() is loss   # chainable, as nn.Module.to
        assert torch.equal(loss(o, t), loss2(o, t)) and torch.equal(loss.forward(o, t), loss(o, t))
    w = LDAMLoss([90, 10], weight=[1., 3.]).to(torch.float64).weight   # dtype arguments reach the tensors it holds
    assert w.dtype == torch.float64 and torch.equal(w, torch.tensor([1., 3.], dtype=torch.float64))

def test_large_batch_matches_cross_entropy():
    "gamma=0 with weights, label smoothing and ignored targets: F.cross_entropy's sum, and the mean over the targets kept"
    torch.manual_seed(7)
    out, targ = torch.randn(2048, 50)*4, torch.randint(0, 50, (2048,))
    targ[::7] = 3
    w = torch.rand(50) + .1
    ref = F.cross_entropy(out, targ, weight=w, ignore_index=3, label_smoothing=.2, reduction='sum')
    assert torch.allclose(FocalLoss(0., w, 'sum', label_smoothing=.2, ignore_index=3)(out, targ), ref, rtol=1e-5)
    assert torch.allclose(FocalLoss(0., w, label_smoothing=.2, ignore_index=3)(out, targ), ref/(targ!=3).sum(), rtol=1e-5)

# ---------------------------------------------------------------- prior correction reads the losses

def test_prior_factors_of_the_long_tail_losses():
    "PriorCorrection's `loss_prior_factor` by duck typing: balanced softmax trains on a uniform prior, LDAM's margins shift nothing"
    n = np.array([600., 300., 100.])
    f = loss_prior_factor(BalancedSoftmaxLoss(n))
    q = n/n.sum()*f
    assert np.allclose(q/q.sum(), 1/3)
    assert loss_prior_factor(LDAMLoss(n)) is None
    assert np.allclose(loss_prior_factor(LDAMLoss(n, weight=[1., 2., 3.])), [1, 2, 3])
    assert np.allclose(loss_prior_factor(FocalLoss(weight=[1., 2., 3.])), [1, 2, 3])
    assert np.allclose(loss_prior_factor(FocalLoss(alpha=[1., 2., 3.])), [1, 2, 3])

def test_prior_correction_asks_the_losses_through_their_methods():
    "loss_prior_factor and the bend check call prior_factor / bends_probabilities, so a subclass that reweights differently is read right"
    for lf, ml in ((FocalLoss(weight=[1., 2.]), False), (FocalLoss(alpha=.3, mode='binary'), True), (LogitAdjustedLoss([3, 1], tau=.5), False),
                   (BalancedSoftmaxLoss([3, 1]), False), (LDAMLoss([3, 1], weight=[1., 2.]), False), (AsymmetricLoss(), True)):
        f, got = lf.prior_factor(ml), loss_prior_factor(lf, multilabel=ml)
        assert (f is None and got is None) or (got.dtype == np.float64 and np.allclose(got, f))
        assert _bends(lf) == lf.bends_probabilities()
    class _Halved(FocalLoss):   # its own reading of what it trains on, and no bend: what prior correction uses
        def prior_factor(self, multilabel=False): return np.array([1., 7.])
        def bends_probabilities(self): return None
    assert np.allclose(loss_prior_factor(_Halved(alpha=[1., 2.])), [1, 7]) and _bends(_Halved()) is None

# ---------------------------------------------------------------- deferred re-weighting


def test_class_weights_read_numbers_as_counts_as_the_losses_do():
    "class_weights([900, 100]) is two classes of 900 and 100 rows (it used to be two labels, named 900 and 100), as LogitAdjustedLoss reads it"
    w = class_weights([900, 100])
    assert w.shape == (2,) and torch.allclose(w, torch.tensor([1000/1800, 1000/200]))
    for src in ((900, 100), np.array([900, 100]), torch.tensor([900, 100])):
        assert torch.equal(class_weights(src), w)
    lbls = Labels(np.repeat([0, 1], [900, 100]))
    for m in ('inverse', 'sqrt', 'balanced', 'effective'):   # the same weights from the labels and from their counts
        assert torch.allclose(class_weights(lbls, m), class_weights([900, 100], m))
    assert np.allclose(loss_prior_factor(BalancedSoftmaxLoss([900, 100])), [1/.9, 10])   # the same reading of the numbers
    with pytest.raises(ValueError, match='needs whole class counts'): class_weights([.9, .1], 'effective')

def _page(nb):
    "The markdown of a notebook in nbs/, its lines joined, so that a phrase the docs quote can be searched for"
    import json, pathlib
    cells = json.loads((pathlib.Path(__file__).parents[1]/'nbs'/f'{nb}.ipynb').read_text())['cells']
    return ' '.join(' '.join(''.join(c['source']).split()) for c in cells if c['cell_type']=='markdown')

def test_the_losses_page_quotes_the_long_tail_benchmark_as_it_stands():
    """05_losses summarises benchmarks/longtail_losses.md (10 seeds): balanced softmax gains the most balanced accuracy over plain
    training, by the points it quotes (and minority recall too); focal loss and LDAM gain less than two standard errors of the
    paired difference ('nothing that the seeds can tell apart from zero'); class-balanced focal, CE-DRW and oversampling gain
    more, oversampling by the points it quotes"""
    import pathlib, re
    bench = (pathlib.Path(__file__).parents[1]/'benchmarks'/'longtail_losses.md').read_text()
    rows = {r[0].strip('* '): r[1:] for r in (l.strip('|').split('|') for l in bench.splitlines() if l.startswith('| '))}
    num = lambda cell, i=0: float(re.findall(r'[-+]?\d+\.\d+', cell)[i])
    gain = {k: (num(r[3]), num(r[3], 1)) for k, r in rows.items() if '±' in r[3]}   # vs plain: mean, sd of the paired difference
    assert max(gain, key=lambda k: gain[k][0]) == 'balanced softmax'
    recall = 100*(num(rows['balanced softmax'][2]) - num(rows['plain'][2]))
    md = _page('05_losses')
    assert f"(+{100*gain['balanced softmax'][0]:.1f} points of balanced accuracy, +{recall:.1f} of minority recall)" in md
    for k in ('focal', 'LDAM'): assert abs(gain[k][0]) < 2*gain[k][1]/10**.5, (k, gain[k])
    for k in ('class-balanced focal', 'CE-DRW', 'oversample'): assert gain[k][0] > 2*gain[k][1]/10**.5, (k, gain[k])
    assert f"(+{100*gain['oversample'][0]:.1f} points for oversampling)" in md

def test_the_focal_bend_is_as_its_message_says():
    "FocalLoss(gamma=2) on a class with a true rate of 2%: the probability that minimises the expected loss is about 19%, as `bends_probabilities` says"
    q, x = .02, torch.linspace(-8, 4, 24001, dtype=torch.float64)
    lf = FocalLoss(2., mode='binary', reduction='none')
    risk = q*lf(x, torch.ones_like(x)) + (1-q)*lf(x, torch.zeros_like(x))
    p = torch.sigmoid(x[risk.argmin()]).item()
    assert abs(p - .19) < .005, p
    two = torch.stack([torch.zeros_like(x), x], 1)                   # the 2-way softmax of the same logits: the same optimum
    risk2 = q*FocalLoss(2., reduction='none')(two, torch.ones_like(x).long()) + (1-q)*FocalLoss(2., reduction='none')(two, torch.zeros_like(x).long())
    assert risk2.argmin() == risk.argmin()
    assert 'a true 2% reads about 19%' in FocalLoss().bends_probabilities()[0]
