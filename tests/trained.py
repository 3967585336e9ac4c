"""A tabular learner trained once per test session on 2% positives (tens of thousands of rows), shared by the tests of
prior correction, thresholds and the report (`conftest.py` makes it the `setup` fixture).

The data: 3 continuous features, x | y ~ N(y*MU, I), exactly 2% positives in every split. Under this generative model
the label shift assumption holds exactly (p(x|y) is the same in every split), so prior correction must recover the natural
probabilities. Two learners are trained with the same data, seed, model and schedule: one on balanced batches
(`OverSamplingCallback`) with `PriorCorrection`, one plainly (no callback).
"""
import warnings
import numpy as np, pandas as pd, torch
import fastai.callback.schedule, fastai.callback.progress   # noqa: F401 (patch Learner: fit_one_cycle, no_bar)
from fastai.data.block import CategoryBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection

torch.set_num_threads(1)


N_TRN, N_VAL, N_TST, RATE = 20_000, 4_000, 8_000, 0.02
MU = np.array([1.5, 1.0, 0.5])
CONT = ['x0', 'x1', 'x2']
# A 2% rate measured on N_TST rows has a standard error of sqrt(.02*.98/8000) = 0.0016. The mean corrected probability
# estimates that rate from a model fitted on 20k rows (400 positives, whose own rate estimate has an error of 0.001), so
# three of those standard errors, 0.005, is the sampling error we allow (the uncorrected mean is about 0.25).
TOL = 0.005

def make(n, seed, rate=RATE):
    "`n` rows with exactly `rate` positives, x | y ~ N(y*MU, I)"
    rng = np.random.default_rng(seed)
    y = np.zeros(n, int); y[rng.permutation(n)[:int(round(n*rate))]] = 1
    x = rng.standard_normal((n, 3)) + y[:, None]*MU
    return pd.DataFrame({**{c: x[:, i] for i, c in enumerate(CONT)}, 'y': np.where(y == 1, 'pos', 'neg')})

def fit(dls, cbs, seed=0, epochs=4, lr=5e-2, loss_func=None, **kwargs):
    "A tabular learner on `dls` trained with `loss_func` (a new `CrossEntropyLossFlat()` by default; `'default'`: fastai's shared one)"
    set_seed(seed)
    lf = CrossEntropyLossFlat() if loss_func is None else None if loss_func == 'default' else loss_func
    learn = tabular_learner(dls, layers=[16], loss_func=lf, cbs=cbs, **kwargs)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn

def preds(learn, dl, **kwargs):
    with learn.no_bar(): return learn.get_preds(dl=dl, **kwargs)

def trained_setup():
    warnings.filterwarnings('ignore', category=UserWarning)
    df = pd.concat([make(N_TRN, 0), make(N_VAL, 1)], ignore_index=True)
    test = make(N_TST, 2)
    to = TabularPandas(df, procs=[Normalize], cont_names=CONT, y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(N_TRN)), list(range(N_TRN, N_TRN + N_VAL))])
    dls = to.dataloaders(bs=1024, num_workers=0)
    os_learn = fit(dls, [OverSamplingCallback(seed=0), PriorCorrection()])
    plain = fit(dls, [])
    tdl = dls.test_dl(test)
    y_test = (test.y == 'pos').to_numpy().astype(int)
    corrected, _ = preds(os_learn, tdl)
    os_learn.prior_correction.enabled = False
    raw, _ = preds(os_learn, tdl)
    os_learn.prior_correction.enabled = True
    plain_p, _ = preds(plain, tdl)
    norm = lambda p: (p/p.sum(1, keepdims=True)).double().numpy()   # float32 softmax, summed again in float64
    return dict(df=df, test=test, to=to, dls=dls, os_learn=os_learn, plain=plain, tdl=tdl, y_test=y_test,
                corrected=norm(corrected), raw=norm(raw), plain_p=norm(plain_p))


# Small problems of each kind, for tests that need learners of one block type, not accuracy: a few hundred rows, one
# DataLoaders per call (each call builds its own TabularPandas, so learners share only fastai's default loss object).
def small_frame(kind, n=600, seed=0):
    "Features x0..x2 and targets: 'binary' (y: neg/pos, 10% pos), 'multiclass' (y: a/b/c, 70/22/8%), 'multilabel' (a, b, c: 0/1)"
    rng = np.random.default_rng(seed)
    if kind == 'multilabel':
        y = rng.random((n, 3)) < [.3, .15, .1]
        df = pd.DataFrame({f'x{i}': 2*y[:, i] + rng.standard_normal(n) for i in range(3)})
        for i, c in enumerate('abc'): df[c] = y[:, i].astype(int)
        return df
    p = [.9, .1] if kind == 'binary' else [.7, .22, .08]
    y = rng.choice(len(p), n, p=p)
    df = pd.DataFrame({f'x{i}': 1.5*(y == i) + rng.standard_normal(n) for i in range(3)})
    df['y'] = np.array(['neg', 'pos'] if kind == 'binary' else ['a', 'b', 'c'])[y]
    return df

def small_dls(kind, n=600, seed=0, bs=64):
    "`DataLoaders` of `small_frame(kind)`: the first 2/3 train, the rest valid"
    from fastai.data.block import MultiCategoryBlock
    df = small_frame(kind, n, seed)
    splits = [list(range(2*n//3)), list(range(2*n//3, n))]
    y_names, y_block = (list('abc'), MultiCategoryBlock(encoded=True, vocab=list('abc'))) if kind == 'multilabel' else ('y', CategoryBlock())
    to = TabularPandas(df, procs=[Normalize], cont_names=['x0', 'x1', 'x2'], y_names=y_names, y_block=y_block, splits=splits)
    return to.dataloaders(bs=bs, num_workers=0), df

def small_learner(kind, cbs=None, seed=0, epochs=1, loss_func=None, **kwargs):
    "A tabular learner on `small_dls(kind)` with fastai's default loss for the block type (or `loss_func(dls)`), fitted for `epochs`"
    dls, df = small_dls(kind, **kwargs)
    set_seed(seed)
    learn = tabular_learner(dls, layers=[16], cbs=cbs, loss_func=None if loss_func is None else loss_func(dls))
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 2e-2)
    return learn, df
