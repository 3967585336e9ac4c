"Training runs with the losses of `imbalance_fastai.losses` in fastai Learners (too slow for the notebook)"
import pickle, warnings
import numpy as np, pandas as pd, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.block import CategoryBlock, MultiCategoryBlock
from fastai.learner import Learner
from fastai.callback.mixup import MixUp
from fastai.interpret import ClassificationInterpretation
from fastai.tabular.data import TabularDataLoaders
from fastai.tabular.core import Normalize
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from fastcore.basics import noop
from imbalance_fastai.losses import FocalLoss, LogitAdjustedLoss, class_weights

VOCAB = ['cat', 'dog', 'eel']

def _df(n=240, seed=0):
    "Three imbalanced classes (70/20/10%) separated in the first three features, plus three tags for multi-label"
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[.7, .2, .1])
    x = rng.normal(size=(n, 4)) + 3*np.eye(3, 4)[y]
    df = pd.DataFrame(x, columns=list('abcd'))
    df['y'] = np.array(VOCAB)[y]
    df['yb'] = np.where(y==2, 'rare', 'common')
    for j in range(3): df[f't{j}'] = (x[:, j] + rng.normal(size=n) > 2).astype(float)
    return df

def _tab_dls(y_names, y_block, n=240):
    df = _df(n)
    return TabularDataLoaders.from_df(df, cont_names=list('abcd'), y_names=y_names, y_block=y_block, procs=[Normalize],
                                      valid_idx=list(range(n-60, n)), bs=32, num_workers=0)

def _raw_outputs(learn):
    return learn.get_preds(act=noop)[0]

def _fit(learn, n_epoch=1, lr=3e-2):
    with learn.no_logging(): learn.fit(n_epoch, lr)
    return learn

def test_tabular_multiclass_trains_and_decodes():
    "Tabular targets are (bs,1): FocalLoss with class weights trains; get_preds, predict and interpretation work"
    set_seed(0)
    dls = _tab_dls('y', CategoryBlock())
    w = class_weights(dls)
    test_counts = np.bincount(dls.train.items['y'].to_numpy(), minlength=3)   # Categorify-encoded train codes
    assert torch.allclose((w*torch.tensor(test_counts, dtype=torch.float32)).sum(), torch.tensor(float(test_counts.sum())))
    loss = FocalLoss(alpha=w)
    learn = tabular_learner(dls, layers=[16], loss_func=loss)
    with learn.no_logging(): before = learn.validate()[0]
    _fit(learn)                                                          # one epoch
    assert learn.loss_func is loss and torch.equal(learn.loss_func.weight, w)
    assert np.isfinite(learn.recorder.losses[-1].item()) and learn.recorder.values[-1][1] < before
    _fit(learn, 2)
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    assert targs.shape == (60, 1) and probs.shape == (60, 3)
    assert torch.allclose(probs, F.softmax(_raw_outputs(learn), 1), atol=1e-6)
    assert torch.equal(decoded, probs.argmax(1))
    assert (decoded == targs.flatten()).float().mean() > .8     # the classes are separable (CE gets 1.0 here)
    row, cls, p = learn.predict(_df().iloc[-1])
    assert p.shape == (3,) and int(cls) == int(p.argmax())
    assert row.decode().items['y'].iloc[0] == VOCAB[int(cls)]
    cm = ClassificationInterpretation.from_learner(learn).confusion_matrix()
    assert cm.shape == (3, 3) and cm.sum() == 60

def test_learner_on_tensors_gets_softmax_and_argmax():
    "A plain Learner on synthetic tensors: probabilities are the softmax of the outputs, decodes their argmax"
    set_seed(1)
    x = torch.randn(96, 4); y = (x[:, 0] > .8).long() + (x[:, 1] > 1.2).long()
    dls = DataLoaders.from_dsets(list(zip(x[:64], y[:64])), list(zip(x[64:], y[64:])), bs=16, num_workers=0)
    learn = _fit(Learner(dls, nn.Linear(4, 3), loss_func=FocalLoss(gamma=1.)))
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    with torch.no_grad(): expected = F.softmax(learn.model(x[64:]), 1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.equal(decoded, expected.argmax(1)) and torch.equal(targs, y[64:])
    _, _, losses = learn.get_preds(with_loss=True)
    assert losses.shape == (32,)
    with torch.no_grad(): ref = FocalLoss(gamma=1., reduction='none')(learn.model(x[64:]), y[64:])
    assert torch.allclose(losses, ref, atol=1e-6)

def test_mixup_mixes_focal_losses():
    "MixUp reads `y_int` and `reduction`: it must train with FocalLoss and restore the reduction"
    set_seed(2)
    x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
    dls = DataLoaders.from_dsets(list(zip(x[:48], y[:48])), list(zip(x[48:], y[48:])), bs=16, num_workers=0)
    learn = Learner(dls, nn.Linear(4, 2), loss_func=FocalLoss(alpha=[1., 3.]), cbs=MixUp())
    _fit(learn)
    assert learn.loss_func.reduction == 'mean' and np.isfinite(learn.recorder.losses[-1].item())

def test_segmentation_learner():
    "Outputs (bs,C,H,W) with masks (bs,H,W): the class axis is 1"
    set_seed(3)
    img = torch.randn(40, 1, 6, 6); mask = (img[:, 0] > .5).long() + (img[:, 0] > 1.5).long()
    dls = DataLoaders.from_dsets(list(zip(img[:32], mask[:32])), list(zip(img[32:], mask[32:])), bs=8, num_workers=0)
    learn = _fit(Learner(dls, nn.Conv2d(1, 3, 1), loss_func=FocalLoss(alpha=class_weights(mask[:32].flatten()))), 2)
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    assert probs.shape == (8, 3, 6, 6) and decoded.shape == (8, 6, 6)
    assert torch.allclose(probs.sum(1), torch.ones(8, 6, 6)) and torch.equal(decoded, probs.argmax(1))

def test_binary_tabular_thresholds():
    "mode='binary' with one output per row: sigmoid probabilities, decodes at a settable `thresh`, predict gives the class"
    set_seed(4)
    dls = _tab_dls('yb', CategoryBlock())
    loss = FocalLoss(alpha=.75, mode='binary')
    learn = _fit(tabular_learner(dls, layers=[16], n_out=1, loss_func=loss), 2)
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    assert probs.shape == (60, 1) and torch.allclose(probs, torch.sigmoid(_raw_outputs(learn)), atol=1e-6)
    assert torch.equal(decoded, (probs[:, 0] > .5).long())
    loss.thresh = .2
    _, _, dec2 = learn.get_preds(with_decoded=True)
    assert torch.equal(dec2, (probs[:, 0] > .2).long()) and dec2.sum() >= decoded.sum()
    _, cls, p = learn.predict(_df().iloc[-1])
    assert int(cls) == int(p[0] > .2)

def test_multilabel_tabular_thresholds():
    "mode='multilabel' on multi-hot float targets: decodes is probs > thresh"
    set_seed(5)
    tags = ['t0', 't1', 't2']
    dls = _tab_dls(tags, MultiCategoryBlock(encoded=True, vocab=tags))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        pw = class_weights(dls)
    assert pw.shape == (3,) and (pw > 0).all()
    loss = FocalLoss(alpha=pw/(1+pw), mode='multilabel', thresh=.4)
    learn = _fit(tabular_learner(dls, layers=[16], loss_func=loss))
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    assert probs.shape == targs.shape == (60, 3)
    assert torch.allclose(probs, torch.sigmoid(_raw_outputs(learn)), atol=1e-6)
    assert torch.equal(decoded, probs > .4)

def test_logit_adjusted_learner():
    "LogitAdjustedLoss reads the train prior from the DataLoaders; predictions are the softmax of the raw logits"
    set_seed(6)
    dls = _tab_dls('y', CategoryBlock())
    loss = LogitAdjustedLoss(dls, tau=1.)
    counts = np.bincount(dls.train.items['y'].to_numpy(), minlength=3)
    assert torch.allclose(loss.prior, torch.tensor(counts/counts.sum(), dtype=torch.float32))
    learn = _fit(tabular_learner(dls, layers=[16], loss_func=loss))
    probs, targs, decoded = learn.get_preds(with_decoded=True)
    raw = _raw_outputs(learn)
    assert torch.allclose(probs, F.softmax(raw, 1), atol=1e-6) and torch.equal(decoded, raw.argmax(1))
    _, cls, p = learn.predict(_df().iloc[-1])
    assert int(cls) == int(p.argmax())

def test_losses_pickle_and_move():
    "Learner.export pickles the loss; Learner moves it to the model's device with `to`"
    for loss in (FocalLoss(alpha=[1., 2.]), FocalLoss(alpha=.3, mode='binary'), LogitAdjustedLoss([.9, .1], weight=[1., 2.])):
        loss2 = pickle.loads(pickle.dumps(loss))
        out, targ = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
        if getattr(loss, 'mode', '') == 'binary': out = out[:, :1]
        assert torch.allclose(loss(out, targ), loss2(out, targ))
        loss.to(torch.device('cpu'))
        assert torch.allclose(loss(out, targ), loss2(out, targ))

def test_large_batch_weighted_mean_matches_cross_entropy():
    "Bigger check of the gamma=0 equality, with weights, label smoothing and ignored targets all at once"
    torch.manual_seed(7)
    out, targ = torch.randn(2048, 50)*4, torch.randint(0, 50, (2048,))
    targ[::7] = 3
    w = torch.rand(50) + .1
    ref = F.cross_entropy(out, targ, weight=w, ignore_index=3, label_smoothing=.2)
    assert torch.allclose(FocalLoss(0., w, label_smoothing=.2, ignore_index=3)(out, targ), ref, rtol=1e-5)
