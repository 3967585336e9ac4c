"""A tabular learner trained once per test session on 2% positives (tens of thousands of rows), shared by the tests of
prior correction, thresholds and the report (`conftest.py` makes it the `setup` fixture).

The data: 3 continuous features, x | y ~ N(y*MU, I), exactly 2% positives in every split. Under this generative model
the label shift assumption holds exactly (p(x|y) is the same in every split), so prior correction must recover the natural
probabilities. Two learners are trained with the same data, seed, model and schedule: one on balanced batches
(`OverSamplingCallback`) with `PriorCorrection`, one plainly (no callback).
"""
import warnings
import numpy as np, pandas as pd
import fastai.callback.schedule, fastai.callback.progress   # noqa: F401 (patch Learner: fit_one_cycle, no_bar)
from fastai.data.block import CategoryBlock
from fastai.tabular.core import TabularPandas, Normalize
from fastai.tabular.learner import tabular_learner
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection


N_TRN, N_VAL, N_TST, RATE = 20_000, 4_000, 8_000, 0.02
MU = np.array([1.5, 1.0, 0.5])
CONT = ['x0', 'x1', 'x2']
# A 2% rate measured on N_TST rows has a standard error of sqrt(.02*.98/8000) = 0.0016. The mean corrected probability
# estimates that rate from a model fitted on 20k rows (400 positives, whose own rate estimate has an error of 0.001), so
# three of those standard errors, 0.005, is the sampling error we allow (the uncorrected mean is about 0.25).
TOL = 0.005

def make(n, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, int); y[rng.permutation(n)[:int(round(n*RATE))]] = 1
    x = rng.standard_normal((n, 3)) + y[:, None]*MU
    return pd.DataFrame({**{c: x[:, i] for i, c in enumerate(CONT)}, 'y': np.where(y == 1, 'pos', 'neg')})

def fit(dls, cbs, seed=0, epochs=4, lr=5e-2):
    set_seed(seed)
    learn = tabular_learner(dls, layers=[16], loss_func=CrossEntropyLossFlat(), cbs=cbs)
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
