"Decision rules are the learner's own: two learners of one block type share fastai's default loss object, and a rule given to one never reaches the other, before or after export/load_learner."
import warnings
import numpy as np, pytest, torch
from fastai.learner import load_learner
from fastai.interpret import ClassificationInterpretation
from trained import small_learner, preds
from imbalance_fastai.decisions import DecisionLoss, DecisionRule, apply_offsets, min_cost_decisions
import imbalance_fastai.metrics   # noqa: F401 (patches Learner.tune_threshold, which the cost-matrix test calls)

torch.set_num_threads(1)

RULES = {'binary': dict(thresh=.2), 'multiclass': dict(offsets=[0., 1., 2.]), 'multilabel': dict(thresh=[.2, .5, .7])}

def default_decisions(kind, p):
    return p > .5 if kind == 'multilabel' else p.argmax(1)

def rule_decisions(kind, p):
    if kind == 'binary': return (p[:, 1] > .2).long()
    if kind == 'multiclass': return torch.as_tensor(apply_offsets(p, [0., 1., 2.]))
    return p > torch.tensor([.2, .5, .7])

def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return load_learner(path)

@pytest.mark.parametrize('kind', ['binary', 'multiclass', 'multilabel'])
def test_rule_stays_with_its_learner(kind, tmp_path):
    a, df = small_learner(kind)
    b, _ = small_learner(kind, seed=1)
    shared = b.loss_func
    assert a.loss_func is shared, "both learners should start on fastai's one default loss object for the block type"
    before = dict(vars(shared))
    a.set_decision(**RULES[kind])
    assert isinstance(a.loss_func, DecisionLoss) and a.loss_func.loss_func is shared and b.loss_func is shared
    assert vars(shared).keys() == before.keys() and all(vars(shared)[k] is before[k] for k in before), "the shared loss was written to"
    c, _ = small_learner(kind, seed=2)            # a learner made after the rule was set
    for learn, own in ((a, True), (b, False), (c, False)):
        p, _, d = preds(learn, learn.dls.valid, with_decoded=True)
        np.testing.assert_array_equal(d.numpy(), (rule_decisions if own else default_decisions)(kind, p).numpy())
    test_rows = df.iloc[400:].drop(columns=['y'] if 'y' in df else list('abc'))
    a.export(tmp_path/'a.pkl'); b.export(tmp_path/'b.pkl')
    la, lb = load(tmp_path/'a.pkl'), load(tmp_path/'b.pkl')
    assert la.decision is not None and lb.decision is None
    for orig, loaded in ((a, la), (b, lb)):
        _, _, d0 = preds(orig, orig.dls.test_dl(test_rows), with_decoded=True)
        _, _, d1 = preds(loaded, loaded.dls.test_dl(test_rows), with_decoded=True)
        np.testing.assert_array_equal(d1.numpy(), d0.numpy())
    d, _ = small_learner(kind, seed=3)            # and one made after loading
    p, _, dd = preds(d, d.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(dd.numpy(), default_decisions(kind, p).numpy())

def test_binary_rule_does_not_reach_a_three_class_learner():
    "The original defect: a threshold on the shared CrossEntropyLossFlat made a later 3-class learner decode only 0 and 1"
    a, _ = small_learner('binary')
    a.set_decision(thresh=.3)
    m, _ = small_learner('multiclass', epochs=3)
    p, _, d = preds(m, m.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d.numpy(), p.argmax(1).numpy())
    assert set(d.unique().tolist()) == {0, 1, 2}

def test_interpretation_and_predict_follow_the_rule():
    learn, df = small_learner('multiclass', epochs=3)
    learn.set_decision(costs=[[0, 1, 1], [5, 0, 1], [20, 20, 0]])
    p, y, d = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d.numpy(), min_cost_decisions(p, [[0, 1, 1], [5, 0, 1], [20, 20, 0]]))
    with learn.no_bar(): cm = ClassificationInterpretation.from_learner(learn).confusion_matrix()
    np.testing.assert_array_equal(cm.sum(0), np.bincount(d.numpy(), minlength=3))
    with learn.no_bar(): _, cls, probs = learn.predict(df.iloc[400])
    assert cls == d[0] and torch.allclose(probs, p[0])

def test_set_decision_errors():
    learn, _ = small_learner('multiclass')
    with pytest.raises(ValueError, match='decides between 2 outputs but this learner'): learn.set_decision(thresh=.3)
    with pytest.raises(ValueError, match='offsets has 2 values'): DecisionRule(offsets=[0, 0])(np.ones((2, 3))/3)
    with pytest.raises(TypeError, match="unexpected keywords"): learn.set_decision(offset=[0, 0, 0])
    with pytest.raises(ValueError, match='exactly one of thresh, offsets or costs'): DecisionRule()

def test_single_logit_sigmoid_decodes_class_codes():
    "One positive-class logit (BCE on a 0/1 float target): with a rule, decisions are long class codes (n,), as FocalLoss's binary mode gives"
    import pandas as pd
    from fastai.data.block import RegressionBlock
    from fastai.tabular.core import TabularPandas, Normalize
    from fastai.tabular.learner import tabular_learner
    from fastai.losses import BCEWithLogitsLossFlat
    from imbalance_fastai.prior import PriorCorrection
    rng = np.random.default_rng(0)
    y = (rng.random(300) < .2).astype(np.float32)
    df = pd.DataFrame({'x0': y + rng.standard_normal(300), 't': y})
    to = TabularPandas(df, procs=[Normalize], cont_names=['x0'], y_names='t', y_block=RegressionBlock(), splits=[list(range(200)), list(range(200, 300))])
    dls = to.dataloaders(bs=50, num_workers=0)
    learn = tabular_learner(dls, layers=[8], n_out=1, loss_func=BCEWithLogitsLossFlat())
    learn.set_decision(thresh=.3)
    p, _, d = preds(learn, dls.valid, with_decoded=True)
    assert d.dtype == torch.long and d.shape == (100,)
    np.testing.assert_array_equal(d.numpy(), (p.view(-1) > .3).long().numpy())
    with learn.no_bar(): _, cls, prob = learn.predict(df.iloc[200])
    assert cls.dtype == torch.long and cls.ndim == 0 and cls.item() == int(prob.item() > .3)
    learn.set_decision()
    learn.add_cb(PriorCorrection(train_prior=[.5, .5], target_prior=[.8, .2]))   # the balanced default rule is one too
    p, _, d = preds(learn, dls.valid, with_decoded=True)
    assert d.dtype == torch.long and d.shape == (100,)
    np.testing.assert_array_equal(d.numpy(), (p.view(-1) > .2).long().numpy())

def test_deepcopy_of_a_learner_keeps_its_correction():
    "A copied learner's DecisionLoss is tied to the copied PriorCorrection (the original's stays with the original)"
    import copy
    from imbalance_fastai.prior import PriorCorrection
    learn, _ = small_learner('binary', cbs=[PriorCorrection()])
    learn.set_decision(thresh=.3)
    new = copy.deepcopy(learn)
    assert new.prior_correction is not learn.prior_correction
    assert new.loss_func.correction is new.prior_correction and new.prior_correction.learn is new
    assert learn.loss_func.correction is learn.prior_correction
    assert new.decision.thresh == learn.decision.thresh
    loss_only = copy.deepcopy(learn.loss_func)              # the loss alone (DeferredReweighting's copy): the learner's correction
    assert loss_only.correction is learn.prior_correction

def test_cost_matrices_that_decide_nothing_are_refused():
    "A cost matrix whose column of extra costs is all zero decides that class whatever the probabilities: refused, as a (2, 2) one is"
    learn, _ = small_learner('multiclass')
    for C in (-np.ones((3, 3)), np.zeros((3, 3)), [[0, 0, 1], [1, 0, 1], [1, 0, 0]]):
        with pytest.raises(ValueError, match=r'costs.*column 1|costs.*every decision'): learn.tune_threshold(costs=np.asarray(C, float))
    assert learn.decision is None                                    # nothing was set
    with pytest.raises(ValueError, match='costs'): DecisionRule(costs=[[0, 0], [1, 0]])   # deciding 1 is free when the truth is 0
    with pytest.raises(ValueError, match='costs'): small_learner('binary')[0].tune_threshold(costs=[[0, 0], [1, 0]])
    rule = learn.tune_threshold(costs=np.array([[-1., 2, 2], [3, -1, 1], [9, 9, 0]]))   # gains (negative costs) are costs too
    assert rule.kind == 'costs'

def test_a_loss_set_by_hand_keeps_the_corrections_decisions():
    "learn.loss_func = CrossEntropyLossFlat() on a learner with PriorCorrection: learn.decision, learn.decide and get_preds agree (the balanced rule)"
    from fastai.losses import CrossEntropyLossFlat
    from imbalance_fastai.prior import PriorCorrection
    learn, _ = small_learner('multiclass', cbs=[PriorCorrection()], epochs=2)
    want = learn.decision
    assert want is not None and want.kind == 'offsets'
    learn.loss_func = CrossEntropyLossFlat()
    assert learn.decision is not None and np.allclose(learn.decision.offsets, want.offsets)
    p, _ = preds(learn, learn.dls.valid)
    d_before = learn.decide(p)
    learn.loss_func = CrossEntropyLossFlat()
    _, _, d = preds(learn, learn.dls.valid, with_decoded=True)
    np.testing.assert_array_equal(d_before.numpy(), d.numpy())
    np.testing.assert_array_equal(d.numpy(), apply_offsets(p, want.offsets))
    assert (d.numpy() != p.argmax(1).numpy()).any()   # the balanced rule is not the argmax: the test tells them apart


def test_a_wrong_sized_cost_matrix_is_named_as_costs():
    "A (2, 2) cost matrix for a 3-class learner: the error names costs and the shape it needs, not a threshold the user never set"
    learn, _ = small_learner('multiclass')
    msg = r"costs must be a \(3, 3\) matrix for this learner's 3 classes .* got shape \(2, 2\)"
    with pytest.raises(ValueError, match=msg): learn.tune_threshold(costs=[[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=msg): learn.set_decision(costs=[[0, 1], [1, 0]])
    assert learn.decision is None                                   # nothing set


def test_a_frame_in_place_of_a_dl_is_refused_naming_test_dl():
    "A DataFrame (or the DataLoaders) where a DataLoader goes: a TypeError saying how to make one, not an AttributeError from inside"
    from imbalance_fastai.calibration import estimate_prior
    from imbalance_fastai.report import imbalance_report
    from imbalance_fastai.decouple import tune_tau
    learn, df = small_learner('multiclass')
    for f, labelled in ((lambda: estimate_prior(learn, df), False), (lambda: learn.tune_threshold(dl=df), True),
                        (lambda: learn.calibrate(dl=df), True), (lambda: tune_tau(learn, dl=df), True)):
        with pytest.raises(TypeError, match=r"dl must be a fastai DataLoader of the rows, e.g. dl=learn.dls.test_dl\(df" + (', with_labels=True' if labelled else r'\)') + ".*got a DataFrame"):
            f()
    with pytest.raises(TypeError, match="got a TabularDataLoaders: pick one of its DataLoaders"): imbalance_report(learn, dl=learn.dls)
