"OverSamplingCallback with fastai's learners, schedules and export: what a user does around `fit`."
import inspect, warnings
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastai.learner import Learner, load_learner
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import fit_one_cycle, lr_find  # noqa: F401 (patches Learner)
from fastai.callback.fp16 import MixedPrecision  # noqa: F401 (patches Learner.to_fp16)
from fastai.data.block import DataBlock, TransformBlock, MultiCategoryBlock
from fastai.data.transforms import ColReader, IndexSplitter
from fastai.losses import BCEWithLogitsLossFlat
from fastai.tabular.core import TabularPandas, Normalize, Categorify
from fastai.data.block import CategoryBlock
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed
from sklearn.metrics import balanced_accuracy_score, recall_score

from imbalance_fastai.data import StratifiedSplitter, long_tailed_digits
from imbalance_fastai.callback import OverSamplingCallback

torch.set_num_threads(1)


class TrainTargets(Callback):
    "Record the targets of training batches (across every fit it is attached to)"
    ys = None
    def before_fit(self):
        if self.ys is None: self.ys = []
    def after_batch(self):
        if self.training: self.ys.append(self.yb[0].detach().cpu().view(len(self.yb[0]), -1))


def _tab_dls(n=2000, pos=0.05, bs=64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < pos, 'fraud', 'ok')
    df = pd.DataFrame({'a': rng.normal(size=n) + (y == 'fraud'), 'b': rng.normal(size=n),
                       'shop': rng.choice(list('xyz'), n), 'y': y})
    splits = StratifiedSplitter(0.2, seed=seed, get_y='y')(df)
    to = TabularPandas(df, procs=[Categorify, Normalize], cat_names=['shop'], cont_names=['a', 'b'],
                       y_names='y', y_block=CategoryBlock(), splits=splits)
    return to.dataloaders(bs=bs)


def _quiet(learn):
    learn.remove_cb(ProgressCallback)
    return learn


def test_tabular_fit_one_cycle_balanced_and_restored():
    dls = _tab_dls()
    train = dls.train
    learn = _quiet(tabular_learner(dls, layers=[16], cbs=OverSamplingCallback(seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fit_one_cycle(2, 1e-2, cbs=rec)
    ys = torch.cat(rec.ys).view(-1).float()
    # 2 epochs x 1600 rows (drop_last keeps 25 batches of 64 each): the 'fraud' code (0) share is 1/2 within a few SE (1.3%)
    assert len(ys) == 2 * 25 * 64
    assert abs((ys == dls.vocab.o2i['fraud']).float().mean().item() - 0.5) < 0.05
    assert learn.dls.train is train
    assert learn.dls.train.n == 1600 and not hasattr(learn.dls.train, 'resampler')


def test_fine_tune_resamples_both_phases_and_lr_find_restores():
    dls = _tab_dls()
    train = dls.train
    learn = _quiet(tabular_learner(dls, layers=[16], cbs=OverSamplingCallback(seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fine_tune(1, cbs=rec)
    assert len(rec.ys) == 2 * 25
    for phase in (rec.ys[:25], rec.ys[25:]):
        share = (torch.cat(phase).view(-1) == dls.vocab.o2i['fraud']).float().mean().item()
        assert abs(share - 0.5) < 0.06
    assert learn.dls.train is train
    with learn.no_logging(): learn.lr_find(num_it=10, show_plot=False)
    assert learn.dls.train is train


def test_get_preds_and_validate_untouched():
    dls = _tab_dls()
    natural_train = dls.train
    plain = _quiet(tabular_learner(dls, layers=[16]))
    learn = _quiet(tabular_learner(dls, layers=[16], cbs=OverSamplingCallback()))
    with learn.no_logging(): learn.fit(1)
    for ds_idx in (0, 1):
        _, t_plain = plain.get_preds(ds_idx=ds_idx)
        _, t_cb = learn.get_preds(ds_idx=ds_idx)
        assert torch.equal(t_plain, t_cb)
    learn.validate()
    assert learn.dls.train is natural_train and not hasattr(natural_train, 'resampler')


def test_to_fp16_runs():
    dls = _tab_dls(n=600)
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(seed=0))).to_fp16()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with learn.no_logging(): learn.fit(1)
    assert learn.over_sampling.sampled_counts.values.sum() == 480


def test_export_load_predict(tmp_path):
    dls = _tab_dls(n=600)
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(seed=0), path=tmp_path))
    with learn.no_logging(): learn.fit(1)
    learn.export('model.pkl')
    size = (tmp_path / 'model.pkl').stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path / 'model.pkl')
    cb = loaded.over_sampling
    assert cb.resampler is None and cb._twin is None
    np.testing.assert_allclose(cb.train_prior, [.5, .5])
    row = pd.Series({'a': 1.5, 'b': -0.2, 'shop': 'y'})
    _, cls, probs = loaded.predict(row)
    _, cls0, probs0 = learn.predict(row)
    assert int(cls) == int(cls0) and torch.allclose(probs, probs0)
    assert abs(probs.sum().item() - 1) < 1e-5
    assert size < 200_000   # the export carries no per-row arrays (2000 rows of labels and indices would show)


def test_multilabel_learner_oversamples_rare_tag():
    rng = np.random.default_rng(0)
    n = 600
    tags = np.where(rng.random(n) < 0.05, 'a rare', 'a')
    df = pd.DataFrame({'x': rng.normal(size=n), 'tags': tags})
    dls = DataBlock(blocks=(TransformBlock, MultiCategoryBlock),
                    get_x=lambda r: torch.tensor([r['x']], dtype=torch.float32),
                    get_y=ColReader('tags', label_delim=' '),
                    splitter=IndexSplitter(list(range(500, 600)))).dataloaders(df, bs=50)
    learn = _quiet(Learner(dls, nn.Linear(1, 2), loss_func=BCEWithLogitsLossFlat(), cbs=OverSamplingCallback(seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fit(1, cbs=rec)
    rare_share = torch.cat(rec.ys)[:, dls.vocab.o2i['rare']].mean().item()
    natural = (tags[:500] == 'a rare').mean()
    # rows with the rare tag weigh 1/n_rare, the others 1/500: about half the sampled rows carry it
    assert natural < 0.1 and abs(rare_share - 0.5) < 0.08


def test_vision_learner(tmp_path):
    from PIL import Image
    from fastai.vision.data import ImageBlock
    from fastai.vision.learner import vision_learner
    from fastai.vision.models import resnet18
    from fastai.data.transforms import get_image_files, parent_label
    rng = np.random.default_rng(0)
    for i in range(40):
        cls = 'rare' if i < 6 else 'common'
        (tmp_path / cls).mkdir(exist_ok=True)
        Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(tmp_path / cls / f'{i}.png')
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                    splitter=StratifiedSplitter(0.25, seed=0, get_y=parent_label)).dataloaders(tmp_path, bs=10, num_workers=0)
    natural_train = dls.train
    learn = _quiet(vision_learner(dls, resnet18, pretrained=False, cbs=OverSamplingCallback(seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fit(1, cbs=rec)
    assert learn.over_sampling.sampled_counts.values.tolist() == [[15, 15]]
    assert learn.dls.train is natural_train and not hasattr(natural_train, 'resampler')
    assert learn.predict(get_image_files(tmp_path)[0])[0] in ('rare', 'common')


def test_text_classifier_learner_keeps_length_sorting():
    from fastai.text.data import TextBlock
    from fastai.text.learner import text_classifier_learner
    from fastai.text.models.awdlstm import AWD_LSTM
    rng = np.random.default_rng(0)
    words = ['good', 'bad', 'film', 'plot', 'actor', 'scene']
    n = 60
    lab = np.where(np.arange(n) < 8, 'pos', 'neg')
    texts = [' '.join(rng.choice(words, rng.integers(3, 15))) for _ in range(n)]
    df = pd.DataFrame({'text': texts, 'label': lab})
    dls = DataBlock(blocks=(TextBlock.from_df('text', seq_len=16), CategoryBlock), get_x=ColReader('text'),
                    get_y=ColReader('label'), splitter=StratifiedSplitter(0.2, seed=0, get_y='label')
                    ).dataloaders(df, bs=8, num_workers=0)
    natural_train = dls.train
    learn = _quiet(text_classifier_learner(dls, AWD_LSTM, pretrained=False, seq_len=16,
                                           config=dict(emb_sz=8, n_hid=8, n_layers=1), cbs=OverSamplingCallback(seed=0)))
    assert type(dls.train).__name__ == 'SortedDL'
    with learn.no_logging(): learn.fit(1)
    counts = learn.over_sampling.sampled_counts.values[0]
    assert counts.sum() == len(dls.train_ds) and abs(counts[0] - counts[1]) <= 1
    assert learn.dls.train is natural_train and not hasattr(natural_train, 'resampler')


def _digits_run(seed, cbs):
    trn, tst = long_tailed_digits(20, seed=seed)
    df = pd.concat([trn, tst], ignore_index=True)
    to = TabularPandas(df, procs=[Normalize], cont_names=[f'px{i}' for i in range(64)], y_names='label',
                       y_block=CategoryBlock(), splits=[list(range(len(trn))), list(range(len(trn), len(df)))])
    set_seed(seed)
    learn = _quiet(tabular_learner(to.dataloaders(bs=32), layers=[32], cbs=cbs))
    with learn.no_logging(): learn.fit_one_cycle(5, 1e-2)
    p, t = learn.get_preds()
    pred, t = p.argmax(1).numpy(), t.view(-1).numpy()
    rare = np.bincount(to.train.ys.values.ravel(), minlength=10).argsort()[:3]
    return balanced_accuracy_score(t, pred), recall_score(t, pred, average=None)[rare].mean()


def test_long_tailed_digits_callback_beats_plain_training():
    "Imbalance ratio 20, balanced test hold-out, 3 seeds: balanced accuracy and minority recall clearly higher"
    plain = np.array([_digits_run(s, None) for s in range(3)])
    over = np.array([_digits_run(s, OverSamplingCallback()) for s in range(3)])
    gain = over.mean(0) - plain.mean(0)
    print('plain', plain.mean(0), 'oversampled', over.mean(0))
    assert gain[0] > 0.03, gain     # balanced accuracy (seen here: about +0.08)
    assert gain[1] > 0.10, gain     # recall of the 3 rarest classes (seen here: about +0.2)


def test_repeat_factor_callback_epochs_follow_the_factors():
    "strategy='repeat_factor': each epoch trains on the rows repeated by their factors, its batch count known up front"
    rng = np.random.default_rng(0)
    n = 600
    tags = np.where(rng.random(n) < 0.02, 'a rare', 'a')
    df = pd.DataFrame({'x': rng.normal(size=n), 'tags': tags})
    dls = DataBlock(blocks=(TransformBlock, MultiCategoryBlock),
                    get_x=lambda r: torch.tensor([r['x']], dtype=torch.float32),
                    get_y=ColReader('tags', label_delim=' '),
                    splitter=IndexSplitter(list(range(500, 600)))).dataloaders(df, bs=20)

    natural_train = dls.train
    class Batches(Callback):
        def before_fit(self): self.n_iter, self.seen = [], []
        def before_train(self): self.seen.append(0)
        def after_batch(self):
            if self.training: self.seen[-1] += 1
        def after_train(self): self.n_iter.append(self.learn.n_iter)

    cb = OverSamplingCallback('repeat_factor', thresh=0.1, seed=0)
    learn = _quiet(Learner(dls, nn.Linear(1, 2), loss_func=BCEWithLogitsLossFlat(), cbs=cb))
    rec = Batches()
    with learn.no_logging(): learn.fit(3, cbs=rec)
    counts = cb.sampled_counts
    n_rare = int((tags[:500] == 'a rare').sum())
    factor = np.sqrt(0.1 / (n_rare / 500))                            # the rare tag's repeat factor (about 2.2)
    assert factor > 2
    # each epoch: floor(r) or floor(r)+1 copies of every rare row, every other row once
    assert ((counts['rare'] >= np.floor(factor) * n_rare) & (counts['rare'] <= np.ceil(factor) * n_rare)).all()
    assert (counts['a'] - counts['rare'] == 500 - n_rare).all()
    assert rec.seen == rec.n_iter == (counts['a'] // 20).tolist()     # fastai's n_iter was the epoch's batch count
    assert learn.dls.train is natural_train and not hasattr(natural_train, 'resampler')


class _Peek(Callback):
    "During training: is `learn.dl` resampled, and is `learn.dls.train` still the DataLoader passed in?"
    order = 13
    def __init__(self, train): self.train, self.seen = train, []
    def after_batch(self):
        if self.training: self.seen.append((getattr(self.dl, 'resampler', None) is not None, self.learn.dls.train is self.train))


def test_only_learn_dl_is_resampled_and_n_iter_follows():
    "Like fastai's DistributedTrainer, the callback sets only learn.dl: dls.train stays the natural DataLoader throughout"
    dls = _tab_dls(n=1000)
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback('undersample', seed=0)))
    peek = _Peek(dls.train)
    n_iters = []
    class NIter(Callback):
        def after_train(self): n_iters.append(self.learn.n_iter)
    with learn.no_logging(): learn.fit(2, cbs=[peek, NIter()])
    n_rare = learn.over_sampling.sampled_counts.values[0].min()
    assert peek.seen and all(r and same for r, same in peek.seen)
    assert n_iters == [2 * n_rare // 64] * 2 and len(peek.seen) == sum(n_iters)   # fastai's n_iter is the twin's length


def test_exception_in_another_callbacks_after_fit_leaves_nothing_resampled(tmp_path):
    class FailAfterFit(Callback):
        order = 0   # runs before OverSamplingCallback's after_fit (12), which is then never reached
        def after_fit(self): raise RuntimeError('after_fit failed')
    dls = _tab_dls(n=600)
    train = dls.train
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(seed=0), path=tmp_path))
    with pytest.raises(RuntimeError, match='after_fit failed'):
        with learn.no_logging(): learn.fit(1, cbs=FailAfterFit())
    assert learn.dls.train is train and not hasattr(learn.dls.train, 'resampler')
    assert getattr(learn.dl, 'resampler', None) is None
    learn.export('after_fit.pkl')                       # the stopped fit's twin and resampler are not pickled
    assert (tmp_path / 'after_fit.pkl').stat().st_size < 200_000
    with learn.no_logging(): learn.fit(1)
    assert learn.over_sampling.resampler is None and learn.over_sampling.sampled_counts.values.tolist() == [[240, 240]]


def test_exception_mid_fit_then_export_stays_small(tmp_path):
    class Boom(Callback):
        def after_batch(self):
            if self.training and self.iter == 2: raise RuntimeError('boom')
    dls = _tab_dls(n=2000)
    train = dls.train
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(seed=0), path=tmp_path))
    with pytest.raises(RuntimeError, match='boom'):
        with learn.no_logging(): learn.fit(1, cbs=Boom())
    assert learn.dls.train is train
    learn.export('boom.pkl')
    assert (tmp_path / 'boom.pkl').stat().st_size < 200_000
    loaded = load_learner(tmp_path / 'boom.pkl')
    assert loaded.over_sampling.resampler is None and loaded.over_sampling._twin is None
    p = learn.get_preds(ds_idx=1)[1]
    assert len(p) == 400


def test_a_second_over_sampling_callback_is_refused():
    "A second OverSamplingCallback is refused at before_fit, naming both; fastai then detaches every fit(cbs=...) callback"
    class Other(Callback): pass
    dls = _tab_dls(n=600, bs=16)   # undersampled, the epoch has 36 rows: two batches of 16
    train = dls.train
    first = OverSamplingCallback(seed=0)
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=first))
    cbs = list(learn.cbs)
    with pytest.raises(ValueError, match=r"fitted with 2: OverSamplingCallback\('oversample'\) and OverSamplingCallback\('undersample'\)"):
        learn.fit(1, cbs=[Other(), OverSamplingCallback('undersample')])
    assert list(learn.cbs) == cbs and learn.dls.train is train          # Other was left attached when the learn setter refused
    assert learn.over_sampling is first and not hasattr(learn, 'over_sampling_2')
    second = OverSamplingCallback(wgts=np.ones(480))
    learn.add_cb(second)                                                 # attached for good: refused when a fit starts
    assert learn.over_sampling is first and learn.over_sampling_2 is second
    with pytest.raises(ValueError, match=r"OverSamplingCallback\(wgts=...\); only one can resample"): learn.fit(1)
    assert learn.dls.train is train and first.resampler is None and second.resampler is None
    learn.remove_cb(second)
    assert learn.over_sampling is first
    with pytest.raises(ValueError, match='only one can resample'):
        tabular_learner(dls, layers=[8], cbs=[OverSamplingCallback(), OverSamplingCallback()]).fit(1)
    with learn.no_logging(): learn.fit(1)
    assert learn.over_sampling.sampled_counts.values.tolist() == [[240, 240]]
    learn.remove_cb(learn.over_sampling)
    learn.add_cb(OverSamplingCallback('undersample', seed=0))   # after removing the first, another one is welcome
    with learn.no_logging(): learn.fit(1)
    under = learn.over_sampling.sampled_counts.values[0]
    assert under[0] == under[1] == (dls.train.ys.values.ravel() == dls.vocab.o2i['fraud']).sum()


def test_resampler_keywords_are_in_the_signature():
    "@delegates(Resampler): the Resampler's keywords show in the callback's signature; an unknown one is still refused"
    sig = inspect.signature(OverSamplingCallback).parameters
    assert {'ratio', 'n_samples', 'replacement', 'balanced_batches', 'seed', 'thresh', 'classes_per_batch'} <= set(sig)
    assert 'kwargs' not in sig and sig['ratio'].default == 1.
    with pytest.raises(TypeError, match=r"did you mean \['n_samples'\]"): OverSamplingCallback(n_sample=10)


def test_wgts_with_defer_epochs_defers():
    "wgts=... with defer_epochs=k: the first k epochs are natural, then the weights apply (the weights used to win every epoch)"
    dls = _tab_dls(n=2000)
    codes = dls.train.ys.values.ravel()
    fraud = dls.vocab.o2i['fraud']
    w = np.where(codes == fraud, (codes != fraud).sum() / (codes == fraud).sum(), 1.)   # the weights of balanced classes
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(wgts=w, defer_epochs=2, seed=0)))
    with learn.no_logging(): learn.fit(3)
    counts = learn.over_sampling.sampled_counts
    n_fraud = int((codes == fraud).sum())
    assert counts['fraud'].tolist()[:2] == [n_fraud, n_fraud]         # natural: each weight group its own count
    assert abs(counts['fraud'].iloc[2] - 800) <= 1                    # then balanced by the weights (1600 rows)
    np.testing.assert_allclose(learn.over_sampling.train_prior, [.5, .5])


def test_arguments_checked_when_built_and_short_epochs_refused_before_a_batch():
    "Bad arguments fail at OverSamplingCallback(...); an undersampled epoch shorter than a batch fails before any batch, the learner as it was"
    for kw, msg in [(dict(strategy=1.5), 'read as alpha'), (dict(ratoi=2), "did you mean \\['ratio'\\]"), (dict(n_samples=0), 'must be positive'),
                    (dict(strategy={'ok': -1., 'fraud': 1.}), 'finite shares'), (dict(n_samples='9'), 'n_samples must be an int'),
                    (dict(alpha='x'), "got 'x'"), (dict(wgts='w'), 'wgts must be numbers'), (dict(ratio=float('nan')), 'ratio must be a finite'),
                    (dict(strategy='undersample', ratio=0.9), '>= 1'), (dict(classes_per_batch=2, alpha=lambda p: p), 'alpha schedule')]:
        with pytest.raises((ValueError, TypeError), match=msg): OverSamplingCallback(**kw)
    dls = _tab_dls(n=520, pos=0.05, bs=64)                 # about 20 fraud rows in train: undersampled, about 40 rows < 64
    n_fraud = int((dls.train.ys.values.ravel() == dls.vocab.o2i['fraud']).sum())
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback('undersample', seed=0)))
    rec = TrainTargets()
    with pytest.raises(ValueError, match=f'the resampled train epoch has {2 * n_fraud} rows .* bs=64 and drop_last=True'):
        learn.fit(1, cbs=rec)
    assert rec.ys == [] and learn.dls.train is dls.train and learn.over_sampling.resampler is None


def test_classes_per_batch_through_the_callback():
    dls = _tab_dls(n=1200, pos=0.1, bs=32)
    learn = _quiet(tabular_learner(dls, layers=[8], cbs=OverSamplingCallback(classes_per_batch=2, seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fit(1, cbs=rec)
    for b in rec.ys:   # 16 rows of one class, then 16 of the other
        b = b.view(2, 16)
        assert (b == b[:, :1]).all() and b[0, 0] != b[1, 0]


def _tags_dls(n=600, seed=0):
    rng = np.random.default_rng(seed)
    tags = np.where(rng.random(n) < 0.05, 'a rare', 'a')
    df = pd.DataFrame({'x': rng.normal(size=n), 'tags': tags})
    return DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_x=lambda r: torch.tensor([r['x']], dtype=torch.float32),
                     get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter(list(range(500, 600)))).dataloaders(df, bs=50)


def test_multilabel_target_share_through_the_callback():
    "OverSamplingCallback({'rare': .3}) on multi-label rows: 30% of every training epoch's rows carry the tag (150 of 500, give or take one)"
    dls = _tags_dls()
    learn = _quiet(Learner(dls, nn.Linear(1, 2), loss_func=BCEWithLogitsLossFlat(), cbs=OverSamplingCallback({'rare': .3}, seed=0)))
    rec = TrainTargets()
    with learn.no_logging(): learn.fit(3, cbs=rec)
    rare = dls.vocab.o2i['rare']
    per_epoch = torch.cat(rec.ys)[:, rare].view(3, 500).sum(1).tolist()
    assert set(per_epoch) <= {149., 150., 151.}
    assert learn.over_sampling.sampled_counts['rare'].tolist() == per_epoch
    np.testing.assert_allclose(learn.over_sampling.train_prior, [1., .3])


def test_weights_without_classes_leave_prior_correction_asking_for_the_prior():
    "A fit resampled by wgts alone (a regression target: weight groups, no classes) records no class priors; PriorCorrection then says what it needs"
    from fastai.data.block import RegressionBlock
    from imbalance_fastai.prior import PriorCorrection
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'x': rng.normal(size=400).astype(np.float32)})
    dls = DataBlock(blocks=(TransformBlock, RegressionBlock), get_x=lambda r: torch.tensor([r['x']]), get_y=ColReader('x'),
                    splitter=IndexSplitter(list(range(300, 400)))).dataloaders(df, bs=50)
    w = np.where(np.arange(300) % 3 == 0, 4., 1.)
    loss = lambda p, y: ((p[:, 0] - y.view(-1)) ** 2).mean()
    with pytest.raises(ValueError, match=r"cannot know the prior.*labels look continuous.*pass train_prior="):   # refused when attached
        Learner(dls, nn.Linear(1, 2), loss_func=loss, cbs=[OverSamplingCallback(wgts=w, seed=0), PriorCorrection(multilabel=False)])
    learn = _quiet(Learner(dls, nn.Linear(1, 2), loss_func=loss, cbs=OverSamplingCallback(wgts=w, seed=0)))
    with learn.no_logging(): learn.fit(1)
    assert learn.over_sampling.by_weight and learn.over_sampling.priors is None
    assert learn.over_sampling.sampled_counts.columns.tolist() == [1., 4.]   # the weight groups, not classes
    with pytest.raises(ValueError, match=r"resampled by wgts alone.*pass train_prior="):   # after the fit: what the fit recorded says why
        learn.add_cb(PriorCorrection(multilabel=False))


def test_schedules_and_wgts_refuse_what_cannot_apply_when_built():
    "An alpha schedule goes with 'partial' (or no strategy); wgts take neither a schedule nor another strategy; all refused when built"
    from fastai.callback.schedule import SchedLin
    w = np.ones(100)
    assert OverSamplingCallback(alpha=SchedLin(0, 1)).strategy == 'partial'
    assert OverSamplingCallback('partial', alpha=SchedLin(0, 1)).strategy == 'partial'
    assert OverSamplingCallback().strategy == 'oversample' and OverSamplingCallback(wgts=w, defer_epochs=1).wgts is not None
    for kw in (dict(strategy='undersample'), dict(strategy='oversample'), dict(strategy='natural'), dict(strategy=.5),
               dict(strategy='repeat_factor'), dict(strategy={'a': 1.})):
        with pytest.raises(ValueError, match='an alpha schedule moves the exponent of'): OverSamplingCallback(alpha=SchedLin(0, 1), **kw)
    with pytest.raises(ValueError, match='wgts give each train item its weight, so an alpha schedule'):
        OverSamplingCallback(wgts=w, alpha=SchedLin(0, 1))
    for s in ('undersample', 'partial', 'natural', 'repeat_factor', 0.0):
        with pytest.raises(ValueError, match=f"wgts give each train item its weight, so strategy={s!r}"): OverSamplingCallback(s, wgts=w)

def test_fastai_default_tabular_dataloaders_are_not_taken_for_a_resampler():
    "A TabularPandas's default train DataLoader is fastai's TabWeightedDL with equal weights: the README's tabular recipe must not warn that it resamples"
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'x': rng.normal(size=300), 'y': rng.choice(['a', 'b'], 300, p=[.9, .1])})
    to = TabularPandas(df, procs=[Normalize], cont_names=['x'], y_names='y', y_block=CategoryBlock(),
                       splits=StratifiedSplitter(0.2, seed=0, get_y='y')(df))
    dls = to.dataloaders(bs=32)
    assert type(dls.train).__name__ == 'TabWeightedDL'
    learn = tabular_learner(dls, layers=[4], cbs=OverSamplingCallback(seed=0))
    with warnings.catch_warnings(record=True) as ws, learn.no_bar(), learn.no_logging():
        warnings.simplefilter('always'); learn.fit(1)
    assert not [w for w in ws if 'resamples its epochs already' in str(w.message)]
