"""Numerics and fastai contracts of every loss and decision piece: gradcheck and gradgradcheck in float64, closed-form
gradients, dtypes (float16, bfloat16, autocast, integer and bool targets), extreme and non-finite logits, ignored and
tiny batches, `get_preds(with_loss=True)` and `Interpretation`, export, copies, aliasing; and the same for the prior
correction, temperature, thresholds and metrics fed half-precision probabilities and `(bs,1)` targets."""
import copy, math, warnings
import numpy as np, pandas as pd, pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.interpret import Interpretation, ClassificationInterpretation
from fastai.learner import load_learner
from fastai.losses import BaseLoss
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from fastcore.basics import noop
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, AsymmetricLoss, DeferredReweighting
from imbalance_fastai.decisions import DecisionLoss, DecisionRule, apply_offsets, min_cost_decisions
from imbalance_fastai.prior import PriorCorrection, correct_prior
from imbalance_fastai.metrics import best_threshold, best_offsets, threshold_scores, MinorityRecall, AvgPrecisionMacro
from imbalance_fastai.calibration import expected_calibration_error, fit_temperature, em_prior, calibration_bins, TemperatureScaling
from trained import small_dls

torch.set_num_threads(1)
D = torch.float64

# ---------------------------------------------------------------- every loss, every mode

def _cases():
    "(id, loss, logits, targets): every loss in every mode, with weights, ignored targets and label smoothing where offered"
    g = torch.Generator().manual_seed(11)
    x, t = torch.randn(5, 3, generator=g, dtype=D), torch.tensor([0, 2, 1, 1, 0])
    ti = t.clone(); ti[1] = -100
    seg, mask = torch.randn(2, 3, 2, 2, generator=g, dtype=D), torch.randint(0, 3, (2, 2, 2), generator=g)
    mask[0, 0, 0] = 255
    xb, tb = torch.randn(6, 1, generator=g, dtype=D), (torch.rand(6, 1, generator=g) < .5).to(D)
    xm, tm = torch.randn(4, 3, generator=g, dtype=D), (torch.rand(4, 3, generator=g) < .5).to(D)
    tmi = tm.clone(); tmi[0, 0] = -100
    soft = torch.rand(4, 3, generator=g, dtype=D)
    w = [.5, 1., 2.]
    return [
        ('focal', FocalLoss(2., w), x, ti), ('focal-gamma.5-smooth', FocalLoss(.5, label_smoothing=.1), x, t),
        ('focal-weight-smooth-ignore', FocalLoss(3., w, label_smoothing=.2), x, ti),
        ('focal-seg-255', FocalLoss(2., w, ignore_index=255), seg, mask),
        ('focal-binary', FocalLoss(2., [.5, 2.], alpha=.3, mode='binary'), xb, tb),
        ('focal-binary-gamma1.5', FocalLoss(1.5, mode='binary'), xb, tb),
        ('focal-multilabel', FocalLoss(2., [1., 2, 3], alpha=[.2, .5, .8], mode='multilabel'), xm, tmi),
        ('focal-multilabel-soft', FocalLoss(1.5, alpha=.25, mode='multilabel'), xm, soft),
        ('logit-adjusted', LogitAdjustedLoss([5., 3, 1], tau=1.5, weight=w, label_smoothing=.1), x, ti),
        ('balanced-softmax-seg', BalancedSoftmaxLoss([5., 3, 1], ignore_index=255), seg, mask),
        ('ldam', LDAMLoss([50., 3, 1], s=3., weight=w), x, ti), ('ldam-seg', LDAMLoss([50., 3, 1], s=2., ignore_index=255), seg, mask),
        ('asymmetric', AsymmetricLoss(), xm, tmi), ('asymmetric-unclipped', AsymmetricLoss(4., 1., 0.), xm, tm),
        ('asymmetric-soft', AsymmetricLoss(2., 1., .1), xm, soft), ('asymmetric-bce', AsymmetricLoss(0., 0., 0.), xm, tm),
    ]
CASES = _cases()
IDS = [c[0] for c in CASES]

@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('name,lf,x,t', CASES, ids=IDS)
def test_gradcheck_and_gradgradcheck(name, lf, x, t, reduction):
    """First and second derivatives agree with finite differences in float64, for every reduction: a gradient penalty or a
    Hessian-vector product through any of our losses is exact (LDAM's and the asymmetric loss's hand-made backward passes
    once gave a silently wrong second derivative)"""
    lf = copy.deepcopy(lf); lf.reduction = reduction
    xx = x.clone().requires_grad_()
    f = lambda x: lf(x, t)
    assert f(xx).dtype == D
    assert torch.autograd.gradcheck(f, (xx,))
    assert torch.autograd.gradgradcheck(f, (xx,))

@pytest.mark.parametrize('name,lf,x,t', CASES, ids=IDS)
def test_backward_twice_gives_the_same_gradient(name, lf, x, t):
    "`retain_graph=True` and a second backward give the same gradient: no backward pass writes into what the forward kept"
    xx = x.clone().requires_grad_()
    loss = lf(xx, t)
    g1, = torch.autograd.grad(loss, xx, retain_graph=True)
    g2, = torch.autograd.grad(loss, xx)
    assert torch.equal(g1, g2) and torch.isfinite(g1).all()

def test_ldam_first_and_second_derivatives_in_either_order_on_one_graph():
    """LDAM's backward pays `s` on the loss, not on every logit, until a backward builds a graph; then both halves of the
    shortcut are exact for the rest of the graph's life: a plain gradient, then one with `create_graph`, then a plain one
    again, are all autograd's of the definition, and so is the second derivative"""
    torch.manual_seed(0)
    x, t = torch.randn(6, 4, dtype=D), torch.randint(0, 4, (6,))
    lf = LDAMLoss([8., 4, 2, 1], s=5.)
    ref = lambda x: F.cross_entropy(5*x - (5*lf.margins.to(D))[t].unsqueeze(1)*F.one_hot(t, 4), t)
    xr = x.clone().requires_grad_()
    gr, = torch.autograd.grad(ref(xr), xr, create_graph=True)
    hr, = torch.autograd.grad((gr**2).sum(), xr)
    xx = x.clone().requires_grad_()
    loss = lf(xx, t)
    g1, = torch.autograd.grad(loss, xx, retain_graph=True)
    g2, = torch.autograd.grad(loss, xx, retain_graph=True, create_graph=True)
    h, = torch.autograd.grad((g2**2).sum(), xx, retain_graph=True)
    g3, = torch.autograd.grad(loss, xx)
    for g in (g1, g2, g3): assert torch.allclose(g, gr)
    assert torch.allclose(h, hr)

def test_gradient_penalty_through_a_model_is_exact():
    "The use that needs second derivatives: a penalty on the parameters' gradient, backpropagated to the parameters, by finite differences"
    torch.manual_seed(0)
    inp, t, tm = torch.randn(8, 4, dtype=D), torch.randint(0, 3, (8,)), (torch.rand(8, 3) < .4).to(D)
    for lf, tt in ((LDAMLoss([3., 2, 1], s=3.), t), (AsymmetricLoss(), tm), (FocalLoss(2., mode='multilabel'), tm), (FocalLoss(2.), t)):
        m = nn.Linear(4, 3).double()
        def penalised():
            loss = lf(m(inp), tt)
            gs = torch.autograd.grad(loss, list(m.parameters()), create_graph=True)
            return loss + sum((g**2).sum() for g in gs)
        m.zero_grad(); penalised().backward()
        eps, fd = 1e-6, torch.zeros_like(m.weight)
        for i in range(3):
            for j in range(4):
                with torch.no_grad(): m.weight[i, j] += eps
                a = penalised().item()
                with torch.no_grad(): m.weight[i, j] -= 2*eps
                b = penalised().item()
                with torch.no_grad(): m.weight[i, j] += eps
                fd[i, j] = (a - b)/(2*eps)
        assert torch.allclose(m.weight.grad, fd, atol=1e-6), lf

# ---------------------------------------------------------------- closed-form gradients

def _grad(f, x):
    x = x.detach().clone().requires_grad_()
    f(x).backward()
    return x.grad

def test_closed_form_gradients_of_the_softmax_losses():
    """With p = softmax(z): logit-adjusted CE has gradient softmax(z + tau*log prior) - onehot; LDAM s*(softmax(s*(z - m_y)) -
    onehot); focal loss (1-p_t)**(g-1) * (g*p_t*log p_t - (1-p_t)) * (onehot - p), each times the row's weight over the weighted count for 'mean'"""
    torch.manual_seed(4)
    z, t = torch.randn(7, 4, dtype=D)*2, torch.randint(0, 4, (7,))
    oh, w = F.one_hot(t, 4).to(D), torch.tensor([.5, 1., 2., 3.], dtype=D)
    prior = torch.tensor([.4, .3, .2, .1], dtype=D)
    g = _grad(lambda z: LogitAdjustedLoss(prior, tau=2., weight=w, reduction='sum')(z, t), z)
    assert torch.allclose(g, (F.softmax(z + 2*prior.log(), 1) - oh)*w[t][:, None])
    g = _grad(lambda z: LogitAdjustedLoss(prior, weight=w)(z, t), z)   # 'mean' is F.cross_entropy's weighted mean
    assert torch.allclose(g, (F.softmax(z + prior.log(), 1) - oh)*w[t][:, None]/w[t].sum())
    ld = LDAMLoss([100., 10, 5, 1], s=5.)
    m = ld.margins.to(D)
    g = _grad(lambda z: ld(z, t), z)
    assert torch.allclose(g, 5*(F.softmax(5*(z - oh*m[t][:, None]), 1) - oh)/len(t))
    for gamma in (.5, 1., 2., 3.):
        p = F.softmax(z, 1); pt = p.gather(1, t[:, None])
        ref = (1-pt)**(gamma-1)*(gamma*pt*pt.log() - (1-pt))*(oh - p)*w[t][:, None]
        assert torch.allclose(_grad(lambda z: FocalLoss(gamma, w, 'sum')(z, t), z), ref)

def test_closed_form_gradient_of_the_binary_focal_loss():
    "Binary focal loss, t in {0,1}, q = 1-p_t = sigmoid(x(1-2t)): d/dx = (2t-1) * q**g * (g*(1-q)*log(1-q) ... ) written out by p"
    torch.manual_seed(5)
    x, t = torch.randn(9, dtype=D)*3, (torch.rand(9) < .5).to(D)
    for gamma in (0., 1., 2.):
        p = torch.sigmoid(x)
        pt, s = torch.where(t == 1, p, 1-p), 2*t-1   # dp_t/dx = s * p(1-p)
        # L = -(1-p_t)**g * log p_t; dL/dp_t = g(1-p_t)**(g-1) log p_t - (1-p_t)**g / p_t
        dpt = (gamma*(1-pt)**(gamma-1)*pt.log() if gamma else 0) - (1-pt)**gamma/pt
        assert torch.allclose(_grad(lambda x: FocalLoss(gamma, mode='binary', reduction='sum')(x, t), x), dpt*s*p*(1-p))

# ---------------------------------------------------------------- dtypes, shapes, targets

SOFTMAX = [('focal', lambda c: FocalLoss(2., torch.linspace(.5, 2, c))), ('focal-smooth', lambda c: FocalLoss(2., label_smoothing=.1)),
           ('logit-adjusted', lambda c: LogitAdjustedLoss(torch.linspace(1, 10, c), weight=torch.linspace(.5, 2, c))),
           ('balanced-softmax', lambda c: BalancedSoftmaxLoss(torch.linspace(1, 10, c))), ('ldam', lambda c: LDAMLoss(torch.linspace(1, 10, c), s=5.))]
SIGMOID = [('focal-multilabel', lambda: FocalLoss(2., mode='multilabel', alpha=.25)), ('asymmetric', lambda: AsymmetricLoss()),
           ('asymmetric-bce', lambda: AsymmetricLoss(0., 0., 0.))]

@pytest.mark.parametrize('name,make', SOFTMAX, ids=[s[0] for s in SOFTMAX])
def test_thousand_classes_in_half_precision(name, make):
    "c=1000 in float16 and bfloat16: the input's dtype back, the value of the same (rounded) logits in float64 to the output's precision"
    torch.manual_seed(6)
    lf, x, t = make(1000), torch.randn(64, 1000)*4, torch.randint(0, 1000, (64,))
    for dt, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1e-2)):
        for red in ('mean', 'sum', 'none'):
            lf.reduction = red
            xh = x.to(dt)
            loss, ref = lf(xh, t), lf(xh.to(D), t)
            assert loss.dtype == dt and loss.shape == ref.shape and torch.allclose(loss.to(D), ref, rtol=tol, atol=tol)
            xg = xh.clone().requires_grad_(); lf(xg, t).sum().backward()
            assert xg.grad.dtype == dt and torch.isfinite(xg.grad).all()

@pytest.mark.parametrize('name,make', SOFTMAX + SIGMOID, ids=[s[0] for s in SOFTMAX + SIGMOID])
def test_autocast_bfloat16_gives_a_float32_loss(name, make):
    "Under `torch.autocast('cpu', dtype=torch.bfloat16)` the loss is float32, as F.cross_entropy's, and equals the float32 loss of the bf16 logits"
    torch.manual_seed(7)
    sig = (name, make) in SIGMOID
    lf = make() if sig else make(3)
    x, t = torch.randn(6, 3), ((torch.rand(6, 3) < .5).float() if sig else torch.tensor([0, 2, 1, 1, 0, 2]))
    for red in ('mean', 'none'):
        lf.reduction = red
        xx = x.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            h = xx @ torch.eye(3)
            loss = lf(h, t)
        assert h.dtype == torch.bfloat16 and loss.dtype == torch.float32
        assert torch.allclose(loss, lf(h.detach().float(), t), atol=1e-6)
        loss.sum().backward()
        assert xx.grad.dtype == torch.float32 and torch.isfinite(xx.grad).all()
    with torch.autocast('cpu', dtype=torch.bfloat16): assert F.cross_entropy(x @ torch.eye(3), t[:6].long() if not sig else t.argmax(1)).dtype == torch.float32

@pytest.mark.parametrize('name,make', SOFTMAX, ids=[s[0] for s in SOFTMAX])
def test_softmax_targets_of_every_integer_dtype_and_shape(name, make):
    "int64, int32, int16, int8, uint8 and whole-number float codes give the same loss; (bs,) and fastai tabular's (bs,1); a batch of one"
    torch.manual_seed(8)
    lf, x, t = make(3), torch.randn(6, 3), torch.tensor([0, 2, 1, 1, 0, 2])
    ref = lf(x, t)
    for dt in (torch.int32, torch.int16, torch.int8, torch.uint8, torch.float32, torch.float16):
        assert torch.equal(lf(x, t.to(dt)), ref) and torch.equal(lf(x, t[:, None].to(dt)), ref)
    for red, shape in (('mean', ()), ('sum', ()), ('none', (6,))):
        lf.reduction = red
        assert lf(x, t).shape == lf(x, t[:, None]).shape == shape and lf(x, t).dtype == torch.float32
        one = lf(x[:1], t[:1, None])
        assert one.shape == ((1,) if red == 'none' else ()) and torch.isfinite(one).all()
    lf.reduction = 'none'
    assert torch.allclose(lf(x.t().contiguous().t(), t), lf(torch.randn(3, 6).t().copy_(x), t))   # non-contiguous (a transposed view)
    xt = torch.randn(3, 6).t(); xt.copy_(x)
    assert not xt.is_contiguous() and torch.equal(lf(xt, t), lf(x, t))

@pytest.mark.parametrize('name,make', SIGMOID, ids=[s[0] for s in SIGMOID])
def test_sigmoid_targets_of_every_dtype(name, make):
    "bool, uint8, int8 (fastai's encoded multi-hot), int64, float16 and float64 0/1 targets give the same loss; non-contiguous logits; a batch of one"
    torch.manual_seed(9)
    lf, x, t = make(), torch.randn(6, 3), (torch.rand(6, 3) < .5).float()
    ref = lf(x, t)
    for dt in (torch.bool, torch.uint8, torch.int8, torch.int64, torch.float16, torch.float64): assert torch.equal(lf(x, t.to(dt)), ref)
    xt = torch.empty(3, 6).t(); xt.copy_(x)
    assert not xt.is_contiguous() and torch.equal(lf(xt, t), ref)
    for red, shape in (('mean', ()), ('sum', ()), ('none', (1, 3))):
        lf.reduction = red
        assert lf(x[:1], t[:1]).shape == shape

def test_binary_focal_targets_and_shapes():
    "One logit per row: (bs,), (bs,1) and int8/bool/float targets of either shape; 'none' is one loss per row"
    x, t = torch.randn(6, 1), torch.tensor([0, 1, 1, 0, 1, 0])
    lf = FocalLoss(mode='binary', alpha=.25)
    ref = lf(x, t)
    for tt in (t, t[:, None], t.to(torch.int8)[:, None], t.bool(), t.float()[:, None]): assert torch.equal(lf(x, tt), ref)
    lf.reduction = 'none'
    assert lf(x, t[:, None]).shape == lf(x[:, 0], t).shape == (6,) and lf(x[:1], t[:1, None]).shape == (1,)

# ---------------------------------------------------------------- extreme and non-finite logits, ignored batches

def _all_losses():
    return [(n, m(3), 'softmax') for n, m in SOFTMAX] + [(n, m(), 'sigmoid') for n, m in SIGMOID] + \
           [('focal-binary', FocalLoss(2., mode='binary', alpha=.25), 'binary')]

def _inputs(kind, dtype=torch.float32):
    torch.manual_seed(10)
    if kind == 'softmax': return torch.randn(4, 3, dtype=dtype), torch.tensor([1, 0, 2, 1])
    if kind == 'sigmoid': return torch.randn(4, 3, dtype=dtype), torch.tensor([[1., 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=dtype)
    return torch.randn(4, 1, dtype=dtype), torch.tensor([[1.], [0], [1], [0]], dtype=dtype)

@pytest.mark.parametrize('name,lf,kind', _all_losses(), ids=[c[0] for c in _all_losses()])
def test_extreme_finite_logits(name, lf, kind):
    "Logits of +-1e4 (and LDAM's s times that) give float32 losses and gradients that are finite and equal the float64 ones"
    x, t = _inputs(kind)
    for v in (1e4, -1e4):
        xe = x.clone(); xe[0, 0] = v; xe[2, -1] = -v
        for red in ('mean', 'none'):
            lf.reduction = red
            a, b = lf(xe, t), lf(xe.to(D), t.to(D) if t.is_floating_point() else t)
            assert torch.isfinite(a).all() and torch.allclose(a.to(D), b, rtol=1e-5, atol=1e-5)
            ga, gb = _grad(lambda x: lf(x, t).sum(), xe), _grad(lambda x: lf(x, t.to(D) if t.is_floating_point() else t).sum(), xe.to(D))
            assert torch.isfinite(ga).all() and torch.allclose(ga.to(D), gb, atol=1e-5)
    lf.reduction = 'mean'

@pytest.mark.parametrize('name,lf,kind', _all_losses(), ids=[c[0] for c in _all_losses()])
def test_non_finite_logits_on_kept_targets_are_never_hidden(name, lf, kind):
    """An infinite logit on a target that is not ignored gives either the loss's limit (as 1e6 gives it, in float64) or a
    non-finite loss, never a finite wrong number; a NaN logit gives NaN. Deliberately no error (F.cross_entropy raises
    none either): a forward check would cost a device sync each batch, and a non-finite loss is what fastai's recorder,
    `TerminateOnNaNCallback` and the fp16 `GradScaler` (which skips such a step) already act on"""
    x, t = _inputs(kind)
    tt = t.to(D) if t.is_floating_point() else t
    for r, c in ((0, 0), (0, x.shape[1]-1), (1, 0)):
        for v in (math.inf, -math.inf):
            xi = x.clone(); xi[r, c] = v
            xl = x.to(D); xl[r, c] = math.copysign(1e6, v)
            got, limit = lf(xi, t).item(), lf(xl, tt).item()
            if math.isfinite(got): assert math.isclose(got, limit, rel_tol=1e-4, abs_tol=1e-5), (r, c, v, got, limit)
            if limit > 1e4: assert not math.isfinite(got), (r, c, v, got, limit)   # an infinite limit is never hidden behind a finite loss
        xn = x.clone(); xn[r, c] = math.nan
        assert math.isnan(lf(xn, t).item())

@pytest.mark.parametrize('name,lf,kind', _all_losses(), ids=[c[0] for c in _all_losses()])
def test_an_all_ignored_batch(name, lf, kind):
    """Every target ignored: 'sum' is 0, 'none' all zeros, the gradient zero; 'mean' is NaN (0 targets), as F.cross_entropy's and
    fastai's CrossEntropyLossFlat's, deliberately: the model is unharmed (zero gradient) and the NaN says the batch had nothing to learn"""
    x, t = _inputs(kind)
    ti = torch.full_like(t, -100)
    for red in ('sum', 'none', 'mean'):
        lf.reduction = red
        xx = x.clone().requires_grad_()
        loss = lf(xx, ti)
        loss.sum().backward()
        assert torch.equal(xx.grad, torch.zeros_like(x))
        if red == 'mean': assert loss.shape == () and torch.isnan(loss)
        else: assert torch.equal(loss, torch.zeros_like(loss)) and loss.shape == (() if red == 'sum' else ti.shape[:1] if kind == 'binary' else ti.shape)
    lf.reduction = 'mean'
    assert torch.isnan(F.cross_entropy(torch.randn(3, 2), torch.full((3,), -100)))

# ---------------------------------------------------------------- fastai's contracts and aliasing

def test_building_a_loss_never_aliases_what_it_was_given():
    "A weight, alpha, prior or counts tensor given to a loss (or to DeferredReweighting) can be changed afterwards without changing the loss"
    w, a, n = torch.tensor([1., 2., 3.]), torch.tensor([.2, .5, .7]), torch.tensor([30., 20., 10.])
    made = [FocalLoss(2., w), FocalLoss(alpha=a, mode='multilabel'), LogitAdjustedLoss(n, weight=w), BalancedSoftmaxLoss(n), LDAMLoss(n, weight=w)]
    before = [copy.deepcopy(dict(lf.state_dict())) for lf in made]
    drw = DeferredReweighting(weight=w)
    cw = class_weights(n)
    for v in (w, a, n): v.mul_(7)
    assert torch.equal(class_weights(n/7), cw) and torch.equal(drw.weight, torch.tensor([1., 2., 3.]))
    for lf, sd in zip(made, before): assert all(torch.equal(v, sd[k]) for k, v in lf.state_dict().items()), lf

def test_a_loss_built_from_dls_leaves_the_dls_and_fastais_default_loss_alone():
    dls, _ = small_dls('multiclass')
    default = dls.train_ds.loss_func
    state, items = dict(vars(default)), dls.train.items.copy()
    for make in (lambda d: FocalLoss(weight=class_weights(d)), LogitAdjustedLoss, BalancedSoftmaxLoss, LDAMLoss): make(dls)
    assert dls.train_ds.loss_func is default and vars(default).keys() == state.keys() and all(vars(default)[k] is state[k] for k in state)
    pd.testing.assert_frame_equal(dls.train.items, items)

def test_base_loss_contracts():
    "Ours are fastai `BaseLoss`es that `Learner.to` moves; fastai's `BaseLoss(Ours, axis=, flatten=)` wraps them; `reduction` switches and back"
    torch.manual_seed(12)
    out, targ = torch.randn(4, 5, 3), torch.randint(0, 3, (4, 5))   # classes last, as fastai's flat losses' default axis=-1
    for lf in (FocalLoss(axis=-1), LogitAdjustedLoss([3., 2, 1], axis=-1), LDAMLoss([3., 2, 1], axis=-1)):
        assert isinstance(lf, BaseLoss) and isinstance(lf, nn.Module)
        flat = BaseLoss(type(lf), *(() if isinstance(lf, FocalLoss) else ([3., 2, 1],)), axis=-1)   # fastai moves the axis last and flattens
        assert torch.allclose(flat(out, targ), lf(out, targ), atol=1e-6) and flat.reduction == 'mean'
        flat.reduction = 'none'
        assert flat.func.reduction == 'none' and flat(out, targ).shape == (20,)
        assert torch.allclose(lf(out, targ), type(lf)(*(() if isinstance(lf, FocalLoss) else ([3., 2, 1],)))(out.transpose(1, 2), targ))   # axis=1
        assert torch.equal(lf.decodes(lf.activation(out)), out.argmax(-1))

# ---------------------------------------------------------------- in a Learner

KINDS = [('multiclass', lambda d: FocalLoss(weight=class_weights(d)), 3), ('multiclass', LogitAdjustedLoss, 3), ('multiclass', LDAMLoss, 3),
         ('binary', lambda d: FocalLoss(alpha=.25, mode='binary'), 1), ('multilabel', lambda d: AsymmetricLoss(), 3),
         ('multilabel', lambda d: FocalLoss(mode='multilabel', alpha=.3), 3)]

def _learner(kind, make, n_out, model_dtype=None, cbs=()):
    dls, df = small_dls(kind)
    set_seed(0)
    learn = tabular_learner(dls, layers=[16], loss_func=make(dls), n_out=n_out, cbs=list(cbs))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 2e-2)
    if model_dtype is not None: learn.model = OutputAs(learn.model, model_dtype)
    return learn, df

class OutputAs(nn.Module):
    "A model whose outputs are cast to `dtype` (as a half-precision head, or a model converted for inference, gives them)"
    def __init__(self, m, dtype): super().__init__(); self.m,self.dtype = m,dtype
    def forward(self, *x): return self.m(*x).to(self.dtype)

@pytest.mark.parametrize('kind,make,n_out', KINDS, ids=[f'{k}-{i}' for i, (k, _, _) in enumerate(KINDS)])
def test_get_preds_with_loss_is_the_per_row_loss_of_what_it_returns(kind, make, n_out, tmp_path):
    """`get_preds(with_loss=True)` (what `Interpretation.top_losses` and `plot_top_losses` read) switches `reduction` to 'none'
    and back, also through the learner's `DecisionLoss`, and gives one loss per row (tabular (bs,1) targets): the loss of the outputs
    it returns (corrected by `PriorCorrection` and the temperature), per row; the same after export/load_learner and on a deepcopy"""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn, _ = _learner(kind, make, n_out, cbs=[PriorCorrection()])
        with learn.no_bar(): learn.calibrate()
    assert isinstance(learn.loss_func, DecisionLoss)
    with learn.no_bar(), warnings.catch_warnings():
        warnings.simplefilter('ignore')   # (the 1-epoch model's calibration, which PriorCorrection warns about)
        z, y, l = learn.get_preds(act=noop, with_loss=True)
        p, _, l2 = learn.get_preds(with_loss=True)
        tl = Interpretation.from_learner(learn).top_losses(5)
    assert learn.loss_func.reduction == 'mean' and learn.loss_func.loss_func.reduction == 'mean'
    base = copy.deepcopy(learn.loss_func.loss_func); base.reduction = 'none'
    per = base(z, y)
    per = per.reshape(len(y), -1).mean(1) if per.ndim > 1 else per   # fastai averages a multi-label row's losses
    assert l.shape == (len(y),) and torch.allclose(l, per, atol=1e-6) and torch.equal(l, l2)
    assert torch.allclose(tl[0], l.sort(descending=True).values[:5]) and torch.equal(l[tl[1]], tl[0])
    assert torch.allclose(p, learn.loss_func.activation(z))
    if kind != 'multilabel':
        with learn.no_bar(): cm = ClassificationInterpretation.from_learner(learn).confusion_matrix()
        assert cm.sum() == len(y)
    learn.export(tmp_path/'l.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        other = load_learner(tmp_path/'l.pkl')
    dup = copy.deepcopy(learn.loss_func)
    assert repr(dup) == repr(learn.loss_func) == repr(other.loss_func)
    with other.no_bar(): _, _, l3 = other.get_preds(dl=learn.dls.valid, with_loss=True)
    assert torch.allclose(l3, l) and other.loss_func.reduction == 'mean'

# ---------------------------------------------------------------- decisions, prior, calibration, metrics in half precision

def _probs(dtype, c=3, n=300, seed=13):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    z = torch.randn(n, c, generator=g) + 2*F.one_hot(y, c)
    return z.to(dtype).softmax(1), y, z.to(dtype)

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['float16', 'bfloat16'])
def test_decision_functions_take_half_precision_and_column_targets(dtype):
    """float16 and bfloat16 probabilities (numpy has no bfloat16) and (n,1) targets of small integer dtypes give what their float64
    values give; softmax rows in bfloat16 sum to 1 only within its precision (about 4e-3), which the checks allow"""
    p, y, z = _probs(dtype, c=10)
    pd_, y1 = p.to(D), y[:, None].to(torch.int8)
    assert (p.to(D).sum(1) - 1).abs().max() > (1e-3 if dtype == torch.bfloat16 else 0)   # why the tolerance must follow the dtype
    prior, target = np.full(10, .1), np.linspace(1, 2, 10)/np.linspace(1, 2, 10).sum()
    r = correct_prior(p, prior, target)
    assert r.dtype == dtype and torch.allclose(r.to(D), torch.as_tensor(correct_prior(pd_/pd_.sum(1, keepdim=True), prior, target)), atol=2e-2)
    o = np.linspace(0, 1, 10)
    np.testing.assert_array_equal(apply_offsets(p, o), apply_offsets(pd_, o))
    np.testing.assert_array_equal(DecisionRule(offsets=o)(p).numpy(), apply_offsets(pd_, o))
    costs = 1 - np.eye(10)
    np.testing.assert_array_equal(min_cost_decisions(p, costs), min_cost_decisions(pd_, costs))
    np.testing.assert_allclose(best_offsets(p, y1, max_iter=2), best_offsets(pd_, y, max_iter=2))
    assert expected_calibration_error(p, y1) == pytest.approx(expected_calibration_error(pd_, y))
    assert calibration_bins(p, y1).equals(calibration_bins(pd_, y))
    assert fit_temperature(z, y1) == pytest.approx(fit_temperature(z.to(D), y), rel=1e-4)
    np.testing.assert_allclose(em_prior(p, prior), em_prior(pd_/pd_.sum(1, keepdim=True), prior), atol=2e-2)
    pb, yb, _ = _probs(dtype, c=2)
    pos, yb1 = pb[:, 1:], yb[:, None].to(torch.uint8)
    assert best_threshold(pos, yb1) == best_threshold(pos.to(D), yb)
    assert threshold_scores(pos, yb1).equals(threshold_scores(pos.to(D), yb))
    np.testing.assert_array_equal(DecisionRule(thresh=.3, multilabel=True)(pos).numpy(), (pos.to(D) > .3).long().numpy()[:, 0])

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['float16', 'bfloat16'])
@pytest.mark.parametrize('kind,make,n_out', [KINDS[0], KINDS[3], KINDS[4]], ids=['multiclass', 'binary', 'multilabel'])
def test_learner_with_half_precision_outputs(kind, make, n_out, dtype):
    """A model whose outputs are float16 or bfloat16: PriorCorrection, calibrate, tune_threshold, validate with the training metrics
    and get_preds all run, in callback order (TemperatureScaling 65, then PriorCorrection 70, then the metrics), and decide as the
    same outputs in float32 do"""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn, _ = _learner(kind, make, n_out, model_dtype=dtype)
        learn.metrics = [MinorityRecall(), AvgPrecisionMacro()] if kind != 'multilabel' else [AvgPrecisionMacro()]
        learn.add_cb(PriorCorrection())
        with learn.no_bar():
            T = learn.calibrate()
            learn.tune_threshold()
            val = learn.validate()
            p, y, d = learn.get_preds(with_decoded=True)
            learn.model.dtype = torch.float32
            p32, _, d32 = learn.get_preds(with_decoded=True)
    assert np.isfinite(T) and all(np.isfinite(v) for v in val)
    assert p.dtype == dtype and torch.allclose(p.float(), p32, atol=2e-2)
    assert (d == d32).float().mean() > .95   # decisions at a threshold flip only for probabilities within rounding of it
    assert isinstance(learn.cbs.filter(lambda cb: isinstance(cb, TemperatureScaling))[0], TemperatureScaling)

def test_tuning_and_calibrating_on_an_empty_validation_set_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn, df = _learner('binary', KINDS[3][1], 1)
    empty = learn.dls.test_dl(df.iloc[:0], with_labels=True)
    for f, who in ((learn.tune_threshold, 'tune_threshold'), (learn.calibrate, 'calibrate')):
        with pytest.raises(ValueError, match=f'{who} got an empty dl'): f(dl=empty)
