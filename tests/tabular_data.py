"Small imbalanced tabular data and fit helpers shared by the loss tests"
import numpy as np, pandas as pd
from fastcore.basics import noop
from fastai.tabular.data import TabularDataLoaders
from fastai.tabular.core import Normalize

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

def _train_counts(dls):
    return np.bincount(dls.train.items['y'].to_numpy(), minlength=3)   # Categorify-encoded train codes

def _raw_outputs(learn):
    return learn.get_preds(act=noop)[0]

def _fit(learn, n_epoch=1, lr=3e-2):
    with learn.no_bar(), learn.no_logging(): learn.fit(n_epoch, lr)
    return learn

def _preds(learn, **kwargs):
    with learn.no_bar(): return learn.get_preds(**kwargs)

def _grad(f, x, *args):
    "Value and gradient of `f` at `x`, in float64"
    x = x.detach().double().requires_grad_()
    v = f(x, *args)
    v.backward()
    return v.detach(), x.grad
