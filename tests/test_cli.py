"The command line: `imbalance-fastai demo` and `compare` (tables and images), run in-process through `main`, and as real processes."
import json, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest

from imbalance_fastai.cli import main, make_parser, METRIC_NAMES
from imbalance_fastai.compare import STRATEGIES, QUICK_STRATEGIES
from imbalance_fastai.scores import METRICS

OTHERS = ['macro-F1', 'MCC', 'minority recall', 'PR-AUC', 'log-loss', 'ECE']
CELL = r'(-?\d+\.\d+)(?: ± (\d+\.\d+))?\*?'   # '*': the best of its column


def _table(out):
    "The printed table as {strategy: {'score', 'diff', 'lo', 'hi', 'vs', column: value}}, read from the aligned text"
    lines = out.splitlines()
    head = lines[0]
    assert head.startswith('strategy'), head
    assert all(c in head for c in OTHERS) and re.search(r'vs plain: difference \[95%( simultaneous)? interval\]', head), head
    res = {}
    for line in lines[1:]:
        if not line.strip(): break
        name, rest = line.split(None, 1)
        m = re.match(CELL + r'\s+(?:\(baseline\)|([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]( better| worse)?)\s+(.*)$', rest)
        assert m, line
        score, _, diff, lo, hi, vs, others = m.groups()
        vals = [float(v) for v, _ in re.findall(CELL, others)]
        res[name] = {'score': float(score), 'diff': 0. if diff is None else float(diff), 'lo': lo and float(lo),
                     'hi': hi and float(hi), 'vs': (vs or '').strip(), **dict(zip(OTHERS, vals))}
    return res


def _verdict(out):
    lines = [l for l in out.splitlines() if l.startswith('Verdict:')]
    assert len(lines) == 1, out
    return lines[0]


def _check_verdict(out, label='balanced acc'):
    """The verdict line says what the printed table says (a metric where higher is better): 'better' marks exactly the
    intervals above zero; with one, the verdict names a strategy marked 'better' (the table's best when the best is
    marked) and quotes its row; without one, it says no strategy beats plain, and names the best other strategy."""
    tab, v = _table(out), _verdict(out)
    pct = '95% simultaneous' if '[95% simultaneous interval]' in out else '95%'   # several strategies: intervals for all at once
    others = {k: r for k, r in tab.items() if k != 'plain'}
    for nm, r in others.items():   # printed to 3 decimals: an interval from +0.000 may be either
        assert (r['vs'] == 'better') == (r['lo'] > 0) or r['lo'] == 0, (nm, r)
        assert (r['vs'] == 'worse') == (r['hi'] < 0) or r['hi'] == 0, (nm, r)
    if not others: return v
    top = max(r['score'] for r in others.values())
    best = {k for k, r in others.items() if r['score'] == top}   # ties at the printed precision: either may be named
    beats = {k for k, r in others.items() if r['vs'] == 'better'}
    plain = tab['plain']['score']
    detail = lambda k: (f"{tab[k]['score']:.3f} against plain's {plain:.3f}, a difference of {tab[k]['diff']:+.3f} "
                        f"({pct} interval {tab[k]['lo']:+.3f} to {tab[k]['hi']:+.3f})")
    if beats:
        named = re.match(r'Verdict: (\S+) ', v).group(1)
        assert named in beats and detail(named) in v, (v, tab)
        if best & beats: assert named in best and v.startswith(f"Verdict: {named} is best on {label} and beats plain training beyond the {pct} interval: "), v
        else:
            assert max(tab[k]['score'] for k in beats) == tab[named]['score'], (v, tab)   # the best of those that beat plain
            assert v.startswith(f"Verdict: {named} beats plain training on {label} beyond the {pct} interval: ") and 'but its difference to plain is within its interval' in v, v
    else:
        assert v.startswith(f"Verdict: no strategy beats plain training on {label}"), (v, tab)
        named = re.search(r'the best(?: other)?, (\S+?),? ', v).group(1)
        assert named in best, (v, tab)
        if top > plain: assert detail(named) in v, (v, tab)
        elif top < plain: assert f"plain scores best ({plain:.3f}; the best other, {named}, {top:.3f})" in v, (v, tab)
    return v


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- argument parsing, help ----------------------------------------------------------------------------------------

def test_parser_subcommands_and_defaults():
    p = make_parser()
    a = p.parse_args(['demo'])
    assert (a.command, a.imbalance_ratio, a.repeats, a.epochs, a.bs, a.quick, a.lr, a.metric) == ('demo', 20., None, 5, 32, False, 1e-2, 'balanced_accuracy')
    a = p.parse_args(['compare', 'd.csv', '--label', 'y', '--cont', 'a', 'b,c', '--cat', 'shop', '--folds', '4', '--repeats', '2',
                      '--strategies', 'plain,oversample', 'smote', '--epochs', '2', '--layers', '64,32', '--metric', 'macro-f1'])
    assert (a.path, a.label, a.folds, a.repeats, a.epochs, a.layers, a.metric) == (Path('d.csv'), 'y', 4, 2, 2, [64, 32], 'macro_f1')
    assert [o for l in a.cont for o in l] == ['a', 'b', 'c'] and [o for l in a.strategies for o in l] == ['plain', 'oversample', 'smote']
    a = p.parse_args(['compare', 'imgs/', '--seeds', '3', '--arch', 'resnet18', '--size', '32'])
    assert (a.label, a.repeats, a.arch, a.size, a.folds, a.valid_pct, a.target_prior) == (None, 3, 'resnet18', 32, None, None, 'valid')
    assert METRIC_NAMES == tuple(METRICS)   # --help lists the metrics without importing the module that defines them


@pytest.mark.parametrize('argv,msg', [
    (['demo', '--repeats', '0'], "argument --repeats/--seeds: must be positive, got 0"),
    (['demo', '--epochs', 'two'], "argument --epochs: 'two' is not a whole number"),
    (['demo', '--imbalance-ratio', '-3'], "argument --imbalance-ratio: must be positive"),
    (['demo', '--imbalance-ratio', 'nan'], "argument --imbalance-ratio: must be a finite number, got nan"),
    (['demo', '--lr', 'inf'], "argument --lr: must be a finite number, got inf"),
    (['demo', '--metric', 'auc'], "argument --metric: 'auc' is not one of balanced_accuracy, macro_f1, mcc"),
    (['compare', 'd.csv', '--folds', '0'], "argument --folds: must be positive, got 0"),
    (['compare', 'd.csv', '--folds', '1'], "argument --folds: must be at least 2, got 1"),
    (['frobnicate'], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, msg):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ''
    assert err.count('\n') == 1 and msg in err, err


def test_help_and_version(capsys):
    rc, out, _ = _run(capsys, '--help')
    assert rc == 0 and 'demo' in out and 'compare' in out
    assert 'your own table (CSV, TSV or parquet) or images' in ' '.join(out.split())   # TSV is read too (.tsv, .tab)
    rc, out, _ = _run(capsys, 'compare', '--help')
    assert rc == 0 and all(o in out for o in ('--label', '--images', '--folds', '--repeats', '--metric', '--bins', '--arch', '--force'))
    assert f"({', '.join(QUICK_STRATEGIES)})" in re.sub(r'-\s+', '-', ' '.join(out.split()))   # --quick's help names the quick strategies (wrapped at hyphens)
    rc, out, _ = _run(capsys, 'strategies')
    assert rc == 0 and [l.split()[0] for l in out.splitlines()] == list(STRATEGIES)


def test_help_does_not_import_torch():
    "`--help` (and a bad option) answer without importing PyTorch, fastai or pandas: checked in a fresh interpreter"
    code = ("import sys, time; t = time.perf_counter(); from imbalance_fastai.cli import main; "
            "rcs = [main(['--help']), main(['compare', '--help']), main(['demo', '--epochs', 'x'])]; "
            "print(rcs, [m for m in ('torch', 'fastai', 'pandas') if m in sys.modules], round(time.perf_counter()-t, 2))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith('[0, 0, 2] []'), (last, r.stderr)


# --- the demo ------------------------------------------------------------------------------------------------------

def test_demo_quick_prints_table_verdict_and_writes_its_own_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(capsys, 'demo', '--quick')
    assert rc == 0, err
    tab = _table(out)
    assert list(tab) == list(QUICK_STRATEGIES)
    assert all(tab['plain']['score'] < tab[s]['score'] for s in ('oversample', 'class-weighted', 'balanced-softmax', 'plain+prior')), tab
    assert tab['oversample']['vs'] == 'better' and tab['oversample']['lo'] > 0
    assert _check_verdict(out).split(':')[1].split()[0] in QUICK_STRATEGIES   # the verdict names a strategy
    assert "'4', '6', '2'" in out and 'a fixed hold-out of 500 rows, scored by 1 seed' in out
    folder = tmp_path / 'imbalance-fastai-demo-quick'   # --quick: a folder of its own
    assert sorted(p.name for p in folder.iterdir()) == ['comparison.csv', 'comparison.md', 'comparison.png', 'run.json', 'runs.csv']
    csv = pd.read_csv(folder / 'comparison.csv', index_col='strategy')
    assert np.allclose(csv.loc[list(tab), 'balanced_accuracy'], [tab[s]['score'] for s in tab], atol=5e-4)
    assert json.loads((folder / 'run.json').read_text())['quick'] is True
    md = (folder / 'comparison.md').read_text()
    assert md.startswith('# Long-tailed digits, imbalance ratio 20') and '| plain |' in md and '\n\nVerdict: ' in md
    assert re.search(rf'\[1/{len(QUICK_STRATEGIES)}\] plain, hold-out: ' + r'balanced acc \d\.\d{3} \(\d+\.\d s\); \d+ s elapsed, about \d+ s left', err), err


# --- compare on a CSV ----------------------------------------------------------------------------------------------

def _planted(n=1000, seed=0):
    "Two informative features, a categorical column, an id column; the class 'rare' is 3% of the rows"
    rng = np.random.default_rng(seed)
    y = rng.choice(['common', 'mid', 'rare'], n, p=[.87, .10, .03])
    shift = pd.Series(y).map({'common': 0., 'mid': 1.5, 'rare': 3.}).to_numpy()
    return pd.DataFrame({'id': [f'row{i}' for i in range(n)], 'x1': rng.normal(size=n) + shift,
                         'x2': rng.normal(size=n) - shift, 'shop': rng.choice(['north', 'south', 'east'], n), 'y': y})


@pytest.fixture(scope='module')
def csv(tmp_path_factory):
    p = tmp_path_factory.mktemp('data') / 'planted.csv'
    _planted().to_csv(p, index=False)
    return p


def test_compare_on_csv_cross_validates(capsys, csv):
    df = pd.read_csv(csv)
    rc, out, err = _run(capsys, 'compare', csv, '--label', 'y', '--strategies', 'oversample', '--folds', '3', '--epochs', '2')
    assert rc == 0, err
    tab = _table(out)
    assert list(tab) == ['plain', 'oversample']   # plain, the baseline, is always run
    assert tab['oversample']['minority recall'] >= tab['plain']['minority recall']
    assert tab['oversample']['lo'] <= tab['oversample']['diff'] <= tab['oversample']['hi']
    _check_verdict(out)
    assert "continuous: ['x1', 'x2']; categorical: ['shop']" in err and "column 'id' left out: an identifier?" in err
    n_rare = int((df.y == 'rare').sum())
    assert re.search(rf"^rare\s+{n_rare}\s+", out, re.M), out   # rows per class printed
    assert 'every row scored once per repeat' in out and "'rare'" in out
    folder = csv.parent / 'planted_comparison'   # default --out: named after the input, next to it
    res = pd.read_csv(folder / 'comparison.csv')
    assert res.strategy.tolist() == ['plain', 'oversample'] and {'balanced_accuracy', 'diff', 'diff_lo', 'diff_hi', 'ece'} <= set(res.columns)
    runs = pd.read_csv(folder / 'runs.csv')
    assert runs.fold.tolist() == [0, 0, 1, 1, 2, 2] and (runs.repeat == 0).all()   # one row per strategy × fold × repeat
    assert runs.groupby('strategy').n_scored.sum().tolist() == [len(df)] * 2
    assert runs.groupby('strategy').scored_rare.sum().tolist() == [n_rare] * 2
    assert (folder / 'comparison.md').read_text().startswith('# planted.csv: y')
    # --quick writes to its own folder; into the full run's folder only with --force
    rc, _, err = _run(capsys, 'compare', csv, '--label', 'y', '--quick', '--out', folder, '--strategies', 'plain', '--epochs', '1')
    assert rc == 2 and 'holds the results of a full run; a --quick run would overwrite them' in err
    rc, _, err = _run(capsys, 'compare', csv, '--label', 'y', '--quick', '--out', folder, '--force', '--strategies', 'plain',
                      '--epochs', '1', '--no-progress')
    meta = json.loads((folder / 'run.json').read_text())
    assert rc == 0 and meta['quick'] is True, err
    assert (meta['cont_names'], meta['cat_names']) == (['x1', 'x2'], ['shop']) and any("column 'id' left out" in n for n in meta['notes'])


def test_compare_holdout_metric_bins_and_rare_class_warning(capsys, csv, tmp_path):
    df = pd.read_csv(csv)
    df.loc[:9, 'y'] = np.nan
    p = tmp_path / 'holes.csv'
    df.to_csv(p, index=False)
    rc, out, err = _run(capsys, 'compare', p, '--label', 'y', '--cont', 'x1', '--cat', 'shop', '--strategies', 'class-weighted',
                        '--valid-pct', '0.3', '--metric', 'mcc', '--epochs', '1', '--out', tmp_path / 'o', '--no-progress')
    assert rc == 0, err
    assert 'dropped 10 of 1,000 rows without a label' in err and "continuous: ['x1']; categorical: ['shop']" in err
    assert list(_table(out)) == ['plain', 'class-weighted'] and out.split()[:2] == ['strategy', 'MCC']
    assert 'a fixed hold-out of 297 rows' in out and '[1/' not in err   # --no-progress: no per-run lines
    assert re.search(r"warning: few rows to score in classes 'rare' \(\d+\) \(fewer than 20\).*while cross-validation \(the default", err), err
    _check_verdict(out, 'MCC')
    # a continuous label: the advice names an option that exists, and the option works
    rc, out, err = _run(capsys, 'compare', p, '--label', 'x2', '--strategies', 'plain', '--folds', '2', '--epochs', '1', '--no-progress')
    assert rc == 2 and 'pass --bins N to compare over N quantile bins of it' in err
    rc, out, err = _run(capsys, 'compare', p, '--label', 'x2', '--bins', '3', '--strategies', 'plain', '--folds', '2', '--epochs', '1',
                        '--out', tmp_path / 'b', '--no-progress')
    assert rc == 0 and '3 classes' in err, err


def _bad(tmp_path, df, name='bad.csv'):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize('case,msg', [
    ('missing file', "file not found: "),
    ('label not found', "label column 'target' not found in bad.csv; the columns are ['id', 'x1', 'x2', 'shop', 'y']"),
    ('no label', "a table needs --label, the label column"),
    ('single class', "label column 'y' has a single class ('common'): there is nothing to balance"),
    ('one-row class', "label column 'y' has classes with fewer than 2 rows, which cannot be both trained on and scored: {'lonely': 1}"),
    ('non-numeric continuous', "continuous columns ['shop'] are not numeric (str); pass them as categorical (--cat)"),
    ('continuous label', "label column 'x1' looks continuous (200 distinct values: a regression target); pass --bins N"),
    ('infinite value', "continuous columns hold infinite values (inf/-inf): {'x1': 1, 'x2': 1}"),
    ('empty file', "is empty"),
    ('bad valid-pct', "--valid-pct must be between 0 and 1, got 1.5"),
    ('folds with valid-pct', "--folds 3 cross-validates and --valid-pct 0.3 scores one hold-out instead: give one of them"),
    ('unknown strategy', "unknown strategies ['bagging']"),
    ('unknown column', "categorical columns ['colour'] not found"),
    ('table option on images', "--layers is for tables"),
    ('image option on a table', "--arch is for images; bad.csv is a table"),
    ('image size on a table', "--size is for images; bad.csv is a table"),
    ('--images with a folder', "--images names the column of image paths of a CSV, but "),
    ('single-class folder', "the folder has a single class sub-folder: 'cat' (3 images): there is nothing to balance"),
    ('one-image class folder', "class sub-folders with fewer than 2 images, which cannot be both trained on and scored: {'owl': 1}"),
    ('single-class image CSV', "label column 'kind' has a single class ('cat')"),
    ('--out is a file', "is a file, not a folder; pass a folder for the results"),
    ('--out under a file', "is a file, not a folder; pass a folder for the results"),
    ('nested image folders', "1 images lie in folders inside the class folders (e.g. cat/2020/0.png)"),
])
def test_compare_rejects_bad_input(capsys, tmp_path, case, msg):
    df = _planted(200)
    args = ['--label', 'y']
    if case == 'missing file': p = tmp_path / 'nowhere.csv'
    elif case == 'label not found': p, args = _bad(tmp_path, df), ['--label', 'target']
    elif case == 'no label': p, args = _bad(tmp_path, df), []
    elif case == 'single class': p = _bad(tmp_path, df.assign(y='common'))
    elif case == 'one-row class': p = _bad(tmp_path, pd.concat([df, df.iloc[:1].assign(y='lonely')]))
    elif case == 'non-numeric continuous': p, args = _bad(tmp_path, df), ['--label', 'y', '--cont', 'shop']
    elif case == 'continuous label': p, args = _bad(tmp_path, df), ['--label', 'x1']
    elif case == 'infinite value': p = _bad(tmp_path, df.assign(x1=df.x1.where(df.index != 5, np.inf), x2=df.x2.where(df.index != 9, -np.inf)))
    elif case == 'empty file': p = tmp_path / 'empty.csv'; p.write_text('')
    elif case == 'bad valid-pct': p, args = _bad(tmp_path, df), ['--label', 'y', '--valid-pct', '1.5']
    elif case == 'folds with valid-pct': p, args = _bad(tmp_path, df), ['--label', 'y', '--valid-pct', '0.3', '--folds', '3']
    elif case == 'unknown strategy': p, args = _bad(tmp_path, df), ['--label', 'y', '--strategies', 'plain,bagging']
    elif case == 'unknown column': p, args = _bad(tmp_path, df), ['--label', 'y', '--cat', 'colour']
    elif case == 'table option on images': p, args = tmp_path, ['--layers', '8']
    elif case == 'image option on a table': p, args = _bad(tmp_path, df), ['--label', 'y', '--arch', 'resnet18']
    elif case == 'image size on a table': p, args = _bad(tmp_path, df), ['--label', 'y', '--size', '32']
    elif case == '--images with a folder': p, args = _pngs(tmp_path / 'imgs', {'cat': 3, 'dog': 3}), ['--images', 'file']
    elif case == 'single-class folder': p, args = _pngs(tmp_path / 'imgs', {'cat': 3}), []
    elif case == 'one-image class folder': p, args = _pngs(tmp_path / 'imgs', {'cat': 3, 'owl': 1}), []
    elif case == 'single-class image CSV':
        files = sorted(_pngs(tmp_path / 'imgs', {'cat': 3}).rglob('*.png'))
        p, args = _bad(tmp_path, pd.DataFrame({'file': list(map(str, files)), 'kind': 'cat'})), ['--images', 'file', '--label', 'kind']
    elif case.startswith('--out'):   # refused before any run trains
        (tmp_path / 'afile').write_text('')
        p, args = _bad(tmp_path, df), ['--label', 'y', '--out', tmp_path / 'afile' / ('sub' if 'under' in case else '')]
    elif case == 'nested image folders':
        p = _pngs(tmp_path / 'imgs', {'cat': 3, 'dog': 3}); (p / 'cat' / '2020').mkdir(); shutil.copy(p / 'cat' / '0.png', p / 'cat' / '2020' / '0.png')
        args = []
    rc, out, err = _run(capsys, 'compare', p, *args)
    assert rc == 2 and out == '', (rc, out)
    assert err.count('\n') == 1 and err.startswith('imbalance-fastai compare: error: ') and msg in err, err
    assert 'Traceback' not in err


def test_parquet(capsys, tmp_path):
    df = _planted(300)
    try: df.to_parquet(tmp_path / 'p.parquet')
    except ImportError:   # no parquet engine here: the command says what to install
        (tmp_path / 'p.parquet').write_bytes(b'PAR1')
        rc, _, err = _run(capsys, 'compare', tmp_path / 'p.parquet', '--label', 'y')
        assert rc == 2 and 'needs a parquet engine: pip install pyarrow' in err, err
        return
    rc, out, err = _run(capsys, 'compare', tmp_path / 'p.parquet', '--label', 'y', '--strategies', 'plain', '--folds', '2', '--epochs', '1')
    assert rc == 0 and list(_table(out)) == ['plain'], err


def _tiny_wine(tmp_path):
    "scikit-learn's wine cut to 30 rows of class 0 and 10 of class 1"
    from sklearn.datasets import load_wine
    d = load_wine(as_frame=True).frame
    p = tmp_path / 'tiny.csv'
    pd.concat([d[d.target == 0].iloc[:30], d[d.target == 1].iloc[:10]]).to_csv(p, index=False)
    return p


def test_compare_tiny_table_adapts_bs_and_refuses_one_without_a_full_batch(capsys, tmp_path):
    "40 rows: the batch size adapts to the rows a run trains on (every strategy trains on at least one full batch), a --bs "
    "that leaves no full batch is refused before any run, and --folds beyond the rows is one error line"
    p = _tiny_wine(tmp_path)
    rc, out, err = _run(capsys, 'compare', p, '--label', 'target', '--quick', '--no-progress')
    assert rc == 0 and list(_table(out)) == list(QUICK_STRATEGIES), err
    runs = pd.read_csv(tmp_path / 'tiny_comparison_quick' / 'runs.csv')
    assert (runs.bs <= 20 // 4).all() and (runs.bs >= 2).all(), runs.bs   # 3 folds: 26-27 train rows, 80% of them for plain+threshold
    rc, out, err = _run(capsys, 'compare', p, '--label', 'target', '--strategies', 'plain,undersample', '--folds', '2',
                        '--epochs', '1', '--no-progress', '--out', tmp_path / 'u')
    assert rc == 0 and list(_table(out)) == ['plain', 'undersample'], err
    runs = pd.read_csv(tmp_path / 'u' / 'runs.csv')
    assert (runs.bs <= 5).all() and (runs[runs.strategy == 'undersample'].bs <= 2 * 5 // 2).all(), runs   # an epoch of 2 × 5 rows
    for argv, msg in [(['--bs', '64'], "bs=64 leaves no full batch: the smallest train set of a run has 21 rows (fastai drops the "
                                       "last partial batch), so nothing would be trained; pass a bs of at most 21"),
                      (['--bs', '1'], "bs must be at least 2"),
                      (['--folds', '41'], "folds must be between 2 and the number of rows (40), got 41")]:
        rc, out, err = _run(capsys, 'compare', p, '--label', 'target', '--quick', '--no-progress', '--out', tmp_path / 'x', *argv)
        assert rc == 2 and out == '' and 'Traceback' not in err, (argv, err)
        assert err.splitlines()[-1] == f"imbalance-fastai compare: error: {msg}" or msg in err.splitlines()[-1], (argv, err)
        assert not (tmp_path / 'x').exists()   # refused before any run


def test_compare_closing_line_names_every_file_written(capsys, tmp_path):
    "The last line printed names every file the run put in its folder (run.json too: the README lists it among them)"
    p = _tiny_wine(tmp_path)
    rc, out, err = _run(capsys, 'compare', p, '--label', 'target', '--strategies', 'plain,oversample', '--folds', '2',
                        '--epochs', '1', '--no-progress', '--out', tmp_path / 'o')
    assert rc == 0, err
    last, written = out.strip().splitlines()[-1], sorted(f.name for f in (tmp_path / 'o').iterdir())
    assert last.startswith('wrote ') and 'run.json' in written, (last, written)
    assert [f for f in written if f not in last] == [], (last, written)


# --- compare on images ---------------------------------------------------------------------------------------------

def _pngs(root, counts={'cat': 18, 'dog': 8, 'owl': 4}, size=16, seed=0):
    "Class folders of tiny PNGs, each class a colour plus noise"
    from PIL import Image
    rng = np.random.default_rng(seed)
    for i, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for j in range(n):
            base = np.zeros(3); base[i] = 200
            Image.fromarray(np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)).save(root / cls / f'{j}.png')
    return root


def test_compare_tiny_image_folder_without_bs(capsys, tmp_path):
    "38 tiny PNGs and no --bs: the batch size adapts to the images a run trains on, so every strategy, undersample included, trains"
    root = _pngs(tmp_path / 'imgs', {'cat': 30, 'dog': 8})
    rc, out, err = _run(capsys, 'compare', root, '--strategies', 'oversample,undersample', '--folds', '2', '--epochs', '1',
                        '--size', '16', '--no-progress', '--label', 'kind')
    assert rc == 0 and list(_table(out)) == ['plain', 'oversample', 'undersample'], err
    assert "warning: --label kind is ignored: the classes of a folder of images are its sub-folders" in err   # never silently
    _check_verdict(out)
    runs = pd.read_csv(tmp_path / 'imgs_comparison' / 'runs.csv')
    assert (runs.bs <= 19 // 4).all() and (runs.bs >= 2).all(), runs.bs   # 19 train images per fold
    rc, out, err = _run(capsys, 'compare', root, '--folds', '2', '--bs', '64', '--no-progress')
    assert rc == 2 and err.splitlines()[-1].startswith("imbalance-fastai compare: error: bs=64 leaves no full batch: the smallest "
                                                         "train set of a run has 15 rows"), err


def test_compare_unreadable_image_is_a_usage_error(capsys, tmp_path):
    "A file in a class folder that is no image is found only when a model loads it (labels never open one): one line naming it, exit 2"
    root = _pngs(tmp_path / 'imgs', {'cat': 6, 'dog': 6})
    (root / 'dog' / 'notes.png').write_text('not an image')
    rc, out, err = _run(capsys, 'compare', root, '--strategies', 'plain', '--folds', '2', '--epochs', '1', '--size', '16', '--bs', '2',
                        '--no-progress')
    assert rc == 2 and 'Traceback' not in err, err
    last = err.splitlines()[-1]
    assert last.startswith('imbalance-fastai compare: error: cannot identify image file') and 'notes.png' in last, err
    assert 'not an image PIL can read; remove it or replace it with one' in last, err


def test_compare_image_folder_end_to_end(capsys, tmp_path):
    "An image folder (class sub-folders): labels from the folder names, the same folds, table and verdict"
    root = _pngs(tmp_path / 'pets')
    rc, out, err = _run(capsys, 'compare', root, '--strategies', 'oversample', '--folds', '2', '--epochs', '1', '--size', '16',
                        '--bs', '8', '--no-progress')
    assert rc == 0, err
    assert list(_table(out)) == ['plain', 'oversample']
    _check_verdict(out)
    assert '30 images, 3 classes (cat: 18, dog: 8, owl: 4)' in err
    assert re.search(r"^owl\s+4\s+2\s+2$", out, re.M) and 'vision_learner(small, trained from scratch) on 16×16 images' in out, out
    assert re.search(r"warning: few rows to score in classes 'cat' \(18\), 'dog' \(8\), 'owl' \(4\)", err), err
    runs = pd.read_csv(tmp_path / 'pets_comparison' / 'runs.csv')
    assert runs.fold.tolist() == [0, 0, 1, 1] and runs.groupby('strategy').scored_owl.sum().tolist() == [4, 4]
    meta = json.loads((tmp_path / 'pets_comparison' / 'run.json').read_text())
    assert (meta['label'], meta['images']) == ('sub-folder names', str(root)), meta   # not the table compare_images builds
    assert any(w.startswith("few rows to score in classes 'cat' (18), 'dog' (8), 'owl' (4)") for w in meta['warnings']), meta['warnings']
    # the same images as a CSV of paths (relative to the CSV) and labels
    files = sorted(root.rglob('*.png'))
    pd.DataFrame({'file': [str(f.relative_to(tmp_path)) for f in files], 'kind': [f.parent.name for f in files]}).to_csv(tmp_path / 'pets.csv', index=False)
    # and the decoupled strategies on a vision_learner's head
    rc, out, err = _run(capsys, 'compare', tmp_path / 'pets.csv', '--images', 'file', '--label', 'kind', '--strategies', 'crt,tau-norm',
                        '--folds', '2', '--epochs', '1', '--size', '16', '--bs', '8', '--out', tmp_path / 'o', '--no-progress')
    assert rc == 0 and list(_table(out)) == ['plain', 'crt', 'tau-norm'], err
    meta = json.loads((tmp_path / 'o' / 'run.json').read_text())
    assert (meta['label'], meta['images'], meta['settings']['strategies']) == ('kind', 'file', ['plain', 'crt', 'tau-norm']), meta
    rc, out, err = _run(capsys, 'compare', tmp_path / 'pets.csv', '--images', 'path', '--label', 'kind')
    assert rc == 2 and "the images column 'path' (--images) is not found" in err


# --- the installed console script ----------------------------------------------------------------------------------

def test_console_script_subprocess(tmp_path):
    "The installed `imbalance-fastai` in a real process: exit status 2 and exactly one line on stderr, no warning noise"
    exe = shutil.which('imbalance-fastai') or str(Path(sys.executable).parent / 'imbalance-fastai')
    if not Path(exe).exists(): pytest.skip('the console script is not installed (pip install -e .)')
    r = subprocess.run([exe, 'compare', str(tmp_path / 'missing.csv'), '--label', 'y'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr == f"imbalance-fastai compare: error: file not found: {tmp_path / 'missing.csv'}\n"


def test_a_warning_of_every_run_is_said_once(capsys, tmp_path):
    "Each fold's run warns anew (a class with one train row, oversampled): the command says it once, not once per run"
    df = _planted(200)
    p = _bad(tmp_path, pd.concat([df, df.iloc[:2].assign(y='pair')]), 'pair.csv')
    rc, _, err = _run(capsys, 'compare', p, '--label', 'y', '--strategies', 'oversample', '--folds', '2', '--epochs', '1',
                      '--out', tmp_path / 'o', '--no-progress')
    assert rc == 0, err
    assert err.count('classes with a single train row will be repeated many times') == 1, err
