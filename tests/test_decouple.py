"cRT and τ-norm on the learners fastai users build: `tabular_learner`, `vision_learner`, a plain `nn.Sequential`; export."
import warnings
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastai.learner import Learner, load_learner
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from fastai.callback.schedule import fit_one_cycle       # noqa: F401 (patches Learner.fit_one_cycle)
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock, MultiCategoryBlock
from fastai.data.transforms import ColReader, IndexSplitter
from fastai.losses import CrossEntropyLossFlat, BCEWithLogitsLossFlat
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.vision.data import ImageBlock
from fastai.vision.learner import vision_learner
from fastai.torch_core import set_seed
from torchvision.models import resnet18

from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.decouple import find_classifier, tau_normalize, tune_tau

torch.set_num_threads(1)


class TrainTargets(Callback):
    "Record the targets of the training batches"
    def before_fit(self): self.ys = []
    def after_batch(self):
        if self.training: self.ys.append(self.yb[0].detach().cpu().view(-1))


def _frame(n=1000, seed=0):
    "Two features, 10% 'rare'"
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 10 == 0, 'rare', 'common')
    return pd.DataFrame({'a': rng.normal(size=n) + (y == 'rare'), 'b': rng.normal(size=n), 'y': y})


def _tab_learner(n=1000, epochs=2, **kwargs):
    df = _frame(n)
    to = TabularPandas(df, procs=[Normalize], cont_names=['a', 'b'], y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(int(.8*n))), list(range(int(.8*n), n))])
    set_seed(0)
    learn = tabular_learner(to.dataloaders(bs=50), layers=[16], **kwargs)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    return learn


def _seq_learner(model):
    df = _frame()
    dls = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda r: torch.tensor([r['a'], r['b']], dtype=torch.float32),
                    get_y=ColReader('y'), splitter=IndexSplitter(range(800, 1000))).dataloaders(df, bs=50)
    return Learner(dls, model, loss_func=CrossEntropyLossFlat())


def _vision_learner():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (48, 32, 32, 3), dtype=np.uint8)
    ys = np.where(np.arange(48) % 6 == 0, 'b', 'a')
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=lambda i: imgs[i], get_y=lambda i: ys[i],
                    splitter=IndexSplitter(range(40, 48))).dataloaders(list(range(48)), bs=8)
    return vision_learner(dls, resnet18, pretrained=False)


def _quiet(learn, f, *args, **kwargs):
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return f(*args, **kwargs)


def _state(model): return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_only_classifier_changed(before, model, name):
    after = model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert changed and all(k.startswith(name + '.') for k in changed), f"changed: {changed}"


def test_crt_tabular_body_unchanged_head_changed():
    learn = _tab_learner()
    name, lin = find_classifier(learn.model)
    assert name == 'layers.1.0' and isinstance(lin, nn.Linear)
    before = _state(learn.model)
    _quiet(learn, learn.retrain_classifier, 2, seed=0)
    _check_only_classifier_changed(before, learn.model, name)
    assert all(p.requires_grad for p in learn.model.parameters())


def test_crt_trains_on_class_balanced_batches():
    learn = _tab_learner()
    rec = TrainTargets()
    _quiet(learn, learn.retrain_classifier, 2, cbs=rec, seed=0)
    ys = torch.cat(rec.ys).float()
    # 2 epochs x 800 rows; a balanced draw has a minority share of 1/2 with a standard error of sqrt(.25/1600) = 0.0125
    assert len(ys) == 1600
    assert abs(ys.mean().item() - 0.5) < 0.05


def test_crt_with_a_strategy_and_an_existing_callback():
    learn = _tab_learner(cbs=OverSamplingCallback('undersample', seed=0))
    rec = TrainTargets()
    _quiet(learn, learn.retrain_classifier, 1, strategy='partial', alpha=0., cbs=rec, seed=0)   # alpha 0: natural
    ys = torch.cat(rec.ys).float()
    assert len(ys) == 800 and abs(ys.mean().item() - .1) < .03       # the learner's undersampling stepped aside
    assert [type(cb).__name__ for cb in learn.cbs].count('OverSamplingCallback') == 1


def test_crt_vision_learner_frozen_flags_restored():
    learn = _vision_learner()
    name, _ = find_classifier(learn.model)
    assert name == '1.8'                                          # the last nn.Linear of fastai's head
    learn.freeze()
    flags = [p.requires_grad for p in learn.model.parameters()]
    before = _state(learn.model)
    _quiet(learn, learn.retrain_classifier, 1, seed=0)
    _check_only_classifier_changed(before, learn.model, name)   # batch-norm statistics of body and head included
    assert [p.requires_grad for p in learn.model.parameters()] == flags


def test_crt_plain_sequential_and_reset_false():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    learn = _seq_learner(model)
    _quiet(learn, learn.fit, 1, 1e-2)
    before = _state(learn.model)
    _quiet(learn, learn.retrain_classifier, 1, reset=False, seed=0)
    _check_only_classifier_changed(before, learn.model, '2')


def test_crt_bad_head_changes_nothing():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2), nn.BatchNorm1d(2))
    learn = _seq_learner(model)
    before, cbs = _state(learn.model), list(learn.cbs)
    with pytest.raises(ValueError, match=r"last layer with parameters, which must be an nn.Linear or a convolution \(neither grouped nor transposed\), but in this Sequential it is a BatchNorm1d '3': its nn.Linear and convolution layers with 2 outputs are \['2'\]; name the classifier with head="):
        learn.retrain_classifier(1)
    with pytest.raises(ValueError, match="head='fc' is not a module"): learn.retrain_classifier(1, head='fc')
    with pytest.raises(ValueError, match='strategy must be one of'): learn.retrain_classifier(1, head='2', strategy='smote')
    with pytest.raises(TypeError, match=r"\['ratoi'\] \(did you mean \['ratio'\]\?\)"): learn.retrain_classifier(1, head='2', ratoi=2)
    with pytest.raises(TypeError, match=r"\['epoch'\] \(did you mean \['epochs'\]\?\): retrain_classifier takes epochs"): learn.retrain_classifier(head='2', epoch=2)
    with pytest.raises(TypeError, match=r"\['wd'\]: .*wd, pct_start..., are not passed on"): learn.retrain_classifier(1, head='2', wd=.1)
    after = learn.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert list(learn.cbs) == cbs and all(p.requires_grad for p in model.parameters())
    _quiet(learn, learn.retrain_classifier, 1, head='2', seed=0)  # named, it works
    _check_only_classifier_changed(before, learn.model, '2')


class _UnusedLast(nn.Module):
    "`proj` is the last layer with parameters, but the forward never calls it"
    def __init__(self):
        super().__init__()
        self.fc, self.proj = nn.Linear(2, 2), nn.Linear(2, 2)
    def forward(self, x): return self.fc(x)


def test_crt_classifier_unused_by_forward_changes_nothing():
    learn = _seq_learner(_UnusedLast())
    _quiet(learn, learn.fit, 1, 1e-2)
    before, cbs, opt = _state(learn.model), list(learn.cbs), learn.opt
    learn.model.fc.weight.requires_grad_(False)                   # a flag of the user's, kept
    flags = [p.requires_grad for p in learn.model.parameters()]
    with pytest.raises(ValueError, match=r"the classifier found, 'proj', is not used by this _UnusedLast's forward .*"
                                         r"head='<name>'; its nn.Linear and convolution layers are \['fc', 'proj'\]"):
        learn.retrain_classifier(1, seed=0)                       # the learner's own callbacks, checked below
    after = learn.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert [p.requires_grad for p in learn.model.parameters()] == flags
    assert list(learn.cbs) == cbs and learn.opt is opt
    learn.model.fc.weight.requires_grad_(True)
    _quiet(learn, learn.retrain_classifier, 1, head='fc', seed=0)   # named, it works
    _check_only_classifier_changed(before, learn.model, 'fc')


class _DefinedFirst(nn.Module):
    "The classifier `fc` is defined before the body it follows, so the last layer *defined* is a hidden one"
    def __init__(self):
        super().__init__()
        self.fc, self.body = nn.Linear(8, 2), nn.Sequential(nn.Linear(2, 8), nn.ReLU())
    def forward(self, x): return self.fc(self.body(x))


def test_crt_and_tau_refuse_a_hidden_layer_found_as_classifier():
    "A layer with other than one output per class is not taken as the classifier: the error names the layers that fit"
    learn = _seq_learner(_DefinedFirst())
    _quiet(learn, learn.fit, 1, 1e-2)
    before = _state(learn.model)
    msg = r"the classifier found, 'body.0', has 8 outputs but the data has 2 classes.*the nn.Linear and convolution layers with 2 outputs are \['fc'\]"
    for f in (lambda: learn.retrain_classifier(1), lambda: tau_normalize(learn, 1.), lambda: tune_tau(learn),
              lambda: learn.retrain_classifier(1, head='body')):
        with pytest.raises(ValueError, match=msg): f()
    after = learn.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    _quiet(learn, learn.retrain_classifier, 1, head='fc', seed=0)   # named, it works
    _check_only_classifier_changed(before, learn.model, 'fc')


def test_crt_exception_restores_flags():
    learn = _tab_learner()
    class Boom(Callback):
        def after_batch(self):
            if self.training and self.iter == 2: raise RuntimeError('boom')
    train, opt, before = learn.dls.train, learn.opt, _state(learn.model)
    with pytest.raises(RuntimeError, match='boom'): _quiet(learn, learn.retrain_classifier, 1, cbs=Boom())
    assert all(p.requires_grad for p in learn.model.parameters())
    assert learn.dls.train is train and learn.opt is opt          # the natural DataLoader and the optimizer are back
    after = learn.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())   # and the classifier as trained


def test_tau_zero_is_identity_and_tau_relative_to_trained_weights():
    learn = _vision_learner()
    _quiet(learn, learn.fit, 1)
    _, lin = find_classifier(learn.model)
    assert lin.bias is None
    w0 = lin.weight.detach().clone()
    p0, _ = _quiet(learn, learn.get_preds)
    assert tau_normalize(learn, 0) == 0.
    assert torch.equal(lin.weight, w0)
    assert torch.equal(_quiet(learn, learn.get_preds)[0], p0)
    tau_normalize(learn, 2.); tau_normalize(learn, 1.)
    torch.testing.assert_close(lin.weight, w0/w0.norm(dim=1, keepdim=True))
    _quiet(learn, learn.fit, 1)                                    # trained again: the new weights are the base
    w1 = lin.weight.detach().clone()
    tau_normalize(learn, 1.)
    torch.testing.assert_close(lin.weight, w1/w1.norm(dim=1, keepdim=True))


def test_tune_tau_matches_applied_tau(tmp_path):
    learn = _tab_learner(epochs=1)
    scores = _quiet(learn, tune_tau, learn, taus=[0., .5, 1., 2.])
    assert list(scores.index) == [0., .5, 1., 2.]
    for t in scores.index:                                         # each score is what that tau gives
        tau_normalize(learn, t)
        p, y = _quiet(learn, learn.get_preds)
        pred, y = p.argmax(1).numpy(), y.view(-1).numpy()
        bal = np.mean([(pred[y == c] == c).mean() for c in np.unique(y)])
        assert scores[t] == pytest.approx(bal)
    best = _quiet(learn, tau_normalize, learn, taus=[0., .5, 1., 2.])
    assert best == scores.idxmax()
    learn.export(tmp_path/'m.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'m.pkl')
    torch.testing.assert_close(find_classifier(loaded.model)[1].weight, find_classifier(learn.model)[1].weight)


def test_crt_exported():
    learn = _tab_learner()
    _quiet(learn, learn.retrain_classifier, 1, seed=0)
    df = _frame(50, seed=1)
    p, _ = _quiet(learn, learn.get_preds, dl=learn.dls.test_dl(df))
    import tempfile, pathlib
    with tempfile.TemporaryDirectory() as d:
        learn.export(pathlib.Path(d)/'m.pkl')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            loaded = load_learner(pathlib.Path(d)/'m.pkl')
    p2, _ = _quiet(loaded, loaded.get_preds, dl=loaded.dls.test_dl(df))
    torch.testing.assert_close(p, p2)


def test_tune_tau_refuses_multi_label():
    df = _frame(200)
    df['tags'] = np.where(df.y == 'rare', 'x y', 'x')
    dls = DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['a'], r['b']], dtype=torch.float32),
                    get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter(range(150, 200))).dataloaders(df, bs=50)
    learn = Learner(dls, nn.Sequential(nn.Linear(2, 2)), loss_func=BCEWithLogitsLossFlat())
    with pytest.raises(ValueError, match='single-label classification'): _quiet(learn, tune_tau, learn)
    with pytest.raises(TypeError, match=r"tau must be a number >= 0 .*, got 'one' \(a str\)"): tau_normalize(learn, 'one')


def test_tune_tau_needs_labelled_data():
    learn = _vision_learner()
    _, lin = find_classifier(learn.model)
    w0 = lin.weight.detach().clone()
    with pytest.raises(ValueError, match=r"tune_tau needs labels to score tau with, but this Datasets has 1 pipelines and n_inp=1: pass dl=learn.dls.test_dl\(df, with_labels=True\)"):
        _quiet(learn, tau_normalize, learn, dl=learn.dls.test_dl(list(range(8))))
    assert torch.equal(lin.weight, w0)
