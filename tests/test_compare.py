"The comparison runner from Python: the demo's strategies and whether resampling beats plain training on long-tailed digits."
from imbalance_fastai.compare import run_demo, summarize, format_table, DEMO_STRATEGIES, METRICS


def test_demo_plain_is_worst_over_seeds():
    "Every seed: plain training has the lowest balanced accuracy and minority recall; focal loss (no class weights) is the closest"
    runs = run_demo(seeds=3, strategies=['plain', 'focal', 'oversample'], progress=False)
    for m in ('balanced_accuracy', 'minority_recall'):
        per_seed = runs.pivot(index='seed', columns='strategy', values=m)
        assert (per_seed['plain'] < per_seed['focal']).all() and (per_seed['plain'] < per_seed['oversample']).all(), per_seed
    s = summarize(runs)
    # seen on this machine: plain 0.80 / 0.58, oversample 0.88 / 0.80 (balanced accuracy / minority recall)
    assert s.loc['oversample', 'balanced_accuracy'] - s.loc['plain', 'balanced_accuracy'] > 0.04
    assert s.loc['oversample', 'minority_recall'] - s.loc['plain', 'minority_recall'] > 0.12
    txt = format_table(s)
    assert '±' in txt and txt.splitlines()[3].startswith('oversample')


def test_demo_strategy_list_is_the_issue_list():
    "The default demo trains every remedy: plain, the callback's strategies, the losses, prior correction and SMOTE"
    assert set(DEMO_STRATEGIES) >= {'plain', 'oversample', 'undersample', 'partial', 'class-weighted', 'focal',
                                    'logit-adjusted', 'oversample+prior', 'smote'}
    assert list(METRICS) == ['balanced_accuracy', 'macro_f1', 'mcc', 'minority_recall', 'log_loss', 'ece']
