"""Peers' own test cases for the report's per-class metrics and for mask and box labels, run against ours.

Each section names the peer whose test cases (not code) it ports; references are computed here (scikit-learn, fastai's
own metrics, a few numpy lines), never hard-coded results. Where we deliberately differ the test asserts our documented
behaviour and says so:
- torchmetrics (`tests/unittests/classification/test_jaccard.py`: `test_corner_case`, the sklearn reference with
  `ignore_index` in {None, -1, 0}; `tests/unittests/segmentation/test_dice.py`: `test_samples_with_missing_classes`,
  `test_corner_case_zero_denominator`; `segmentation/test_mean_iou.py`: `test_mean_iou_absent_class`;
  `average_precision`'s macro over the classes with positives; binary calibration error). We differ: a class absent
  from targets and decisions has IoU/Dice NaN (their `average='none'` puts `zero_division`, 0; `MeanIoU` -1), the
  scores pool the pixels of all images (as `JaccardIndex`, fastai's metrics and smp's `macro`; `MeanIoU` and smp's
  `*-imagewise` average per image), and there is no micro IoU row (`pixel_accuracy` is the micro Dice/F1);
- segmentation_models_pytorch (`tests/test_metrics.py`, `get_stats` multiclass: tp/fp/fn on tiny maps, `ignore_index=255`,
  codes outside `[0, num_classes)` refused). We differ: smp's `macro` counts an absent class as `zero_division` (1 by
  default in `iou_score`); ours leaves it out, as torchmetrics and fastai do;
- fastai (`nbs/13b_metrics.ipynb`: `Dice`, `DiceMulti`, `JaccardCoeff`, `JaccardCoeffMulti`, `foreground_acc`),
  through fastai's metrics themselves on the same batches;
- scikit-learn (`classification_report`, `matthews_corrcoef`, `balanced_accuracy_score`, `jaccard_score`,
  `average_precision_score`, `calibration_curve`): a class absent from validation, a single-class validation set,
  multi-label reports. We differ: the AP of a class without positives is NaN and left out of the macro (sklearn: 0,
  counted), as torchmetrics does;
- detectron2 / LVIS (`tests/data/test_sampler.py`: `repeat_factors_from_category_frequency`; LVIS's `image_count`): an
  image counts a category once however many boxes it has; fastai's `get_annotations` / `bb_pad` (padding label 0,
  '#na#'); masks as PNG files in mode 'L' and 'P' (decoded as fastai's `PILMask.create` decodes them), as uint8/int64
  arrays, `strict=False`, and no input image opened.
"""
import json, math, warnings
import numpy as np, pytest, torch
import PIL.Image
from PIL import Image
from types import SimpleNamespace
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve
from scipy.special import softmax, expit
from fastai.data.block import DataBlock
from fastai.data.transforms import IndexSplitter
from fastai.metrics import Dice, DiceMulti, JaccardCoeff, JaccardCoeffMulti, foreground_acc
from fastai.vision.core import PILMask, get_annotations
from fastai.vision.data import ImageBlock, MaskBlock, BBoxBlock, BBoxLblBlock, SegmentationDataLoaders

from imbalance_fastai.core import get_labels, MaskLabels, clear_mask_cache
from imbalance_fastai.report import imbalance_report
from imbalance_fastai.resampler import Resampler

torch.set_num_threads(1)


def _seg(D, Y, **kwargs):
    "The report's one column for decided class maps `D` and masks `Y`"
    return imbalance_report(np.asarray(D), np.asarray(Y), **kwargs)['uncorrected']


def _per(col, metric): return col[metric].to_numpy()


def _maps(seed=0, n=5, hw=(7, 9), c=4, p=(.55, .25, .15, .05)):
    "Masks and noisy decisions with every class present"
    rng = np.random.default_rng(seed)
    Y = rng.choice(c, size=(n,) + hw, p=p)
    D = np.where(rng.random(Y.shape) < .7, Y, rng.integers(0, c, Y.shape))
    return D, Y


# --- torchmetrics -----------------------------------------------------------------------------------------------------
def test_torchmetrics_jaccard_corner_case_absent_class():
    "torchmetrics #1693: class 2 in neither target nor prediction: per class (2/3, 1/2, -), macro over the two present"
    t, p = np.array([[[0, 1, 0, 0]]]), np.array([[[0, 1, 0, 1]]])
    col = _seg(p, t, vocab=['0', '1', '2'])
    want = skm.jaccard_score(t.ravel(), p.ravel(), labels=[0, 1], average=None)
    np.testing.assert_allclose(_per(col, 'iou')[:2], want)
    assert np.isnan(col[('iou', '2')]) and np.isnan(col[('dice', '2')])       # theirs: zero_division (0); ours: undefined
    assert col[('mean_iou', 'all')] == pytest.approx(skm.jaccard_score(t.ravel(), p.ravel(), average='macro'))
    col = _seg(np.array([[[0, 1]]]), np.array([[[0, 1]]]), vocab=list('abcdefghij'))   # num_classes=10, two present
    np.testing.assert_allclose(_per(col, 'iou')[:2], 1.)
    assert np.isnan(_per(col, 'iou')[2:]).all() and col[('mean_iou', 'all')] == 1.


@pytest.mark.parametrize('ignore_index', [None, -1, 0, 255])
def test_torchmetrics_multiclass_jaccard_against_sklearn(ignore_index):
    "torchmetrics' sklearn reference: ignored target pixels removed; an ignored class in [0, c) is not scored nor averaged"
    D, Y = _maps(1)
    if ignore_index is not None: Y = np.where(np.random.default_rng(5).random(Y.shape) < .15, ignore_index, Y)
    keep = Y != ignore_index
    y, d = Y[keep], D[keep]
    labels = [k for k in range(4) if k != ignore_index]
    col = _seg(D, Y, vocab=list('abcd'), ignore_index=ignore_index)
    np.testing.assert_allclose(_per(col, 'iou')[labels], skm.jaccard_score(y, d, labels=labels, average=None))
    np.testing.assert_allclose(_per(col, 'dice')[labels], skm.f1_score(y, d, labels=labels, average=None))
    assert col[('mean_iou', 'all')] == pytest.approx(skm.jaccard_score(y, d, labels=labels, average='macro'))
    assert col[('mean_dice', 'all')] == pytest.approx(skm.f1_score(y, d, labels=labels, average='macro'))
    assert col[('pixel_accuracy', 'all')] == pytest.approx(skm.accuracy_score(y, d))   # = the micro F1/Dice of single-label pixels
    assert col[('pixel_accuracy', 'all')] == pytest.approx(skm.f1_score(y, d, average='micro'))
    if ignore_index == 0:
        assert np.isnan(col[('iou', 'a')]) and col[('support', 'a')] == 0
        assert col[('rare', 'a')] == 0 and 'a' not in col['rare'][col['rare'] == 1].index   # an ignored class is not "rare"


def test_torchmetrics_dice_samples_with_missing_classes():
    "DiceScore(average='none', aggregation_level='global'): NaN for the classes no target or decision holds; macro = their nanmean"
    Y = np.zeros((3, 10, 10), np.int64); D = np.zeros_like(Y)
    Y[0, :4, :4], D[0, :2, :2] = 1, 1
    Y[0, 4:, 4:], D[0, 8:, 8:] = 3, 3
    D[1, :2, :2] = 3                                                  # a sample with only background and false positives
    col = _seg(D, Y, vocab=['bg', '1', '2', '3'])
    y, d = Y.ravel(), D.ravel()
    dice = np.array([2 * ((y == k) & (d == k)).sum() / ((y == k).sum() + (d == k).sum()) if ((y == k) | (d == k)).any() else np.nan
                     for k in range(4)])
    np.testing.assert_allclose(_per(col, 'dice'), dice)
    assert np.isnan(col[('dice', '2')]) and col[('mean_dice', 'all')] == pytest.approx(np.nanmean(dice))


def test_torchmetrics_zero_denominator_is_nan():
    "Nothing to score (every target pixel ignored): every IoU/Dice and every mean is NaN, not 0 or 1"
    D, Y = _maps(2)
    col = _seg(D, np.full_like(Y, 255), vocab=list('abcd'), ignore_index=255)
    assert np.isnan(_per(col, 'iou')).all() and np.isnan(_per(col, 'dice')).all()
    for m in ('mean_iou', 'mean_dice', 'pixel_accuracy', 'balanced_accuracy'): assert np.isnan(col[(m, 'all')]), m


def test_torchmetrics_average_precision_macro_skips_classes_without_positives():
    "torchmetrics: a class without positives has AP NaN and is ignored in the macro (sklearn counts it as 0: we differ)"
    rng = np.random.default_rng(0)
    Y = rng.choice([0, 1, 3], size=80, p=[.6, .3, .1])             # class 2 absent from validation
    P = softmax(rng.normal(size=(80, 4)) + 2 * np.eye(4)[Y], 1)
    col = imbalance_report(P, Y)['uncorrected']
    ap = [skm.average_precision_score(Y == k, P[:, k]) for k in (0, 1, 3)]
    np.testing.assert_allclose(_per(col, 'average_precision')[[0, 1, 3]], ap)
    assert np.isnan(col[('average_precision', '2')]) and np.isnan(col[('roc_auc', '2')])
    assert col[('average_precision', 'all')] == pytest.approx(np.mean(ap))
    auc = [skm.roc_auc_score(Y == k, P[:, k]) for k in (0, 1, 3)]
    assert col[('roc_auc', 'all')] == pytest.approx(np.mean(auc))


@pytest.mark.parametrize('c', [2, 4])
def test_torchmetrics_calibration_error_is_sklearn_calibration_curve(c):
    "ECE (l1, 10 equal-width bins): binary on the positive class, multiclass on the top-label confidence, as torchmetrics'; bins from calibration_curve"
    rng = np.random.default_rng(c)
    if c == 2:
        p = rng.beta(2, 3, 500)
        y = (rng.random(500) < p**1.5).astype(int)
        col, conf, hit = imbalance_report(p, y)['uncorrected'], p, y
    else:
        y = rng.integers(0, c, 500)
        P = _probs(y, c, seed=c, scale=1.5)
        col, conf, hit = imbalance_report(P, y)['uncorrected'], P.max(1), (P.argmax(1) == y).astype(int)
    frac, mean = calibration_curve(hit, conf, n_bins=10, strategy='uniform')
    cnt = np.histogram(conf, bins=np.linspace(0, 1, 11))[0]        # continuous probabilities: none on an edge
    assert col[('ece', 'all')] == pytest.approx(np.sum(np.abs(frac - mean) * cnt[cnt > 0]) / len(conf))


# --- segmentation_models_pytorch ---------------------------------------------------------------------------------------
def _from_stats(o, t, c, keep=None):
    "precision, recall, iou per class from smp-style tp/fp/fn of decisions `o` and targets `t` (NaN where undefined)"
    keep = np.ones(t.shape, bool) if keep is None else keep
    cm = skm.confusion_matrix(t[keep], o[keep], labels=range(c))
    tp, fp, fn = np.diag(cm), cm.sum(0) - np.diag(cm), cm.sum(1) - np.diag(cm)
    div = lambda a, b: np.divide(a, b, out=np.full(c, np.nan), where=b > 0)
    return div(tp, tp + fp), div(tp, tp + fn), div(tp, tp + fp + fn), tp + fn


def _check_stats(col, o, t, c, keep=None):
    prec, rec, iou, sup = _from_stats(o, t, c, keep)
    for m, want in (('precision', prec), ('recall', rec), ('iou', iou), ('support', sup)):
        np.testing.assert_allclose(_per(col, m), want, err_msg=m)


def test_smp_get_stats_multiclass():
    "smp's get_stats cases (one map [0,1,2,1] vs [0,1,2,2]; two maps of three pixels): tp/fp/fn per class, IoU = tp/(tp+fp+fn)"
    o, t = np.array([[[0, 1, 2, 1]]]), np.array([[[0, 1, 2, 2]]])
    _check_stats(_seg(o, t, vocab=['0', '1', '2']), o, t, 3)
    o, t = np.array([[0, 1, 2], [2, 1, 0]])[:, None], np.array([[0, 1, 2], [2, 2, 0]])[:, None]
    _check_stats(_seg(o, t, vocab=['0', '1', '2']), o, t, 3)


def test_smp_ignore_index_masking():
    "target 255 ignored: the decision at that pixel counts for no class"
    o, t = np.array([[[0, 1, 2, 1]]]), np.array([[[0, 1, 255, 2]]])
    col = _seg(o, t, vocab=['0', '1', '2'], ignore_index=255)
    _check_stats(col, o, t, 3, keep=t != 255)
    assert col[('support', '2')] == 1 and np.isnan(col[('precision', '2')])   # class 2 is decided only on the ignored pixel


@pytest.mark.parametrize('o,t,what', [([0, 1, 3], [0, 1, 2], 'decisions'), ([0, 1, 2], [0, 1, 3], 'targets'),
                                      ([0, -1, 2], [0, 1, 2], 'decisions')])
def test_smp_codes_outside_the_classes_are_refused(o, t, what):
    "smp raises for output or target values outside [0, num_classes): so do we, naming which (never a silent miscount)"
    with pytest.raises(ValueError, match=rf"{what} .*1 pixels? with codes outside \[0, 3\)"):
        _seg(np.array([[o]]), np.array([[t]]), vocab=['0', '1', '2'])


def test_smp_macro_reduction_over_the_dataset():
    "smp reduction='macro': tp/fp/fn summed over images, the score per class, then the mean; with every class present ours is it"
    D, Y = _maps(3)
    col = _seg(D, Y, vocab=list('abcd'))
    tp = np.array([((D == k) & (Y == k)).sum() for k in range(4)]); fp = np.array([((D == k) & (Y != k)).sum() for k in range(4)])
    fn = np.array([((D != k) & (Y == k)).sum() for k in range(4)])
    assert col[('mean_iou', 'all')] == pytest.approx(np.mean(tp / (tp + fp + fn)))
    assert col[('mean_dice', 'all')] == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)))


# --- fastai --------------------------------------------------------------------------------------------------------------
def _fastai_value(met, pred, targ):
    "fastai's notebook `compute_val`: accumulate `met` over batches of 6, 9 and 5 rows"
    met.reset()
    for a, b in ((0, 6), (6, 15), (15, 20)): met.accumulate(SimpleNamespace(pred=pred[a:b], y=targ[a:b]))
    return met.value


def test_fastai_dice_and_jaccard_binary():
    "fastai's Dice / JaccardCoeff on 20 random 3x3 binary maps: the report's class-1 dice and iou"
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(20, 2, 3, 3, generator=g), torch.randint(0, 2, (20, 3, 3), generator=g)
    col = imbalance_report(softmax(x1.numpy(), 1), x2.numpy())['uncorrected']
    assert col[('dice', '1')] == pytest.approx(_fastai_value(Dice(), x1, x2))
    assert col[('iou', '1')] == pytest.approx(_fastai_value(JaccardCoeff(), x1, x2))


@pytest.mark.parametrize('target', ['all0', 'all1', 'mixed', 'random'])
def test_fastai_dice_multi_and_jaccard_multi(target):
    "fastai's DiceMulti cases (20 pixels predicted class 0; targets all 0, all 1, 10/5/5) and random maps: mean_dice and mean_iou"
    g = torch.Generator().manual_seed(1)
    if target == 'random': x1, x2 = torch.randn(20, 3, 4, 4, generator=g), torch.randint(0, 3, (20, 4, 4), generator=g)
    else:
        x1 = torch.cat([torch.ones(20, 1, 1, 1), torch.full((20, 1, 1, 1), .5), torch.full((20, 1, 1, 1), .3)], 1)
        x2 = dict(all0=torch.zeros(20, 1, 1), all1=torch.ones(20, 1, 1),
                  mixed=torch.cat([torch.zeros(10, 1, 1), torch.ones(5, 1, 1), torch.full((5, 1, 1), 2.)]))[target].long()
    col = imbalance_report(softmax(x1.numpy(), 1), x2.numpy())['uncorrected']
    assert col[('mean_dice', 'all')] == pytest.approx(_fastai_value(DiceMulti(), x1, x2))
    assert col[('mean_iou', 'all')] == pytest.approx(_fastai_value(JaccardCoeffMulti(), x1, x2))


def test_fastai_foreground_acc_is_pixel_accuracy_ignoring_background():
    "foreground_acc(bkg_idx=0) = the report's pixel_accuracy with ignore_index=0, and class 0 is left out of the means"
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(4, 5, 3, 3, generator=g), torch.randint(0, 5, (4, 1, 3, 3), generator=g)
    col = imbalance_report(softmax(x.numpy(), 1), y[:, 0].numpy(), ignore_index=0)['uncorrected']
    assert col[('pixel_accuracy', 'all')] == pytest.approx(foreground_acc(x, y).item())
    assert np.isnan(col[('iou', '0')]) and col[('mean_iou', 'all')] == pytest.approx(np.nanmean(_per(col, 'iou')[1:]))


# --- scikit-learn: classification ---------------------------------------------------------------------------------------
def _probs(Y, c, seed=0, scale=2.):
    rng = np.random.default_rng(seed)
    return softmax(rng.normal(size=(len(Y), c)) + scale * np.eye(c)[Y], 1)


def test_sklearn_classification_report_with_a_class_absent_from_validation():
    "Per class precision/recall/F1/support as classification_report(labels=range(c)); MCC, balanced accuracy, macro-F1 as sklearn's"
    rng = np.random.default_rng(0)
    Y = rng.choice([0, 1, 3], size=90, p=[.6, .3, .1])
    P = _probs(Y, 4)
    D = P.argmax(1)
    col = imbalance_report(P, Y, vocab=list('abcd'))['uncorrected']
    rep = skm.classification_report(Y, D, labels=range(4), target_names=list('abcd'), output_dict=True, zero_division=0)
    for m, k in (('precision', 'precision'), ('recall', 'recall'), ('f1', 'f1-score'), ('support', 'support')):
        np.testing.assert_allclose(_per(col, m), [rep[n][k] for n in 'abcd'], err_msg=m)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                                 # sklearn: "y_pred contains classes not in y_true"
        assert col[('balanced_accuracy', 'all')] == pytest.approx(skm.balanced_accuracy_score(Y, D))
    assert col[('mcc', 'all')] == pytest.approx(skm.matthews_corrcoef(Y, D))
    assert col[('macro_f1', 'all')] == pytest.approx(skm.f1_score(Y, D, average='macro', zero_division=0))
    assert col[('accuracy', 'all')] == pytest.approx(rep['accuracy'] if 'accuracy' in rep else skm.accuracy_score(Y, D))
    assert col[('log_loss', 'all')] == pytest.approx(skm.log_loss(Y, P, labels=range(4)))


def test_sklearn_target_names_of_the_wrong_length_are_refused():
    "classification_report raises when target_names does not match the classes: so does the report, with the numbers"
    Y = np.arange(30) % 3
    with pytest.raises(ValueError, match='vocab has 2 names but the probabilities have 3 classes'):
        imbalance_report(_probs(Y, 3), Y, vocab=['a', 'b'])
    with pytest.raises(ValueError): skm.classification_report(Y, Y, target_names=['a', 'b'])


@pytest.mark.parametrize('c', [2, 3])
def test_sklearn_single_class_validation(c):
    "One class in the validation set: the scores sklearn defines match; ROC-AUC and AP (sklearn: an error or a warning and NaN) are NaN"
    Y = np.zeros(40, int)
    P = _probs(Y, c, seed=c, scale=1.)
    D = P.argmax(1)
    col = imbalance_report(P, Y)['uncorrected']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert col[('balanced_accuracy', 'all')] == pytest.approx(skm.balanced_accuracy_score(Y, D))
        assert col[('mcc', 'all')] == skm.matthews_corrcoef(Y, D)
    assert col[('accuracy', 'all')] == pytest.approx(skm.accuracy_score(Y, D))
    assert col[('macro_f1', 'all')] == pytest.approx(skm.f1_score(Y, D, average='macro', zero_division=0))
    assert np.isnan(col[('roc_auc', 'all')]) and np.isnan(col[('average_precision', 'all')])


def test_sklearn_multilabel_report():
    "Multi-hot targets: per-label scores as classification_report, accuracy the exact-match ratio, per-label ROC-AUC/AP, a never-positive label NaN"
    rng = np.random.default_rng(3)
    Y = (rng.random((60, 4)) < [.5, .2, .07, 0]).astype(int)
    P = expit(rng.normal(size=(60, 4)) + 2 * Y - 1)
    D = (P > .5).astype(int)
    col = imbalance_report(P, Y, vocab=list('wxyz'))['uncorrected']
    rep = skm.classification_report(Y, D, target_names=list('wxyz'), output_dict=True, zero_division=0)
    for m, k in (('precision', 'precision'), ('recall', 'recall'), ('f1', 'f1-score'), ('support', 'support')):
        np.testing.assert_allclose(_per(col, m), [rep[n][k] for n in 'wxyz'], err_msg=m)
    assert col[('macro_f1', 'all')] == pytest.approx(rep['macro avg']['f1-score'])
    assert col[('accuracy', 'all')] == pytest.approx(skm.accuracy_score(Y, D))
    np.testing.assert_allclose(_per(col, 'roc_auc')[:3], skm.roc_auc_score(Y[:, :3], P[:, :3], average=None))
    np.testing.assert_allclose(_per(col, 'average_precision')[:3], skm.average_precision_score(Y[:, :3], P[:, :3], average=None))
    assert np.isnan(col[('roc_auc', 'z')]) and col[('roc_auc', 'all')] == pytest.approx(skm.roc_auc_score(Y[:, :3], P[:, :3]))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        mcc = np.mean([skm.matthews_corrcoef(Y[:, k], D[:, k]) for k in range(4)])
    assert col[('mcc', 'all')] == pytest.approx(mcc)                    # documented: the mean of the per-label MCCs


def test_sklearn_jaccard_score_on_uint8_and_int64_masks():
    "Masks as uint8 or int64 arrays give the same report, sklearn's jaccard_score per class"
    D, Y = _maps(4)
    a, b = _seg(D.astype(np.uint8), Y.astype(np.uint8), vocab=list('abcd')), _seg(D.astype(np.int64), Y.astype(np.int64), vocab=list('abcd'))
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy())
    np.testing.assert_allclose(_per(a, 'iou'), skm.jaccard_score(Y.ravel(), D.ravel(), average=None))


# --- labels: detectron2 / LVIS, fastai's detection conventions ----------------------------------------------------------
def _images(folder, n, size=8):
    rng = np.random.default_rng(0)
    for i in range(n): Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f'{i}.png')
    return [folder / f'{i}.png' for i in range(n)]


def _det_block(anns, vocab=None):
    return DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock(vocab=vocab)), n_inp=1, splitter=IndexSplitter([]),
                     get_y=[lambda f: [[0, 0, 4, 4]] * len(anns[int(f.stem)]) or np.zeros((0, 4)), lambda f: anns[int(f.stem)]])


def test_detectron2_repeat_factors_from_box_labels(tmp_path):
    "detectron2's dataset_dicts {0,1}, {0}, {} at thresh .5, as a BBoxLblBlock dataset (image 0 with three boxes of 0): factors (sqrt(3/2), 1, 1)"
    anns = {0: ['c0', 'c0', 'c0', 'c1'], 1: ['c0'], 2: []}
    lbls = get_labels(_det_block(anns, vocab=['c0', 'c1']).datasets(_images(tmp_path, 3)).train)
    assert list(lbls.vocab) == ['#na#', 'c0', 'c1']                      # fastai's BBoxLblBlock adds '#na#' (bb_pad's label 0)
    np.testing.assert_array_equal(lbls.counts, [0, 2, 1])                # images per category (LVIS image_count), not boxes
    hot = np.array([[1, 1], [1, 0], [0, 0]], bool)                       # detectron2's per-image category sets
    f = hot.mean(0)
    want = np.array([max([max(1., math.sqrt(.5 / f[k])) for k in np.flatnonzero(h)], default=1.) for h in hot])
    np.testing.assert_allclose(Resampler(lbls, 'repeat_factor', thresh=.5, seed=0).repeat_factors, want)


def _coco(folder, n):
    "A COCO json for images 0..n-1: image i has i % 3 + 1 boxes of 'cat' and, for i in (1, 4), one 'dog'; image n-1 none"
    anns, k = [], 0
    for i in range(n - 1):
        for cat in [1] * (i % 3 + 1) + ([2] if i in (1, 4) else []):
            anns.append(dict(id=k, image_id=i, category_id=cat, bbox=[1, 1, 3, 4])); k += 1
    d = dict(images=[dict(id=i, file_name=f'{i}.png') for i in range(n)], annotations=anns,
             categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])
    (folder / 'train.json').write_text(json.dumps(d))
    return folder / 'train.json'


def test_fastai_get_annotations_and_bb_pad(tmp_path, monkeypatch):
    "fastai's COCO recipe (get_annotations, get_y of boxes and labels): images per class; bb_pad's padding (0, '#na#') is no class"
    fns = _images(tmp_path, 7)
    imgs, lbl_bbox = get_annotations(_coco(tmp_path, 7))
    img2bbox = dict(zip(imgs, lbl_bbox))
    dblock = DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock), n_inp=1, get_items=lambda p: [p / f for f in imgs],
                       get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]], splitter=IndexSplitter([]))
    dls = dblock.dataloaders(tmp_path, bs=3)
    opened = []
    monkeypatch.setattr(PIL.Image, 'open', lambda *a, **k: opened.append(a) or pytest.fail('opened an image'))
    lbls = get_labels(dls)
    assert not opened and list(lbls.vocab) == ['#na#', 'cat', 'dog']
    names = [set(lbl_bbox[i][1]) for i in range(len(imgs))]
    np.testing.assert_array_equal(lbls.counts, [0, sum('cat' in s for s in names), sum('dog' in s for s in names)])
    assert len(lbls) == len(fns) - 1                                     # get_annotations keeps only images with boxes
    monkeypatch.undo()
    b = dls.train.new(shuffle=False).one_batch()                      # images with 1, 3 and 3 boxes
    assert (b[2] == 0).any() and lbls.counts[0] == 0                     # padded labels in batches; '#na#' on no image


# --- labels: masks -------------------------------------------------------------------------------------------------------
CODES = ['bg', 'road', 'rare']


def _mask(i, void=False):
    m = np.zeros((8, 8), np.uint8); m[:4] = 1
    if i % 4 == 1: m[6:, 6:] = 2
    if void: m[0] = 255
    return m


def _mask_files(folder, n, mode='L', void=False):
    for i in range(n):
        m = Image.fromarray(_mask(i, void))
        if mode == 'P':
            m = m.convert('P'); m.putpalette([0, 0, 0, 200, 30, 30, 30, 200, 30] + [255, 255, 255] * 253)
        m.save(folder / f'{i}_m.png')
    return _images(folder, n)


def _seg_block(codes=CODES): return DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_y=lambda f: f.parent / f'{f.stem}_m.png',
                                              splitter=IndexSplitter([]))


@pytest.mark.parametrize('mode', ['L', 'P'])
def test_png_masks_read_as_fastai_decodes_them(tmp_path, mode):
    "Pixel counts of 'L' and palette ('P') masks are those of fastai's PILMask.create (what the model trains on)"
    fns = _mask_files(tmp_path, 6, mode)
    clear_mask_cache()
    want = np.stack([np.bincount(np.asarray(PILMask.create(tmp_path / f'{i}_m.png')).ravel(), minlength=256) for i in range(6)])
    dsets = _seg_block().datasets(fns)
    if mode == 'L':
        lbls = get_labels(dsets.train, codes=CODES)
        np.testing.assert_array_equal(lbls.pixel_counts, want[:, :3])
        np.testing.assert_array_equal(lbls.codes, want[:, :3] > 0)
    else:                                                                # fastai converts palette colours to grey levels, not indices
        with pytest.raises(ValueError, match=r"(?s)pixel values outside the vocabulary of 3 codes.*palette \('P'\) PNGs"):
            get_labels(dsets.train, codes=CODES)
        lbls = get_labels(dsets.train, codes=CODES, strict=False)
        np.testing.assert_array_equal(lbls.pixel_counts, want[:, :3])


def test_mask_labels_open_no_input_image_and_each_mask_once(tmp_path, monkeypatch):
    "get_labels on SegmentationDataLoaders opens each mask once (then the cache), never an input image"
    fns = _mask_files(tmp_path, 8)
    dls = SegmentationDataLoaders.from_label_func(tmp_path, fns, lambda f: f.parent / f'{f.stem}_m.png', codes=CODES, bs=2,
                                                  valid_pct=.25, seed=0)
    clear_mask_cache()
    opened, real = [], PIL.Image.open
    monkeypatch.setattr(PIL.Image, 'open', lambda fp, *a, **k: opened.append(str(fp)) or real(fp, *a, **k))
    lbls = get_labels(dls)
    assert sorted(opened) == sorted(str(f.parent / f'{f.stem}_m.png') for f in dls.train_ds.items)
    opened.clear()
    assert (get_labels(dls).pixel_counts == lbls.pixel_counts).all() and not opened
    want = np.stack([np.bincount(_mask(int(f.stem)).ravel(), minlength=3) for f in dls.train_ds.items])
    np.testing.assert_array_equal(lbls.pixel_counts, want)


def test_void_pixels_strict_and_the_report_ignore_index(tmp_path):
    "Masks with a void 255 row: strict refuses them, strict=False counts only the codes; the report's ignore_index=255 leaves them out"
    fns = _mask_files(tmp_path, 6, void=True)
    clear_mask_cache()
    dsets = _seg_block().datasets(fns)
    with pytest.raises(ValueError, match=r'6 of 6 masks .*\[255\]'): get_labels(dsets.train, codes=CODES)
    lbls = get_labels(dsets.train, codes=CODES, strict=False)
    want = np.stack([np.bincount(_mask(i, True)[_mask(i, True) != 255], minlength=3) for i in range(6)])
    np.testing.assert_array_equal(lbls.pixel_counts, want)
    Y = np.stack([_mask(i, True) for i in range(6)])
    D = np.where(Y == 255, 0, Y); D[:, 5, :2] = 2
    col = _seg(D, Y, vocab=CODES, ignore_index=255, train_targets=list(Y))
    keep = Y != 255
    np.testing.assert_allclose(_per(col, 'iou'), skm.jaccard_score(Y[keep], D[keep], average=None))
    np.testing.assert_allclose(_per(col, 'train_share'), want.sum(0) / want.sum())


@pytest.mark.parametrize('dtype', [np.uint8, np.int64])
def test_masks_as_arrays(dtype):
    "Masks as an (n, h, w) array (uint8 or int64, e.g. a torch dataset's targets): MaskLabels, counted per image"
    Y = np.stack([_mask(i) for i in range(6)]).astype(dtype)
    want = np.stack([np.bincount(m.ravel(), minlength=3) for m in Y])
    for src in (Y, torch.as_tensor(Y), SimpleNamespace(targets=Y)):
        lbls = get_labels(src, codes=CODES)
        assert isinstance(lbls, MaskLabels) and list(lbls.vocab) == CODES
        np.testing.assert_array_equal(lbls.pixel_counts, want)
    if dtype == np.int64:                                                # PyTorch's ignore_index -100: outside the codes
        Yi = Y.copy(); Yi[:, 0] = -100
        with pytest.raises(ValueError, match='not class codes'): get_labels(Yi, codes=CODES)
        lbls = get_labels(Yi, codes=CODES, strict=False)
        np.testing.assert_array_equal(lbls.pixel_counts, np.stack([np.bincount(m[m >= 0], minlength=3) for m in Yi]))


def test_mask_arrays_in_a_datablock(tmp_path):
    "uint8 mask arrays returned by get_y (no files): the same labels as the arrays' own counts"
    masks = [_mask(i) for i in range(6)]
    dblock = DataBlock(blocks=(ImageBlock, MaskBlock(CODES)), get_x=lambda i: np.zeros((8, 8, 3), np.uint8),
                       get_y=lambda i: masks[i], splitter=IndexSplitter([]))
    lbls = get_labels(dblock.dataloaders(list(range(6)), bs=2))
    np.testing.assert_array_equal(lbls.pixel_counts, np.stack([np.bincount(m.ravel(), minlength=3) for m in masks]))


def test_fastai_camvid_codes_read_with_loadtxt(tmp_path):
    "fastai's CamVid recipe: codes = np.loadtxt(path/'codes.txt', dtype=str) into SegmentationDataLoaders; the labels and the report name them"
    fns = _mask_files(tmp_path, 6)
    (tmp_path / 'codes.txt').write_text('\n'.join(CODES))
    codes = np.loadtxt(tmp_path / 'codes.txt', dtype=str)
    dls = SegmentationDataLoaders.from_label_func(tmp_path, fns, lambda f: f.parent / f'{f.stem}_m.png', codes=codes, bs=2,
                                                  valid_pct=.34, seed=0)
    lbls = get_labels(dls)
    assert list(lbls.vocab) == CODES and all(type(v) is str for v in lbls.vocab)
    np.testing.assert_array_equal(lbls.counts, np.stack([np.bincount(_mask(int(f.stem)).ravel(), minlength=3) > 0
                                                         for f in dls.train_ds.items]).sum(0))
    Y = np.stack([_mask(i) for i in range(6)])
    rep = imbalance_report(Y, Y, vocab=codes, train_targets=list(Y))
    assert rep.attrs['rare_classes'] == ['rare'] and rep.loc[('iou', 'rare'), 'uncorrected'] == 1.
