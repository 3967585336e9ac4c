"LDAM (values, gradients), the asymmetric loss, and DeferredReweighting in real fits: never writing into fastai's shared losses, MixUp, export, refusals."
import copy
import numpy as np, pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.block import CategoryBlock, MultiCategoryBlock
from fastai.data.transforms import Categorize
from fastai.learner import Learner, load_learner
from fastai.losses import CrossEntropyLossFlat, FocalLossFlat
from fastai.callback.core import Callback
from fastai.callback.mixup import MixUp
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from imbalance_fastai.prior import loss_prior_factor
from imbalance_fastai.losses import FocalLoss, BalancedSoftmaxLoss, class_weights
from imbalance_fastai.longtail import LDAMLoss, DeferredReweighting, AsymmetricLoss
from tabular_data import _df, _tab_dls, _fit, _preds, _grad

torch.set_num_threads(1)


def test_ldam_values_and_gradients():
    "LDAM against its definition: margins C*n_c^(-1/4) with the largest max_m, subtracted from the target logit, times s"
    torch.manual_seed(4)
    x, t = torch.randn(24, 4)*.2, torch.randint(0, 4, (24,))
    n = torch.tensor([625., 81., 16., 1.])   # n^(-1/4) = 1/5, 1/3, 1/2, 1
    w = torch.tensor([.5, 1., 2., 3.])
    m = torch.tensor([.2, 1/3, .5, 1.], dtype=torch.float64)*.5
    assert torch.allclose(LDAMLoss(n).margins.double(), m)
    def ref(x, s, wt):
        z = torch.stack([x[i] - m*F.one_hot(t[i], 4) for i in range(len(t))])
        return F.cross_entropy(s*z, t, weight=None if wt is None else wt.double())
    for s, wt in ((30., None), (30., w), (5., w), (1., None)):
        v1, g1 = _grad(lambda x: LDAMLoss(n, s=s, weight=wt)(x, t), x)
        v2, g2 = _grad(lambda x: ref(x, s, wt), x)
        assert torch.allclose(v1, v2) and torch.allclose(g1, g2)


def test_ldam_gradient_scaled_on_the_loss_matches_autograd_of_the_definition():
    "Autograd of the definition: per-target losses (any upstream gradient), ignored pixels, weights, float16, second derivatives"
    torch.manual_seed(6)
    x, t = torch.randn(3, 4, 5, 5), torch.randint(0, 4, (3, 5, 5))
    t[0, :2] = -100
    n, w = torch.tensor([400., 90., 20., 3.]), torch.tensor([.5, 1., 2., 4.])
    up = torch.randn(3, 5, 5)
    for s, wt, red in ((30., None, 'none'), (7., w, 'none'), (7., w, 'sum'), (2., w, 'mean'), (30., None, 'mean')):
        lf = LDAMLoss(n, s=s, weight=wt, reduction=red)
        m = lf.margins
        def ref(x):
            z = x - m[:, None, None]*F.one_hot(t.clamp_min(0), 4).permute(0, 3, 1, 2)
            return F.cross_entropy(s*z, t, weight=wt, reduction=red)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        la, lb = lf(xa, t), ref(xb)
        (la*up if red == 'none' else la).sum().backward(); (lb*up if red == 'none' else lb).sum().backward()
        assert torch.allclose(la, lb, atol=1e-5) and torch.allclose(xa.grad, xb.grad, atol=1e-6), (s, red)
    xh = x.half().requires_grad_()
    LDAMLoss(n)(xh, t).backward()
    assert xh.grad.dtype == torch.float16 and torch.isfinite(xh.grad).all()
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()   # second derivatives are autograd's too (ref: the last, s=30 'mean')
    (g,),(gr,) = torch.autograd.grad(LDAMLoss(n)(xg, t), xg, create_graph=True),torch.autograd.grad(ref(xr), xr, create_graph=True)
    (h,),(hr,) = torch.autograd.grad((g*up[:, None]).sum(), xg),torch.autograd.grad((gr*up[:, None]).sum(), xr)
    assert torch.allclose(h, hr, atol=1e-4) and h.abs().sum() > 0

def test_asymmetric_values_and_gradients_and_the_papers_sum():
    torch.manual_seed(5)
    x, y = torch.randn(12, 7)*3, (torch.rand(12, 7) < .25).double()
    def ref(x, gn, gp, clip):   # Ridnik et al. 2021, eq. (6) and (7): L+ = (1-p)^gp log p, L- = p_m^gn log(1-p_m)
        p = torch.sigmoid(x); pm = (p - clip).clamp(min=0)
        return -(y*(1-p)**gp*p.log() + (1-y)*pm**gn*(1-pm).log())
    for gn, gp, clip in ((4., 1., .05), (2., 0., 0.), (1., 1., .2), (0., 0., 0.)):
        for red, agg in (('mean', torch.mean), ('sum', torch.sum)):
            v1, g1 = _grad(lambda x: AsymmetricLoss(gn, gp, clip, red)(x, y), x)
            v2, g2 = _grad(lambda x: agg(ref(x, gn, gp, clip)), x)
            assert torch.allclose(v1, v2) and torch.allclose(g1, g2)
    assert torch.allclose(AsymmetricLoss(0., 0., 0.)(x, y.float()), F.binary_cross_entropy_with_logits(x, y.float()))


@pytest.mark.parametrize('gn,gp,clip', [(4., 1., .05), (4., 1., 0.), (0., 0., 0.), (0., 1., .05), (.5, .5, .05), (.5, 2., 0.), (3., 4., .3), (1., 0., .1)])
def test_asymmetric_closed_form_gradient_matches_autograd_of_the_definition(gn, gp, clip):
    "The hand-written backward (one autograd node, for speed) against autograd of the paper's formula: hard and soft targets, 'none' with any upstream gradient, float64 gradcheck"
    g = torch.Generator().manual_seed(int(10*gn + gp + 100*clip))
    x = torch.randn(16, 9, generator=g, dtype=torch.float64)*4
    up = torch.rand(16, 9, generator=g, dtype=torch.float64)
    for y in ((torch.rand(16, 9, generator=g) < .3).double(), torch.rand(16, 9, generator=g, dtype=torch.float64)):
        def ref(x):
            p = torch.sigmoid(x); pm = (p - clip).clamp(min=0)
            return -(y*(1-p)**gp*F.logsigmoid(x) + (1-y)*pm**gn*torch.log1p(-pm))
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        la, lb = AsymmetricLoss(gn, gp, clip, 'none')(xa, y), ref(xb)
        (la*up).sum().backward(); (lb*up).sum().backward()
        assert torch.allclose(la, lb) and torch.allclose(xa.grad, xb.grad, atol=1e-10), (gn, gp, clip)
        assert torch.autograd.gradcheck(lambda z: AsymmetricLoss(gn, gp, clip)(z, y[:4, :5]), (x[:4, :5].clone().requires_grad_(),))
    big = torch.tensor([[-1e4, -30., 0., 30., 1e4]]).requires_grad_()   # float32, saturated sigmoids: finite values and gradients
    for t in (torch.ones(1, 5), torch.zeros(1, 5)):
        AsymmetricLoss(gn, gp, clip, 'sum')(big, t).backward()
    assert torch.isfinite(big.grad).all()
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()   # second derivatives: autograd's of the same formula (the soft y)
    (d,),(dr,) = torch.autograd.grad(AsymmetricLoss(gn, gp, clip, 'sum')(xg, y), xg, create_graph=True),torch.autograd.grad(ref(xr).sum(), xr, create_graph=True)
    (h,),(hr,) = torch.autograd.grad((d*up).sum(), xg),torch.autograd.grad((dr*up).sum(), xr)
    assert torch.allclose(h, hr, atol=1e-8), (gn, gp, clip)

def _weighted(loss, w):
    "A copy of `loss` with class weights `w` (fastai's flattened losses hold them on `func`), to compare against"
    wl = copy.deepcopy(loss)
    getattr(wl, 'func', wl).weight = w
    return wl

class _LossSpy(Callback):
    "Record, per batch: the learner's loss object, and whether the batch's loss is that object's, or `ref`'s (weighted)"
    order = 10
    def __init__(self, ref=None): self.ref = ref
    def before_fit(self): self.seen = []
    def after_loss(self):
        lf, loss, p, yb = self.learn.loss_func, self.learn.loss, self.pred, self.yb
        assert torch.equal(loss, self.learn.loss_grad.detach())
        self.seen.append((self.epoch, self.training, lf, torch.allclose(loss, lf(p, *yb)),
                          self.ref is not None and torch.allclose(loss, self.ref(p, *yb))))

def test_drw_never_writes_into_fastais_shared_default_loss():
    "tabular_learner's default loss is Categorize's one CrossEntropyLossFlat, shared by every learner: it stays unweighted"
    set_seed(8)
    dls = _tab_dls('y', CategoryBlock())
    shared = Categorize.loss_func
    cbw = class_weights(dls, 'effective', beta=.9999)
    spy = _LossSpy(_weighted(shared, cbw))
    learn = tabular_learner(dls, layers=[8], cbs=[DeferredReweighting(start_epoch=1), spy])
    assert learn.loss_func is shared
    other = tabular_learner(dls, layers=[8])
    class _Other(Callback):   # during the weighted epochs, the other learner's loss is still unweighted
        def after_batch(self):
            if self.training and self.epoch>=1: assert other.loss_func.func.weight is None and self.learn.loss_func is shared
    learn.add_cb(_Other())
    _fit(learn, 3)
    assert all(lf is shared for e, tr, lf, plain, wtd in spy.seen)                 # never replaced
    assert {(e, plain, wtd) for e, tr, lf, plain, wtd in spy.seen if tr} == {(0, True, False), (1, False, True), (2, False, True)}
    assert all(plain for e, tr, lf, plain, wtd in spy.seen if not tr)              # validation: the loss as built
    assert learn.loss_func is shared and shared.func.weight is None and other.loss_func is shared
    drw = learn.cbs.filter(lambda c: isinstance(c, DeferredReweighting))[0]
    assert torch.equal(drw.applied_weight, cbw) and np.allclose(loss_prior_factor(drw.trained_loss), cbw.numpy())

@pytest.mark.parametrize('make', [lambda dls: LDAMLoss(dls), lambda dls: FocalLoss(), lambda dls: BalancedSoftmaxLoss(dls),
                                  lambda dls: FocalLossFlat(), lambda dls: CrossEntropyLossFlat(label_smoothing=.1)],
                         ids=['ldam', 'focal', 'balanced-softmax', 'fastai-focal', 'fastai-ce'])
def test_drw_works_with_any_loss_that_takes_weight(make):
    set_seed(9)
    dls = _tab_dls('y', CategoryBlock())
    loss, w = make(dls), torch.tensor([1., 5., 10.])
    spy, drw = _LossSpy(_weighted(make(dls), w)), DeferredReweighting(weight=w)
    learn = _fit(tabular_learner(dls, layers=[8], loss_func=loss, cbs=[drw, spy]), 5)
    assert {e for e, tr, lf, plain, wtd in spy.seen if tr and wtd and not plain} == {4}   # round(0.8*5) = 4: the last epoch
    assert all(plain for e, tr, lf, plain, wtd in spy.seen if not tr or e<4)
    assert all(lf is loss for e, tr, lf, plain, wtd in spy.seen)
    assert learn.loss_func is loss and getattr(getattr(loss, 'func', loss), 'weight') is None
    assert torch.equal(drw.applied_weight, w) and drw.trained_loss is not loss   # what PriorCorrection should read
    x, t = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    assert torch.allclose(drw.trained_loss(x, t), spy.ref(x, t)) and not torch.allclose(drw.trained_loss(x, t), loss(x, t))

class _TensorDS(torch.utils.data.Dataset):
    "Tensors with their labels as `targets`, which `get_labels` reads"
    def __init__(self, x, y): self.x,self.targets = x,y
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.x[i], self.targets[i]

def test_drw_with_mixup():
    "MixUp (its own lf, mixing the loss it keeps as old_lf) mixes DRW's weighted copy in the weighted epochs; nothing is replaced after"
    set_seed(2)
    x = torch.randn(96, 4); y = (x[:, 0] > .8).long()
    dls = DataLoaders.from_dsets(_TensorDS(x[:64], y[:64]), _TensorDS(x[64:], y[64:]), bs=16, num_workers=0)
    loss, drw, mix, seen = LDAMLoss(dls), DeferredReweighting(start_epoch=1), MixUp(), []
    cbw = class_weights(torch.bincount(y[:64]), 'effective', beta=.9999)
    def mixed(lf, p, yb):   # MixUp's definition, with the loss `lf`
        lf = copy.deepcopy(lf); lf.reduction = 'none'
        return torch.lerp(lf(p, *mix.yb1), lf(p, *yb), mix.lam).mean()
    class _Check(Callback):
        order = 10
        def after_loss(self):
            if self.training:
                l = self.learn.loss
                seen.append((self.epoch, mix.old_lf is loss, torch.allclose(l, mixed(loss, self.pred, self.yb)),
                             torch.allclose(l, mixed(_weighted(loss, cbw), self.pred, self.yb))))
    learn = _fit(Learner(dls, nn.Linear(4, 2), loss_func=loss, cbs=[drw, mix, _Check()]), 2)
    assert set(seen) == {(0, True, True, False), (1, True, False, True)}   # epoch 1: MixUp mixes DRW's weighted copy
    assert learn.loss_func is loss and loss.weight is None and loss.reduction == 'mean'
    assert torch.equal(drw.applied_weight, cbw)

def test_drw_export_and_interruption(tmp_path):
    "An exception in a weighted epoch (fastai then runs no after_fit) leaves the learner's loss as built: export saves it"
    set_seed(10)
    dls = _tab_dls('y', CategoryBlock())
    loss = LDAMLoss(dls)
    drw = DeferredReweighting(start_epoch=1)
    learn = _fit(tabular_learner(dls, layers=[8], loss_func=loss, cbs=drw), 2)
    assert learn.loss_func is loss and loss.weight is None and drw.applied_weight is not None
    learn.export(tmp_path/'drw.pkl')
    learn2 = load_learner(tmp_path/'drw.pkl')
    assert isinstance(learn2.loss_func, LDAMLoss) and learn2.loss_func.weight is None
    learn2.predict(_df().iloc[0])
    class _Boom(Callback):
        def after_batch(self):
            if self.training and self.epoch==1: raise RuntimeError('boom')
    learn.add_cb(_Boom())
    with pytest.raises(RuntimeError, match='boom'): _fit(learn, 2, lr=1e-3)
    assert learn.loss_func is loss and loss.weight is None   # mid-weighted-epoch: nothing to put back
    learn.remove_cbs(learn.cbs.filter(lambda c: isinstance(c, _Boom)))
    learn.export(tmp_path/'drw2.pkl')
    lf = load_learner(tmp_path/'drw2.pkl').loss_func
    assert isinstance(lf, LDAMLoss) and lf.weight is None and torch.equal(lf.margins, loss.margins)
    _fit(learn, 2)                                            # the next fit switches again, from a fresh copy
    assert learn.loss_func is loss and torch.equal(drw.applied_weight, class_weights(dls, 'effective', beta=.9999))

def test_drw_refuses_a_loss_swapped_in_during_the_fit():
    "A callback that puts another loss in place for training (not MixUp's lf): DRW cannot weigh it, and says so"
    set_seed(12)
    dls = _tab_dls('y', CategoryBlock())
    class _Swap(Callback):
        def before_train(self): self.learn.loss_func = CrossEntropyLossFlat()
    learn = tabular_learner(dls, layers=[8], loss_func=CrossEntropyLossFlat(), cbs=[DeferredReweighting(start_epoch=0), _Swap()])
    with pytest.raises(TypeError, match='cannot weigh it'): _fit(learn)

def test_drw_refusals():
    set_seed(11)
    tags = ['t0', 't1', 't2']
    dlm = _tab_dls(tags, MultiCategoryBlock(encoded=True, vocab=tags))
    learn = tabular_learner(dlm, layers=[8], cbs=DeferredReweighting())
    with pytest.raises(ValueError, match='single-label'): _fit(learn)
    dls = _tab_dls('y', CategoryBlock())
    for lf, msg in ((AsymmetricLoss(), 'is not a class weight'), (FocalLoss(mode='multilabel'), 'is not a class weight'),
                    (lambda x, y: F.cross_entropy(x, y.flatten()), "takes per-class weights as `weight`")):
        learn = tabular_learner(dls, layers=[8], loss_func=lf, cbs=DeferredReweighting())
        with pytest.raises(TypeError, match=msg): _fit(learn)
    learn = tabular_learner(dls, layers=[8], cbs=DeferredReweighting(weight=[1., 2.]))
    with pytest.raises(ValueError, match='weight has 2 values but the data has 3 classes'): _fit(learn)
    assert learn.loss_func is Categorize.loss_func and Categorize.loss_func.func.weight is None

def _page(nb):
    "The markdown of a notebook in nbs/, its lines joined, so that a phrase the docs quote can be searched for"
    import json, pathlib
    cells = json.loads((pathlib.Path(__file__).parents[1]/'nbs'/f'{nb}.ipynb').read_text())['cells']
    return ' '.join(' '.join(''.join(c['source']).split()) for c in cells if c['cell_type']=='markdown')

def test_the_ldam_page_quotes_the_speed_benchmark_as_it_stands():
    "05a_longtail quotes benchmarks/losses.md, to one decimal: LDAM's forward+backward and autograd's `F.cross_entropy(30*x)`, each over cross-entropy"
    import pathlib, re
    bench = (pathlib.Path(__file__).parents[1]/'benchmarks'/'losses.md').read_text()
    ldam = float(re.search(r'\| LDAMLoss\(counts\), on logits/30 \| \(4096, 1000\) \| ([\d.]+) \| yes', bench).group(1))
    auto = float(re.search(r'\| F\.cross_entropy\(30\*x\) .*?\*\*([\d.]+)\*\*', bench).group(1))
    assert (f"that makes forward and backward {ldam:.1f}x `CrossEntropyLossFlat`'s, where autograd of `F.cross_entropy(s*x)` "
            f"takes {auto:.1f}x") in _page('05a_longtail'), (ldam, auto)

def test_the_asymmetric_bend_is_as_its_message_says():
    "AsymmetricLoss's defaults, on a label with a true rate of 2%: the probability that minimises the expected loss is about 36%, as `bends_probabilities` says"
    q, x = .02, torch.linspace(-8, 4, 24001, dtype=torch.float64)     # logits: probabilities from 3e-4 to 0.98, steps under 1e-3 in p
    lf = AsymmetricLoss(reduction='none')
    risk = q*lf(x, torch.ones_like(x)) + (1-q)*lf(x, torch.zeros_like(x))
    p = torch.sigmoid(x[risk.argmin()]).item()
    assert abs(p - .36) < .005, p
    assert 'a true 2% reads about 36%' in lf.bends_probabilities()[0] and lf.bends_probabilities()[1] is False
