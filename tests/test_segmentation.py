"Segmentation and detection labels as a fastai user builds them: `SegmentationDataLoaders`, `unet_learner`, `BBoxLblBlock`."
import os, warnings
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from torch import nn
from fastai.data.block import DataBlock
from fastai.data.transforms import IndexSplitter
from fastai.layers import ConvLayer
from fastai.vision.data import ImageBlock, MaskBlock, BBoxBlock, BBoxLblBlock, SegmentationDataLoaders
from fastai.vision.learner import unet_learner
from fastai.callback.progress import ProgressCallback   # noqa: F401 (patches Learner.no_bar)
from fastai.torch_core import set_seed
from fastai.learner import Learner

import imbalance_fastai.core as core
from imbalance_fastai.core import get_labels, MaskLabels, clear_mask_cache
from imbalance_fastai.resampler import Resampler
from imbalance_fastai.sampling import weighted_dataloaders, sampling_summary, ImbalancedDatasetSampler
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.prior import PriorCorrection

torch.set_num_threads(1)
CODES = ['bg', 'road', 'rare']
N, RARE = 40, [1, 7, 35]   # 40 images (32 train, 8 valid); the 'rare' class is in images 1, 7 (train) and 35 (valid)


def _mask(i):
    m = np.zeros((16, 16), np.uint8); m[:8] = 1
    if i in RARE: m[12:, 12:] = 2
    return m


@pytest.fixture
def folder(tmp_path):
    "A folder of N RGB images `i.png` and their masks `i_m.png`"
    rng = np.random.default_rng(0)
    for i in range(N):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path/f'{i}.png')
        Image.fromarray(_mask(i)).save(tmp_path/f'{i}_m.png')
    clear_mask_cache()
    yield tmp_path
    clear_mask_cache()


def _fns(folder): return [folder/f'{i}.png' for i in range(N)]
def _label_func(f): return f.parent/f'{f.stem}_m.png'
def _dblock(codes=CODES): return DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_y=_label_func, splitter=IndexSplitter(range(32, 40)))


def _delete_inputs(folder):
    "Remove the input images, so that opening any of them raises"
    for i in range(N): (folder/f'{i}.png').unlink()


def test_segmentation_class_only_in_validation_masks_is_refused(folder):
    "A class in validation masks and in no train mask is refused before any DataLoader is built"
    for i in (1, 7): Image.fromarray(np.where(_mask(i) == 2, 0, _mask(i)).astype(np.uint8)).save(folder/f'{i}_m.png')   # 'rare': image 35 only
    clear_mask_cache()
    with pytest.raises(ValueError, match=r"\{'rare': 1\}: these classes are in that many validation rows but in none of the 32 train rows"):
        weighted_dataloaders(_dblock(), _fns(folder), strategy='repeat_factor', thresh=.3, bs=4)


def test_segmentation_dataloaders_labels_without_opening_an_image(folder):
    dls = SegmentationDataLoaders.from_label_func(folder, _fns(folder), _label_func, codes=CODES, bs=4, seed=0)
    _delete_inputs(folder)
    lbls = get_labels(dls)
    assert isinstance(lbls, MaskLabels) and lbls.multi
    assert list(lbls.vocab) == CODES
    ids = [int(f.stem) for f in dls.train_ds.items]            # a random 80% split
    expected = np.stack([np.bincount(_mask(i).ravel(), minlength=3) for i in ids])
    assert (lbls.pixel_counts == expected).all()
    assert (lbls.codes == (expected > 0)).all()
    assert lbls.counts[2] == len(set(ids) & set(RARE))
    np.testing.assert_allclose(lbls.pixel_prior, expected.sum(0)/expected.sum())
    np.testing.assert_allclose(lbls.pixel_share, expected/256)


def test_datasets_need_codes_for_names(folder):
    dsets = _dblock().datasets(_fns(folder))
    _delete_inputs(folder)
    assert list(get_labels(dsets.train).vocab) == [0, 1, 2]
    assert list(get_labels(dsets.train, codes=CODES).vocab) == CODES
    assert get_labels(dsets, codes=CODES).counts.tolist() == [40, 40, 3]


def test_second_read_and_callback_use_the_cache(folder, monkeypatch):
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    first = get_labels(dls)
    def _no_decode(o): raise AssertionError(f'{o} was decoded again')
    monkeypatch.setattr(core, '_count_pixels', _no_decode)
    assert (get_labels(dls).pixel_counts == first.pixel_counts).all()
    assert (get_labels(dls.train_ds).codes == first.codes).all()   # the same files through another object
    r = OverSamplingCallback(seed=0)._build_resampler(dls.train.dataset)   # what the callback reads at each fit
    assert r.labels.counts.tolist() == [32, 32, 2]
    monkeypatch.undo()
    m = _mask(0); m[0, 0] = 2                                      # image 0 now holds the rare class
    Image.fromarray(m).save(folder/'0_m.png')
    os.utime(folder/'0_m.png', ns=(0, os.stat(folder/'1_m.png').st_mtime_ns + 10**9))
    assert get_labels(dls).counts.tolist() == [32, 32, 3]


def test_mask_values_outside_the_vocab(folder):
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder/'3_m.png')
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(folder/'9_m.png')
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    train = dls.train
    with pytest.raises(ValueError, match=r"2 of 32 masks have pixel values outside the vocabulary of 3 codes.*3_m\.png'\) has \[5\].*9_m\.png'\) has \[255\]"):
        get_labels(dls)
    with pytest.raises(ValueError, match='outside the vocabulary'): get_labels(dls.train_ds, codes=CODES)
    with pytest.warns(UserWarning, match='read as 256 classes'): get_labels(dls.train_ds)   # no codes: values are classes
    assert dls.train is train
    lbls = get_labels(dls, strict=False)                          # those pixels ignored
    assert lbls.counts.tolist() == [30, 30, 2]


def test_weighted_dataloaders_oversample_rare_images(folder):
    dls = weighted_dataloaders(_dblock(), _fns(folder), bs=8, seed=0)
    summ = sampling_summary(dls)
    assert summ['natural'].tolist() == [32, 32, 2]
    # rows are grouped by their rarest class: 30 images whose rarest is 'bg' (ties go to the first), 2 with 'rare';
    # 'oversample' gives both groups half of the 32 rows of an epoch (the sampler rounds 16 to one either side at random)
    assert abs(summ['sampled'].iloc[2] - 16) <= 1
    x, y = dls.one_batch()
    assert x.shape == (8, 3, 16, 16) and y.shape == (8, 16, 16)


def test_repeat_factor_on_masks(folder):
    lbls = get_labels(_dblock().dataloaders(_fns(folder), bs=8))
    r = Resampler(lbls, 'repeat_factor', thresh=1., seed=0)
    f = lbls.codes.mean(0)                                        # share of images with each class
    expected = np.where(lbls.codes, np.maximum(1, np.sqrt(1./f)), 1).max(1)
    np.testing.assert_allclose(r.repeat_factors, expected)
    assert expected[1] == pytest.approx(4.) and expected[0] == 1.   # sqrt(1 / (2/32))


def test_unet_learner_with_the_callback(folder):
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    def tiny(pretrained=False):
        return nn.Sequential(ConvLayer(3, 8, stride=2), ConvLayer(8, 16, stride=2), nn.AdaptiveAvgPool2d(1))
    set_seed(0)
    learn = unet_learner(dls, tiny, pretrained=False, n_in=3, cbs=OverSamplingCallback('repeat_factor', thresh=1., seed=0))
    train = learn.dls.train
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.fit(1)
    counts = learn.over_sampling.sampled_counts
    assert counts.shape == (1, 3)
    assert learn.dls.train is train
    # r = sqrt(1 / (2/32)) = 4 for the two rare images, exactly: 8 of the epoch's 38 rows (30 + 2*4) hold the class
    assert counts.iloc[0].tolist() == [38, 38, 8]


def _boxes():
    lbl = {i: ['car']*(1 + i % 3) for i in range(N)}
    for i in RARE: lbl[i] = lbl[i] + ['bike']
    return lbl


def _det_dblock(lbl, vocab=None):
    return DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock(vocab=vocab)), n_inp=1,
                     get_y=[lambda f: [[0, 0, 8, 8]]*len(lbl[int(f.stem)]), lambda f: lbl[int(f.stem)]],
                     splitter=IndexSplitter(range(32, 40)))


def test_detection_labels_from_box_labels_only(folder):
    lbl = _boxes()
    dblock = _det_dblock(lbl)
    dls = dblock.dataloaders(_fns(folder), bs=4)
    _delete_inputs(folder)
    lbls = get_labels(dls)
    assert list(lbls.vocab) == ['#na#', 'bike', 'car']
    assert lbls.counts.tolist() == [0, 2, 32]
    assert lbls.codes[7].tolist() == [False, True, True]
    r = Resampler(lbls, 'repeat_factor', thresh=.25, seed=0)
    assert r.repeat_factors[[0, 1, 7]].tolist() == [1., 2., 2.]    # sqrt(.25 / (2/32)) = 2 for the bike images


def test_detection_weighted_dataloaders(folder):
    dls = weighted_dataloaders(_det_dblock(_boxes()), _fns(folder), bs=4, seed=0)
    summ = sampling_summary(dls)
    assert abs(summ.loc['bike', 'sampled'] - 16) <= 1
    b = dls.one_batch()
    assert len(b) == 3 and b[1].shape[0] == 4


def test_box_label_not_in_the_vocab(folder):
    lbl = _boxes()
    dsets = _det_dblock(lbl, vocab=['bike', 'car']).datasets(_fns(folder))
    lbl[5] = ['car', 'bus']
    with pytest.raises(ValueError, match=r"1 of 32 items have labels that are not in the vocab: \['bus'\] \(first: item 5, .*5\.png"):
        get_labels(dsets.train)
    assert get_labels(dsets.train, strict=False).counts.tolist() == [0, 2, 32]


def test_report_reads_train_pixel_counts_from_the_cache(folder, monkeypatch):
    "imbalance_report's rare classes come from the masks get_labels has read once: no mask is decoded again"
    from fastai.learner import Learner
    from imbalance_fastai.report import _train_mask_counts
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    learn = Learner(dls, nn.Conv2d(3, 3, 1))
    expected = np.sum([np.bincount(_mask(i).ravel(), minlength=3) for i in range(32)], 0)
    assert _train_mask_counts(learn, 3).tolist() == expected.tolist()
    def _no_open(*args, **kwargs): raise AssertionError(f'{args[0]} was opened again')
    monkeypatch.setattr(Image, 'open', _no_open)                 # every mask reader (ours, fastai's PILMask) opens with PIL
    assert _train_mask_counts(learn, 3).tolist() == expected.tolist()


def _fit_quietly(learn, n=1):
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.fit(n)


def _tiny(pretrained=False):
    return nn.Sequential(ConvLayer(3, 8, stride=2), ConvLayer(8, 16, stride=2), nn.AdaptiveAvgPool2d(1))


def test_target_share_of_images_with_the_rare_class(folder):
    "strategy={'rare': .3}: 30% of every epoch's images contain the rare class (2 of the 32 train images), in the factory, the callback and the torch sampler"
    dls = weighted_dataloaders(_dblock(), _fns(folder), strategy={'rare': .3}, bs=8, seed=0)
    r = dls.train.resampler
    np.testing.assert_allclose(r.train_prior, [1., 1., .3])   # bg and road are in every image
    codes = r.labels.codes
    E = 400
    per = np.array([codes[dls.train.get_idxs(), 2].sum() for _ in range(E)])
    # 32 rows an epoch, two weight groups: the rare images get floor or ceil of 9.6 rows, 9.6 on average (standard error
    # over E epochs sqrt(.24/E) = 0.024; 5 of them allowed)
    assert set(per) <= {9, 10} and abs(per.mean() - 9.6) < 5 * np.sqrt(.24 / E)
    x, y = dls.one_batch()
    assert x.shape == (8, 3, 16, 16) and y.shape == (8, 16, 16)
    set_seed(0)
    learn = unet_learner(_dblock().dataloaders(_fns(folder), bs=8), _tiny, pretrained=False, n_in=3,
                         cbs=OverSamplingCallback({'rare': .3}, seed=0))
    _fit_quietly(learn, 2)
    assert set(learn.over_sampling.sampled_counts['rare']) <= {9, 10}
    # the prior the callback records is the pixels' (what a per-pixel softmax learns): 30% of the images, 16/256 of their pixels
    assert learn.over_sampling.train_prior[2] == pytest.approx(.3 * 16/256)
    s = ImbalancedDatasetSampler(labels=get_labels(dls), strategy={'rare': .3}, seed=0)
    got = np.array([codes[list(s), 2].sum() for _ in range(50)])
    assert set(got) <= {9, 10}


def test_mask_values_outside_the_codes_are_refused_on_the_training_paths(folder):
    "A mask value outside MaskBlock(codes): the factory and the callback name the file (they read the codes as get_labels(dls) does); nothing changes"
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder/'3_m.png')
    msg = r"1 of 32 masks have pixel values outside the vocabulary of 3 codes \['bg', 'road', 'rare'\].*3_m\.png'\) has \[5\]"
    with pytest.raises(ValueError, match=msg):
        weighted_dataloaders(_dblock(), _fns(folder), bs=8, seed=0)
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    learn = unet_learner(dls, _tiny, pretrained=False, n_in=3, cbs=OverSamplingCallback('repeat_factor', thresh=1., seed=0))
    train = learn.dls.train
    with pytest.raises(ValueError, match=msg):
        _fit_quietly(learn)
    assert learn.dls.train is train and learn.over_sampling.resampler is None


def test_mask_values_outside_the_codes_in_validation_are_refused_before_training(folder):
    "A validation mask (image 35) with a value outside the codes: refused before anything trains (fastai's loss would fail after an epoch)"
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder/'35_m.png')
    msg = r"in the validation split, 1 of 8 masks have pixel values outside the vocabulary of 3 codes .*35_m\.png'\) has \[5\]"
    with pytest.raises(ValueError, match=msg):
        weighted_dataloaders(_dblock(), _fns(folder), strategy='repeat_factor', thresh=.3, bs=8, seed=0)
    learn = unet_learner(_dblock().dataloaders(_fns(folder), bs=8), _tiny, pretrained=False, n_in=3, cbs=OverSamplingCallback('repeat_factor', thresh=1., seed=0))
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(ValueError, match=msg):
        _fit_quietly(learn)
    assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in before.items())
    labels = get_labels(_dblock().datasets(_fns(folder)), codes=CODES, strict=False)   # the way out the message gives
    assert weighted_dataloaders(_dblock(), _fns(folder), labels=labels, bs=8, seed=0).train.n == 32


def test_mask_values_outside_the_codes_can_be_ignored_through_labels(folder):
    "The refusal's two ways out work as written: the factory's labels are per source item (with the codes), the callback's per train item"
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder/'3_m.png')
    with pytest.raises(ValueError, match=r"OverSamplingCallback\(labels=get_labels\(dls, strict=False\)\).*weighted_dataloaders\(dblock, "
                                         r"items, labels=get_labels\(dblock\.datasets\(items\), codes=codes, strict=False\)\)"):
        weighted_dataloaders(_dblock(), _fns(folder), bs=8, seed=0)
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    learn = unet_learner(dls, _tiny, pretrained=False, n_in=3, cbs=OverSamplingCallback(
        'repeat_factor', thresh=1., seed=0, labels=get_labels(dls, strict=False)))
    _fit_quietly(learn)
    assert list(learn.over_sampling.sampled_counts.columns) == ['bg', 'road', 'rare']
    lbls = get_labels(_dblock().datasets(_fns(folder)), codes=CODES, strict=False)
    dls = weighted_dataloaders(_dblock(), _fns(folder), labels=lbls, strategy='repeat_factor', thresh=1., bs=8, seed=0)
    r = dls.train.resampler
    assert list(r.labels.vocab) == ['bg', 'road', 'rare'] and len(r.labels) == len(dls.train_ds)
    trn = np.asarray(_dblock().datasets(_fns(folder)).splits[0])
    assert (r.labels.codes == lbls.codes[trn]).all()
    assert (r.labels.pixel_counts == lbls.pixel_counts[trn]).all()


def test_a_datasets_without_codes_warns_of_values_no_mask_holds(folder):
    "A Datasets carries no MaskBlock codes: a stray mask value (7) would add empty classes; reading its labels says so"
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(folder/'3_m.png')
    dsets = _dblock().datasets(_fns(folder))
    with pytest.warns(UserWarning, match=r"never appear \(\[3, 4, 5, 6\]\).*codes=\[\.\.\.\]"):
        assert get_labels(dsets.train).c == 8
    assert get_labels(dsets.train, codes=['bg', 'road', 'rare'], strict=False).c == 3


def test_report_names_the_mask_codes(folder):
    "imbalance_report's per-class IoU/Dice rows and its rare classes carry MaskBlock's codes (fastai keeps no dls.vocab for masks)"
    from fastai.learner import Learner
    from imbalance_fastai.report import imbalance_report
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    assert getattr(dls, 'vocab', None) is None
    learn = Learner(dls, nn.Conv2d(3, 3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        rep = imbalance_report(learn)
    col = rep.iloc[:, 0]
    assert list(col['iou'].index) == list(col['dice'].index) == CODES
    assert col['rare'].to_dict() == {'bg': 0., 'road': 0., 'rare': 1.}   # the class in 4 of the 32 train images is named rare
    assert rep.attrs['rare_classes'] == ['rare']


def _train_pixels(dls):
    "Train pixels per class, counted from the masks themselves: `_mask(i)` of each train image"
    return np.stack([np.bincount(_mask(int(f.stem)).ravel(), minlength=3) for f in dls.train_ds.items]).sum(0)


def test_class_weights_of_masks_count_train_pixels(folder):
    "A per-pixel softmax is single-label: `class_weights(dls)` weighs pixels (what CrossEntropyLossFlat(axis=1) needs)"
    from imbalance_fastai.losses import class_weights
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    px = _train_pixels(dls)
    assert px.tolist() == [32*128 - 2*16, 32*128, 2*16]          # 'rare' is 16 pixels in images 1 and 7
    w = class_weights(dls)
    torch.testing.assert_close(w, class_weights(px.tolist()))
    torch.testing.assert_close(w, class_weights(get_labels(dls).pixel_counts.sum(0).tolist()))
    torch.testing.assert_close(w, torch.tensor(px.sum()/(3*px), dtype=torch.float32))   # scikit-learn's 'balanced'
    torch.testing.assert_close(class_weights(dls, 'effective', beta=.999), class_weights(px.tolist(), 'effective', beta=.999))


def test_softmax_losses_from_mask_dataloaders_use_the_pixel_prior(folder):
    from imbalance_fastai.losses import LogitAdjustedLoss, BalancedSoftmaxLoss
    from imbalance_fastai.longtail import LDAMLoss
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    px = _train_pixels(dls)
    prior = torch.tensor(px/px.sum(), dtype=torch.float32)
    torch.testing.assert_close(LogitAdjustedLoss(dls).prior, prior)
    torch.testing.assert_close(LogitAdjustedLoss(dls, tau=2.).adjustment, 2*prior.log())
    torch.testing.assert_close(BalancedSoftmaxLoss(dls).prior, prior)
    m = px.astype(float)**-.25
    torch.testing.assert_close(LDAMLoss(dls).margins, torch.tensor(.5*m/m.max(), dtype=torch.float32))
    x, t = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))   # per-pixel logits and mask targets
    assert BalancedSoftmaxLoss(dls)(x, t).shape == () and LDAMLoss(dls, reduction='none')(x, t).shape == (2, 4, 4)


def test_deferred_reweighting_on_masks_applies_pixel_weights(folder):
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from imbalance_fastai.losses import class_weights
    from imbalance_fastai.longtail import DeferredReweighting
    set_seed(0)
    dls = _dblock().dataloaders(_fns(folder), bs=8)
    drw = DeferredReweighting(start_epoch=0)
    learn = Learner(dls, nn.Conv2d(3, 3, 1), loss_func=CrossEntropyLossFlat(axis=1), cbs=drw)
    _fit_quietly(learn)
    px = _train_pixels(dls).tolist()
    torch.testing.assert_close(drw.applied_weight, class_weights(px, 'effective', beta=.9999))
    assert drw.applied_weight[2] > 10*drw.applied_weight[0]   # the rare class's 32 pixels weigh far more than bg's 4064
    assert learn.loss_func.func.weight is None                 # the learner's own loss is left as it was built


def _pixel_priors(lbls, row_weights):
    "The pixel priors a per-pixel softmax learns: the train masks' pixel shares, and an epoch's expected ones"
    pc = lbls.pixel_counts
    smp = row_weights @ pc
    return pc.sum(0)/pc.sum(), smp/smp.sum()


def test_mask_priors_are_pixel_priors(folder):
    "The priors recorded for masks are pixel shares summing to 1 (not the rates of images containing each class), in the factory and the callback"
    dls = weighted_dataloaders(_dblock(), _fns(folder), bs=8, seed=0)
    r = dls.train.resampler
    nat, smp = _pixel_priors(r.labels, r.row_weights())
    # 30 train images of 128 bg + 128 road pixels, 2 with 16 of the bg pixels rare: 32 of the 8192 pixels are rare
    np.testing.assert_allclose(nat, [4064/8192, .5, 32/8192])
    # oversampled, the 2 rare images get a share q of the draws (about half), the rare class 16/256 of their pixels
    q = r.row_weights()[r.labels.codes[:, 2]].sum()
    assert .4 < q < .6
    np.testing.assert_allclose(smp, [(1-q)*128/256 + q*112/256, .5, q*16/256])
    pc = Learner(dls, nn.Conv2d(3, 3, 1), cbs=PriorCorrection()).prior_correction
    assert pc.capture_priors()                                    # read from dls.train.resampler
    for tp in (r.priors, pc.train_priors):
        np.testing.assert_allclose(tp.natural, nat); np.testing.assert_allclose(tp.sampled, smp)
        assert tp.natural.sum() == pytest.approx(1) and tp.sampled.sum() == pytest.approx(1)
        assert list(tp.vocab) == CODES
    np.testing.assert_allclose(r.train_prior, [1., 1., q])        # the sampling itself still balances images
    np.testing.assert_allclose(r.natural_prior, [1., 1., 2/32])

    set_seed(0)
    learn = Learner(_dblock().dataloaders(_fns(folder), bs=8), nn.Conv2d(3, 3, 1),
                    cbs=[OverSamplingCallback(seed=0), PriorCorrection()])
    _fit_quietly(learn)
    tp = learn.over_sampling.priors
    np.testing.assert_allclose(tp.natural, nat); np.testing.assert_allclose(tp.sampled, smp)
    np.testing.assert_allclose(learn.over_sampling.train_prior, smp)
    pc = learn.prior_correction
    np.testing.assert_allclose(pc.train_prior, smp); np.testing.assert_allclose(pc.target_prior, nat)
    np.testing.assert_allclose(pc.stage_shift(3), np.log(nat/smp))   # about [0.06, 0, -2.1]: pixel priors, not presence rates
    x, _ = learn.dls.valid.one_batch()
    with torch.no_grad(): z = learn.model.eval()(x)
    want = torch.softmax(z + torch.tensor(np.log(nat/smp), dtype=z.dtype)[:, None, None], dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                           # one epoch: PriorCorrection warns the model is not calibrated
        probs, _ = learn.get_preds(dl=learn.dls.valid)
    torch.testing.assert_close(probs[:len(x)], want, rtol=1e-4, atol=1e-5)


def test_a_subset_of_masks_keeps_its_pixel_counts(folder):
    "The PyTorch sampler on a Subset or with indices= reads MaskLabels, so the priors it records are pixel priors"
    dsets = _dblock().datasets(_fns(folder))
    full = get_labels(dsets.train)
    idx = [0, 3, 5, 9, 20]
    for s in (ImbalancedDatasetSampler(dsets.train, indices=idx, strategy='repeat_factor', thresh=1., seed=0),
              ImbalancedDatasetSampler(torch.utils.data.Subset(dsets.train, idx), strategy='repeat_factor', thresh=1., seed=0)):
        lb = s.resampler.labels
        assert isinstance(lb, MaskLabels) and (lb.pixel_counts == full.pixel_counts[idx]).all()


def test_crt_and_tau_norm_on_a_unet(folder, tmp_path):
    "unet_learner's classifier is its final 1x1 convolution: cRT re-trains it alone, τ-norm scales its kernel rows, tune_tau scores pixels"
    from fastai.learner import load_learner
    from imbalance_fastai.decouple import find_classifier, tau_normalize, tune_tau
    set_seed(0)
    learn = unet_learner(_dblock().dataloaders(_fns(folder), bs=8), _tiny, pretrained=False, n_in=3)
    _fit_quietly(learn)
    name, conv = find_classifier(learn.model, n_classes=3)
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and name == f'layers.{len(learn.model.layers)-2}.0'
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.retrain_classifier(epochs=1, strategy='oversample', seed=0)
    after = learn.model.state_dict()
    assert [k for k, v in before.items() if not torch.equal(v, after[k])] == [f'{name}.weight', f'{name}.bias']
    # tune_tau on pixels: at τ=0, the mean over the classes of the share of their validation pixels predicted right
    preds, targs = learn.get_preds()
    pred, y = preds.argmax(1).view(-1).numpy(), targs.view(-1).numpy()
    expected = np.mean([(pred[y == c] == c).mean() for c in range(3)])
    scores = tune_tau(learn, taus=[0., .5, 1.])
    assert scores.loc[0.] == pytest.approx(expected)
    w0 = conv.weight.detach().clone()
    tau_normalize(learn, 1.)
    np.testing.assert_allclose(conv.weight.flatten(1).norm(dim=1).detach().numpy(), 1., rtol=1e-5)
    p1 = learn.get_preds()[0]
    assert scores.loc[1.] == pytest.approx(np.mean([(p1.argmax(1).view(-1).numpy()[y == c] == c).mean() for c in range(3)]))
    learn.export(tmp_path/'unet.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_learner(tmp_path/'unet.pkl')
    assert tau_normalize(loaded, 0.) == 0. and torch.equal(find_classifier(loaded.model)[1].weight, w0)   # the trained kernel travelled with it


def test_crt_and_tau_norm_on_a_3x3_segmentation_head(folder):
    "A segmentation head that is a 3x3 convolution (as segmentation libraries build them) is found and re-trained alone; tune_tau scores it with its own padding"
    from fastai.losses import CrossEntropyLossFlat
    from imbalance_fastai.decouple import find_classifier, tau_normalize, tune_tau
    class Seg(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = nn.Sequential(ConvLayer(3, 8), ConvLayer(8, 8)), nn.Conv2d(8, 3, 3, padding=1)
        def forward(self, x): return self.head(self.body(x))
    set_seed(0)
    learn = Learner(_dblock().dataloaders(_fns(folder), bs=8), Seg(), loss_func=CrossEntropyLossFlat(axis=1))
    _fit_quietly(learn)
    assert find_classifier(learn.model, n_classes=3)[0] == 'head'
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.retrain_classifier(epochs=1, seed=0)
    after = learn.model.state_dict()
    assert [k for k, v in before.items() if not torch.equal(v, after[k])] == ['head.weight', 'head.bias']
    preds, targs = learn.get_preds()
    pred, y = preds.argmax(1).view(-1).numpy(), targs.view(-1).numpy()
    assert tune_tau(learn, taus=[0.]).loc[0.] == pytest.approx(np.mean([(pred[y == c] == c).mean() for c in range(3)]))
    tau_normalize(learn, 1.)
    np.testing.assert_allclose(learn.model.head.weight.flatten(1).norm(dim=1).detach().numpy(), 1., rtol=1e-5)
