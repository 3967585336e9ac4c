"""Every kind of label a user's data has (pandas 3 `str`, `category` ordered or not and with unused categories, `bool`,
nullable `Int64`/`boolean`, `int8`..`uint64`, whole floats, mixed object, unicode and commas, numpy strings, lists,
tensors), through every entry point: class names kept as the user spelled them, fastai's vocab order kept, nothing the
user passed modified, and a clear error at build time for a label the library cannot use."""
import warnings
import numpy as np, pandas as pd, pytest, torch
import sklearn.metrics as skm
from fastai.data.core import Datasets
from fastai.data.block import DataBlock, CategoryBlock, MultiCategoryBlock, TransformBlock
from fastai.data.transforms import ColReader, CategoryMap, IndexSplitter
from fastai.tabular.core import TabularPandas, Normalize

from imbalance_fastai.core import get_labels, encode_labels
from imbalance_fastai.data import stratified_split, StratifiedSplitter
from imbalance_fastai.scores import stratified_folds, score_predictions, check_labels, InputError
from imbalance_fastai.sampling import weighted_dataloaders, sampling_summary
from imbalance_fastai.tabular import imblearn_dataloaders, imblearn_resample
from imbalance_fastai.report import imbalance_report
from imbalance_fastai.compare import compare_strategies
from imbalance_fastai.files import load_for_compare
from imbalance_fastai.cli import main

torch.set_num_threads(1)
warnings.filterwarnings('ignore', category=FutureWarning)   # fastai's import of torch.jit.script

RNG = np.random.default_rng(0)
BASE = RNG.permutation(np.array(['a']*30 + ['b']*12 + ['c']*8))   # 50 rows, 3 classes, imbalanced
M3 = lambda a, b, c: np.where(BASE=='a', a, np.where(BASE=='b', b, c))

# name: (the labels, the class names as the user reads them, in fastai's vocab order)
KINDS = {
    'str': (pd.Series(BASE.tolist()), ['a', 'b', 'c']),   # pandas 3's default string dtype
    'object': (pd.Series(BASE.tolist(), dtype=object), ['a', 'b', 'c']),
    'category': (pd.Series(pd.Categorical(BASE, categories=['c', 'a', 'b'])), ['c', 'a', 'b']),   # the categories' order
    'category_unused_last': (pd.Series(pd.Categorical(BASE, categories=['c', 'b', 'a', 'z'])), ['c', 'b', 'a']),
    'ordered': (pd.Series(pd.Categorical(BASE, categories=['c', 'b', 'a'], ordered=True)), ['c', 'b', 'a']),
    'bool': (pd.Series(BASE=='a'), [False, True]),
    'boolean': (pd.Series(BASE=='a', dtype='boolean'), [False, True]),
    'Int64': (pd.Series(M3(3, 7, 1), dtype='Int64'), [1, 3, 7]),
    'int8': (pd.Series(M3(-1, 7, 1).astype('int8')), [-1, 1, 7]),
    'uint64': (pd.Series(M3(2**63, 5, 6).astype('uint64')), [5, 6, 2**63]),
    'float_whole': (pd.Series(M3(1., 0., 2.)), [0., 1., 2.]),
    'mixed_object': (pd.Series([1 if o=='a' else o for o in BASE], dtype=object), [1, 'b', 'c']),
    'unicode_commas': (pd.Series(M3('café, au lait', 'naïve ☃', ' spaced ')), [' spaced ', 'café, au lait', 'naïve ☃']),
}
_str = lambda vocab: [str(o) for o in vocab]


def _frame(y, seed=0):
    "Two features, the second informative, and the label `y`"
    rng = np.random.default_rng(seed)
    codes = pd.Series(BASE).map({'a': 0, 'b': 1, 'c': 2}).to_numpy()
    return pd.DataFrame({'x1': rng.normal(size=len(BASE)).astype(np.float32), 'x2': rng.normal(size=len(BASE))/2 + 3*codes, 'y': y})


def _same(df, df0):
    "`df` is what it was: values, dtypes, categories"
    return df.equals(df0) and (df.dtypes == df0.dtypes).all() and list(df.columns) == list(df0.columns)


@pytest.mark.parametrize('kind', list(KINDS))
def test_get_labels_keeps_names_and_order(kind):
    "A Series of each kind: classes in fastai's order (TabularPandas': sorted, a categorical's categories without the unused), as Python values"
    y, names = KINDS[kind]
    lbls = get_labels(y)
    assert list(lbls.vocab) == names and [type(o) for o in lbls.vocab] == [type(o) for o in names], (list(lbls.vocab), names)
    assert dict(zip(_str(lbls.vocab), lbls.counts.tolist())) == {str(k): int(v) for k, v in y.value_counts().items() if v}
    assert 'np.' not in repr(lbls)   # Labels(... counts {False: 20, True: 30}), not {np.False_: 20, ...}
    cat = isinstance(y.dtype, pd.CategoricalDtype)
    if kind != 'mixed_object' and not cat: assert list(CategoryMap(y)) == names   # fastai's CategoryMap sorts the same
    if cat: assert list(CategoryMap(y, strict=True)) == names   # as TabularPandas reads a categorical target: its used categories
    for other in [y.array] + ([] if cat else [y.to_numpy(), y.tolist()]):   # the same labels as a pandas array, numpy array, list
        assert list(get_labels(other).vocab) == names, type(other)


def test_other_containers():
    "numpy string arrays, lists, tensors, a pd.Categorical with unsorted categories, a 0/1 multi-hot frame"
    assert list(get_labels(np.array(['b', 'a', 'b'])).vocab) == ['a', 'b'] and type(get_labels(np.array(['b', 'a'])).vocab[0]) is str
    assert list(get_labels(torch.tensor([2, 0, 2])).vocab) == [0, 2] and type(get_labels(torch.tensor([2, 0])).vocab[0]) is int
    cat = pd.Categorical(['x', 'y', 'x'], categories=['y', 'x'])
    assert list(get_labels(cat).vocab) == ['y', 'x'] and get_labels(cat).codes.tolist() == [1, 0, 1]
    assert get_labels(pd.DataFrame({'p': [1, 0], 'q': [True, True]})).counts.tolist() == [1, 2]
    assert list(get_labels([['a b', 'c'], ['c']]).vocab) == ['a b', 'c']   # multi-label tags with spaces


@pytest.mark.parametrize('kind', list(KINDS))
def test_datablock_and_tabular_match_fastai(kind):
    "get_labels of a DataBlock's Datasets and DataLoaders and of a TabularPandas: fastai's vocab, fastai's codes, the DataFrame untouched"
    y, names = KINDS[kind]
    df = _frame(y); df0 = df.copy(deep=True)
    if kind != 'mixed_object':   # fastai's Categorize sorts the classes, which int and str cannot be (its TypeError)
        db = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=ColReader('x1'), get_y=ColReader('y'),
                       splitter=StratifiedSplitter(0.2, seed=0, get_y='y'))
        ds = db.datasets(df)
        lbls = get_labels(ds)
        assert list(lbls.vocab) == list(ds.vocab)   # fastai's (sorted: a DataBlock forgets a categorical's order)
        assert lbls.codes.tolist() == [int(ds[i][1]) for i in range(len(ds))]   # every item's, as fastai encodes it
        assert get_labels(db.dataloaders(df, bs=8)).counts.sum() == len(ds.train)   # a DataLoaders: the train split's
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', y_block=CategoryBlock(),
                       splits=StratifiedSplitter(0.2, seed=0, get_y='y')(df))
    lbls = get_labels(to)
    assert list(lbls.vocab) == list(to.vocab) == names and lbls.codes.tolist() == to.items.y.tolist()
    assert _same(df, df0)


def test_tabular_regression_target_and_default_block():
    "A float target is a regression target: refused with the n_bins fix, binned on request; fastai's default block for ints is regression too"
    df = _frame(np.linspace(0, 1, 50) ** 2)
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', splits=IndexSplitter(range(40, 50))(df))
    with pytest.raises(ValueError, match='look continuous .* pass n_bins='): get_labels(to)
    assert get_labels(to, n_bins=4).counts.tolist() == [13, 12, 12, 13]
    assert sampling_summary(weighted_dataloaders(to, n_bins=4, bs=8)).shape[0] == 4
    with pytest.raises(ValueError, match='target \'y\' is continuous .* y_block=CategoryBlock'): imblearn_dataloaders(to, 'RandomUnderSampler')
    dfi = _frame(KINDS['int8'][0])
    toi = TabularPandas(dfi, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', splits=IndexSplitter(range(40, 50))(dfi))
    assert list(get_labels(toi).vocab) == [-1, 1, 7]   # fastai made it a RegressionBlock: its values are the classes


def test_tabular_categorical_target_fastai_misencodes():
    "fastai encodes a categorical target by its category codes but drops unused categories from the vocab: refused with the fix"
    df = _frame(pd.Categorical(BASE, categories=['a', 'z', 'b', 'c']))
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', y_block=CategoryBlock(), splits=IndexSplitter(range(40, 50))(df))
    assert list(to.vocab) == ['a', 'b', 'c'] and to.items.y.max() == 3   # fastai's codes skip 'z'; its model would see code 3 of 3 classes
    for f in (lambda: get_labels(to), lambda: weighted_dataloaders(to, bs=8), lambda: imblearn_dataloaders(to, 'RandomUnderSampler')):
        with pytest.raises(ValueError, match=r"target 'y' holds class codes up to 3 but its vocab has 3 classes .*dtype category.*"
                                             r"df\['y'\] = df\['y'\]\.cat\.remove_unused_categories\(\)"): f()


def test_no_target_names_both_fixes():
    "A Datasets or TabularPandas without a target: the error names wgts= and labels=, and each of them works"
    fix = r'no target to read; pass wgts=\.\.\. \(explicit weights need no labels\) or labels=\.\.\. \(one per item\)'
    dsets = Datasets(list(range(50)), [[lambda o: torch.tensor([float(o)])]], splits=[list(range(40)), list(range(40, 50))])
    df = _frame(BASE)
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], splits=IndexSplitter(range(40, 50))(df))
    for src in (dsets, to):
        with pytest.raises(ValueError, match=fix): weighted_dataloaders(src, bs=8)
        assert weighted_dataloaders(src, wgts=np.arange(1., 41), bs=8).train.resampler.priors is None   # weights: no classes
        sampled = sampling_summary(weighted_dataloaders(src, labels=BASE[:40], bs=8))['sampled']
        assert sampled.sum() == 40 and sampled.max() - sampled.min() <= 1   # balanced: 40 rows over 3 classes


@pytest.mark.parametrize('make', [lambda: pd.Series(['a', None, 'b', 'a'], name='y'), lambda: pd.Series([1., np.nan, 0., 1.], name='y'),
                                  lambda: pd.Series([1, pd.NA, 0, 1], dtype='Int64', name='y'),
                                  lambda: pd.Series(pd.Categorical(['a', None, 'b', 'a']), name='y'),
                                  lambda: pd.Series([True, pd.NA, False, True], dtype='boolean', name='y')])
def test_missing_labels_are_named(make):
    "NaN, None and pd.NA in the target: an error naming the column, its dtype, the rows and the fix, at every entry point"
    y = make()
    df = pd.DataFrame({'x': np.arange(4.), 'y': y}); df0 = df.copy()
    msg = rf"labels of column 'y' \(dtype {y.dtype}\) are missing \(NaN/None/pd.NA\) for 1 of 4 rows \(first at row 1\); drop or fill"
    for f in (lambda: get_labels(y), lambda: get_labels(df, col='y'), lambda: stratified_split(y), lambda: StratifiedSplitter(get_y='y')(df),
              lambda: stratified_folds(y, 2)):
        with pytest.raises(ValueError, match=msg): f()
    with pytest.raises(InputError, match="label column 'y' has 1 missing values; drop those rows first"): check_labels(df, 'y')
    build = lambda: TabularPandas(df, cont_names=['x'], y_names='y', y_block=CategoryBlock(), splits=[[0, 1, 2], [3]])
    if isinstance(y.dtype, (pd.Int64Dtype, pd.BooleanDtype)):   # fastai itself cannot build it: its CategoryMap asks pd.NA==pd.NA
        with pytest.raises(TypeError, match='boolean value of NA is ambiguous'): build()
    else:
        with pytest.raises(ValueError, match=r"1 of 3 rows of the target 'y' have no class .*a missing label"): weighted_dataloaders(build(), bs=2)
    assert _same(df, df0)


@pytest.mark.parametrize('kind', list(KINDS))
def test_splits_and_folds(kind):
    "stratified_split, StratifiedSplitter (by column and ColReader) and stratified_folds keep every class's share, whatever the dtype"
    y, names = KINDS[kind]
    df = _frame(y); df0 = df.copy(deep=True)
    trn, val = stratified_split(y, 0.2, seed=0)
    counts = get_labels(y).counts
    assert get_labels(y.iloc[val]).counts.tolist() == np.round(counts*.2).astype(int).tolist()   # 6, 2, 2 (or 10, 0... for 2 classes)
    for get_y in ('y', ColReader('y')):
        t2, v2 = StratifiedSplitter(0.2, seed=0, get_y=get_y)(df)
        assert sorted(t2) == sorted(trn.tolist()) and sorted(v2) == sorted(val.tolist())   # the same rows, read from the frame
    f = stratified_folds(y, 5)
    per = pd.crosstab(f, get_labels(y).codes)
    assert (per.max() - per.min() <= 1).all()   # each class dealt evenly over the folds
    assert _same(df, df0)


@pytest.mark.parametrize('kind', ['category', 'bool', 'Int64', 'uint64', 'float_whole', 'mixed_object', 'unicode_commas'])
def test_resampled_and_imblearn_dataloaders(kind):
    "weighted_dataloaders and imbalanced-learn samplers on each kind: class names in the summary, sampling_strategy by the user's names"
    y, names = KINDS[kind]
    df = _frame(y); df0 = df.copy(deep=True)
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', y_block=CategoryBlock(),
                       splits=StratifiedSplitter(0.2, seed=0, get_y='y')(df))
    items0 = to.items.copy(deep=True)
    s = sampling_summary(weighted_dataloaders(to, bs=8))
    assert list(s.index) == _str(names)
    dls = imblearn_dataloaders(to, 'RandomUnderSampler', sampling_strategy={names[-1]: 3}, bs=4, seed=0)   # a class named as the user names it
    assert dls.train.resampler.epoch_counts(0)[-1] == 3
    ros = imblearn_resample(to, 'RandomOverSampler', seed=0)   # every class up to the largest
    assert (ros.epoch_counts(0) == get_labels(to.train).counts.max()).all()
    with pytest.raises(ValueError, match='rows per class') as e: imblearn_resample(to, 'RandomOverSampler', sampling_strategy={names[0]: 1})
    assert f"{names[0]!r}: " in str(e.value) and 'np.' not in str(e.value)   # {1: 24, ...}, not {np.int64(1): 24, ...}
    assert _same(to.items, items0) and _same(df, df0)


def test_warnings_show_names_as_spelled():
    "A class of one row is named as the user spells it (True, 3), in the split's warning"
    with pytest.warns(UserWarning, match=r"1 of 2 classes have a single row \(True\)"):
        stratified_split(pd.Series([False]*9 + [True], dtype='boolean'), 0.2, seed=0)
    with pytest.warns(UserWarning, match=r"single row \(3\)"): stratified_split(pd.Series([1]*9 + [3], dtype='Int64'), 0.2, seed=0)


def test_report_names_and_sklearn_parity():
    "imbalance_report names the classes as the user spells them; its and compare's scores equal scikit-learn's, tied scores too"
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 120)
    P = rng.dirichlet(np.ones(3), 120).round(1); P /= P.sum(1, keepdims=True)   # ties across rows whose sums differ in the last bit
    vocab = list(get_labels(pd.Series(pd.Categorical(['c, d', 'é', '1'], categories=['é', 'c, d', '1']))).vocab)
    rep = imbalance_report(P, y, vocab=vocab)
    assert list(rep.loc['recall'].index) == ['é', 'c, d', '1']
    D = P.argmax(1)
    ap = [skm.average_precision_score(y==k, P[:, k]) for k in range(3)]
    assert rep.loc[('balanced_accuracy', 'all')].iloc[0] == pytest.approx(skm.balanced_accuracy_score(y, D))
    assert rep.loc[('mcc', 'all')].iloc[0] == pytest.approx(skm.matthews_corrcoef(y, D))
    assert rep.loc['average_precision'].iloc[:3, 0].tolist() == pytest.approx(ap)
    sc = score_predictions(P, y, [0])
    assert sc['pr_auc'] == pytest.approx(np.mean(ap), abs=1e-12)   # rescaling the rows split the ties: 0.408 against 0.404 before
    assert sc['mcc'] == pytest.approx(skm.matthews_corrcoef(y, D)) and sc['balanced_accuracy'] == pytest.approx(skm.balanced_accuracy_score(y, D))
    P0 = np.eye(3)[(y + 1) % 3]   # a confident model, wrong on every row: log-loss clipped as scikit-learn clips a 0
    assert score_predictions(P0, y, [0])['log_loss'] == pytest.approx(skm.log_loss(y, P0, labels=[0, 1, 2]))


def _compare(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return compare_strategies(df, label='y', strategies=['plain'], folds=2, epochs=10, bs=8, layers=[8], lr=3e-2, progress=False, **kw)


@pytest.mark.parametrize('kind', ['category_mid_unused', 'ordered', 'mixed_object', 'boolean', 'uint64'])
def test_compare_strategies_kinds(kind):
    "compare_strategies on each kind: it runs (an unused category before the last was an IndexError, mixed int/str a TypeError), "
    "scores the model's codes against the labels' (a categorical's order kept), names the classes as spelled, leaves the frame as it was"
    y, names = (pd.Series(pd.Categorical(BASE, categories=['c', 'z', 'b', 'a'])), ['c', 'b', 'a']) if kind == 'category_mid_unused' else KINDS[kind]
    df = _frame(y); df0 = df.copy(deep=True)
    runs = _compare(df)
    assert runs.attrs['vocab'] == _str(names) and list(runs.attrs['class_counts']) == _str(names)
    assert [c for c in runs.columns if c.startswith('scored_')] == [f'scored_{n}' for n in _str(names)]
    pr = runs.attrs['predictions']
    lbls = get_labels(y)
    assert pr.targets.tolist() == lbls.codes.tolist()
    # the model learns x2 (its classes 6 standard deviations apart): its decisions agree with the labels, far above the majority's 0.6
    assert (pr.decisions[('plain', 0)] == pr.targets).mean() > .8, kind
    assert _same(df, df0)


def _csv(tmp_path, y, name='d.csv', sep=','):
    p = tmp_path / name
    _frame(y).to_csv(p, index=False, sep=sep)
    return p


@pytest.mark.parametrize('sep,name', [(',', 'd.csv'), ('\t', 'd.tsv'), (',', 'd.csv.gz')])
def test_round_trip_through_files(tmp_path, sep, name):
    "What a user sees of each kind written to a CSV/TSV and read back for `compare`: the classes as the file spells them"
    seen = {}
    for kind, (y, names) in KINDS.items():
        df, _, _ = load_for_compare(_csv(tmp_path, y, name, sep), 'y')
        seen[kind] = _str(check_labels(df, 'y').vocab)
    assert seen['bool'] == seen['boolean'] == ['False', 'True']   # read back as bool
    assert seen['Int64'] == ['1', '3', '7'] and seen['int8'] == ['-1', '1', '7'] and seen['uint64'] == ['5', '6', '9223372036854775808']
    assert seen['float_whole'] == ['0.0', '1.0', '2.0']   # as written: pandas writes floats with '.0'
    assert seen['category'] == seen['ordered'] == ['a', 'b', 'c']   # a file keeps no categories: sorted as text
    assert seen['mixed_object'] == ['1', 'b', 'c'] and seen['unicode_commas'] == [' spaced ', 'café, au lait', 'naïve ☃']
    codes = pd.Series(M3('007', '010', '100'))   # pandas reads '007' as 7: kept as spelled, in numeric order
    assert _str(check_labels(load_for_compare(_csv(tmp_path, codes, name, sep), 'y')[0], 'y').vocab) == ['007', '010', '100']


def test_round_trip_missing_labels(tmp_path):
    "Gaps in an int label column: the rows are dropped with a note naming the spellings pandas read as missing, and the classes stay ints"
    y = pd.Series(M3(3, 10, 1), dtype='Int64'); y[[2, 5]] = pd.NA
    notes = []
    df, _, _ = load_for_compare(_csv(tmp_path, y), 'y', log=notes.append)
    assert _str(check_labels(df, 'y').vocab) == ['1', '3', '10'] and len(df) == 48   # not '1.0', '3.0': pandas' floats
    assert notes[0].startswith("dropped 2 of 50 rows without a label (spelled '': 2, which pandas reads as missing")
    p = tmp_path / 'na.csv'
    pd.DataFrame({'x': range(4), 'y': ['NA', 'None', 'NA', 'None']}).to_csv(p, index=False)   # 'NA' and 'None' as class names
    with pytest.raises(InputError, match=r"all 4 rows are missing \(spelled 'NA': 2, 'None': 2, which pandas reads as missing; "
                                         r"a class of that name needs another spelling"):
        load_for_compare(p, 'y')


def test_parquet_keeps_dtypes(tmp_path):
    "A parquet file keeps the dtypes, so the classes and their order are the frame's"
    pytest.importorskip('pyarrow')
    df = _frame(KINDS['category'][0])
    df.to_parquet(tmp_path / 'd.parquet')
    back, _, _ = load_for_compare(tmp_path / 'd.parquet', 'y')
    assert list(check_labels(back, 'y').vocab) == ['c', 'a', 'b']


def test_cli_compare_keeps_spelled_names(tmp_path, capsys):
    "`imbalance-fastai compare` on a CSV of '007'-style codes with a gap: the classes in the notes, the class table and the files as spelled"
    y = pd.Series(M3('007', '010', '100')).astype(object); y[3] = None
    p = _csv(tmp_path, y)
    rc = main(['compare', str(p), '--label', 'y', '--strategies', 'plain', '--folds', '2', '--epochs', '1', '--no-progress', '--out', str(tmp_path/'o')])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "dropped 1 of 50 rows without a label (spelled '': 1" in err and '3 classes (007: ' in err, err
    assert all(f'{n} ' in out for n in ('007', '010', '100')), out
    runs = pd.read_csv(tmp_path/'o'/'runs.csv')
    assert [c for c in runs.columns if c.startswith('scored_')] == ['scored_007', 'scored_010', 'scored_100']


def test_cli_help(capsys):
    "--help of compare says what the label's classes are: its values as the file spells them, rows without one dropped"
    assert main(['compare', '--help']) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert ("--label LABEL the label column (a table, or a CSV of images): its values, as the file spells them, are the classes; "
            "rows without one (empty, NA, None...) are dropped; a continuous one needs --bins") in out and 'parquet' in out


def test_binned_label_classes_low_to_high():
    "A continuous label compared over quantile bins: the bins are the classes from low to high, their edges readable"
    rng = np.random.default_rng(4)
    df = pd.DataFrame({'x': rng.normal(size=60)}); df['y'] = df.x * 3 + rng.normal(size=60) / 10
    df0 = df.copy()
    runs = _compare(df, bins=3)
    lefts = [float(n[1:n.index(',')]) for n in runs.attrs['vocab']]
    assert lefts == sorted(lefts), runs.attrs['vocab']   # sorted as text, '(-1.3, 0.3]' came before '(-6.2, -1.3]'
    assert all(len(n) < 25 for n in runs.attrs['vocab']), runs.attrs['vocab']   # not pandas' '(-6.207000000000001, -1.367]'
    assert list(runs.attrs['class_counts']) == runs.attrs['vocab'] and _same(df, df0)


def test_report_of_a_learner_on_boolean_labels():
    "imbalance_report of a tabular learner trained on a nullable boolean target names its classes False and True"
    from fastai.tabular.learner import tabular_learner
    df = _frame(KINDS['boolean'][0])
    to = TabularPandas(df, procs=[Normalize], cont_names=['x1', 'x2'], y_names='y', y_block=CategoryBlock(),
                       splits=StratifiedSplitter(0.3, seed=0, get_y='y')(df))
    learn = tabular_learner(to.dataloaders(bs=8), layers=[8])
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    rep = imbalance_report(learn)
    assert list(rep.loc['recall'].index) == ['False', 'True'] and rep.loc[('support', 'True')].iloc[0] == 9


def test_a_tabular_learners_target_column_is_single_label():
    "fastai's tabular targets arrive as a column (bs, 1) of codes: every entry point reads them as one class per row (two classes for 0/1), not as one multi-hot class"
    from imbalance_fastai.core import Labels
    from imbalance_fastai.resampler import Resampler
    from imbalance_fastai.losses import class_weights
    from imbalance_fastai.metrics import minority_classes
    df = pd.DataFrame({'x': RNG.normal(size=50), 'y': (BASE == 'c').astype(int)})   # 8 positives in 50 rows
    to = TabularPandas(df, procs=[Normalize], cont_names=['x'], y_names='y', y_block=CategoryBlock(), splits=[list(range(50)), []])
    y = torch.cat([b[-1] for b in to.dataloaders(bs=10, shuffle=False).train.new(drop_last=False)])
    assert y.shape == (50, 1)
    for t in (y, y.numpy(), y.numpy().astype(bool)):
        lb = encode_labels(t)
        assert not lb.multi and lb.counts.tolist() == [42, 8], (t.dtype, lb)
    assert minority_classes(y) == [1]
    assert torch.allclose(class_weights(y), torch.tensor([50 / (2 * 42), 50 / (2 * 8)]))   # scikit-learn's 'balanced'
    r = Resampler(y, seed=0)
    assert np.bincount(y[:, 0].numpy()[r.sample(0)], minlength=2).tolist() == [25, 25]
    three = torch.tensor([[0], [2], [1], [2]])   # more than two codes: a column too (refused as 'not multi-hot' before)
    assert encode_labels(three).counts.tolist() == [1, 1, 2]
    assert encode_labels(y, multi=True).multi and encode_labels(y, multi=True).counts.tolist() == [8]   # one multi-hot class, when asked for
    assert isinstance(encode_labels(y), Labels)
