"The command line: `imbalance-fastai demo` and `compare`, run in-process through `main`, and once as a real console script."
import re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest

from imbalance_fastai.data import long_tailed_digits
from imbalance_fastai.cli import main, make_parser
from imbalance_fastai.compare import STRATEGIES, QUICK_STRATEGIES

COLS = ['balanced acc', 'macro-F1', 'MCC', 'minority recall', 'log-loss', 'ECE']


def _table(out):
    "The printed table as {strategy: {column: (mean, std or None, best?)}}, read from the aligned text"
    lines = out.splitlines()
    head = lines[0]
    assert head.startswith('strategy') and all(c in head for c in COLS), head
    res = {}
    for line in lines[1:]:
        if not line.strip(): break
        name, rest = line.split(None, 1)
        cells = re.findall(r'(\d+\.\d+)(?: ± (\d+\.\d+))?(\*?)', rest)[:len(COLS)]
        res[name] = {c: (float(m), float(s) if s else None, star == '*') for c, (m, s, star) in zip(COLS, cells)}
    return res


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- argument parsing ----------------------------------------------------------------------------------------------

def test_parser_subcommands_and_defaults():
    p = make_parser()
    a = p.parse_args(['demo'])
    assert (a.command, a.imbalance_ratio, a.seeds, a.epochs, a.bs, a.quick, a.lr) == ('demo', 20., None, 5, 32, False, 1e-2)
    a = p.parse_args(['compare', 'd.csv', '--label', 'y', '--cont', 'a', 'b,c', '--cat', 'shop', '--valid-pct', '0.3',
                      '--strategies', 'plain,oversample', 'smote', '--epochs', '2', '--seeds', '4', '--layers', '64,32'])
    assert (a.path, a.label, a.valid_pct, a.epochs, a.seeds, a.layers) == (Path('d.csv'), 'y', .3, 2, 4, [64, 32])
    assert [o for l in a.cont for o in l] == ['a', 'b', 'c'] and [o for l in a.strategies for o in l] == ['plain', 'oversample', 'smote']
    assert p.parse_args(['compare', 'd.csv', '--label', 'y']).target_prior == 'valid'


@pytest.mark.parametrize('argv,msg', [
    (['demo', '--seeds', '0'], "argument --seeds: must be positive, got 0"),
    (['demo', '--epochs', 'two'], "argument --epochs: 'two' is not a whole number"),
    (['demo', '--imbalance-ratio', '-3'], "argument --imbalance-ratio: must be positive"),
    (['compare', 'd.csv'], "the following arguments are required: --label"),
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
    rc, out, _ = _run(capsys, 'compare', '--help')
    assert rc == 0 and '--label' in out and '--valid-pct' in out
    rc, out, _ = _run(capsys, 'strategies')
    assert rc == 0 and [l.split()[0] for l in out.splitlines()] == list(STRATEGIES)


# --- the demo ------------------------------------------------------------------------------------------------------

def test_demo_quick_prints_table_and_writes_files(capsys, tmp_path):
    rc, out, err = _run(capsys, 'demo', '--quick', '--out', tmp_path / 'demo')
    assert rc == 0, err
    tab = _table(out)
    assert list(tab) == list(QUICK_STRATEGIES)
    for c in COLS:   # one seed: no std; exactly the best value of each column is starred
        vals = [tab[s][c][0] for s in tab]
        best = max(vals) if c not in ('log-loss', 'ECE') else min(vals)
        assert all(tab[s][c][1] is None for s in tab)
        assert {s for s in tab if tab[s][c][2]} == {s for s in tab if tab[s][c][0] == best}, c
    for c in ('balanced acc', 'minority recall'):   # plain training is the worst on the balanced metrics
        assert tab['plain'][c][0] == min(tab[s][c][0] for s in tab), (c, tab)
    rarest = long_tailed_digits(20, seed=0)[0].label.value_counts(ascending=True).index[:3]
    assert "mean ± std over 1 seed 0" in out and ', '.join(map(repr, rarest)) in out   # the 3 rarest digits, named
    assert sorted(p.name for p in (tmp_path / 'demo').iterdir()) == ['comparison.csv', 'comparison.md', 'comparison.png', 'runs.csv']
    csv = pd.read_csv(tmp_path / 'demo' / 'comparison.csv', index_col='strategy')
    assert np.allclose(csv.loc[list(tab), 'balanced_accuracy'], [tab[s]['balanced acc'][0] for s in tab], atol=5e-4)
    md = (tmp_path / 'demo' / 'comparison.md').read_text()
    assert md.startswith('# Long-tailed digits, imbalance ratio 20') and '| plain |' in md
    assert '[1/5] plain, seed 0: balanced acc' in err   # progress: one line per run when stderr is not a terminal


# --- compare on a CSV ----------------------------------------------------------------------------------------------

def _planted(n=1500, seed=0):
    "Two informative features, a categorical column, an id column; the class 'rare' is 2% of the rows"
    rng = np.random.default_rng(seed)
    y = rng.choice(['common', 'mid', 'rare'], n, p=[.88, .10, .02])
    shift = pd.Series(y).map({'common': 0., 'mid': 1.5, 'rare': 3.}).to_numpy()
    return pd.DataFrame({'id': [f'row{i}' for i in range(n)], 'x1': rng.normal(size=n) + shift,
                         'x2': rng.normal(size=n) - shift, 'shop': rng.choice(['north', 'south', 'east'], n), 'y': y})


@pytest.fixture(scope='module')
def csv(tmp_path_factory):
    p = tmp_path_factory.mktemp('data') / 'planted.csv'
    _planted().to_csv(p, index=False)
    return p


def test_compare_on_csv(capsys, csv):
    rc, out, err = _run(capsys, 'compare', csv, '--label', 'y', '--strategies', 'plain', 'oversample', '--seeds', '1',
                        '--epochs', '2')
    assert rc == 0, err
    tab = _table(out)
    assert list(tab) == ['plain', 'oversample']
    assert tab['oversample']['minority recall'][0] >= tab['plain']['minority recall'][0]
    assert "continuous: ['x1', 'x2']; categorical: ['shop']" in err
    assert "column 'id' left out: an identifier?" in err
    assert "'rare'" in out   # the minority class, named in the notes
    folder = csv.parent / 'planted_comparison'   # default --out: named after the input, next to it
    res = pd.read_csv(folder / 'comparison.csv')
    assert res.strategy.tolist() == ['plain', 'oversample'] and {'balanced_accuracy', 'balanced_accuracy_std', 'ece'} <= set(res.columns)
    runs = pd.read_csv(folder / 'runs.csv')
    assert len(runs) == 2 and runs.epochs.tolist() == [2, 2]
    assert (folder / 'comparison.md').read_text().startswith('# planted.csv: y')


def test_compare_drops_rows_without_label_and_takes_explicit_columns(capsys, csv, tmp_path):
    df = pd.read_csv(csv)
    df.loc[:9, 'y'] = np.nan
    p = tmp_path / 'holes.csv'
    df.to_csv(p, index=False)
    rc, out, err = _run(capsys, 'compare', p, '--label', 'y', '--cont', 'x1', '--cat', 'shop', '--strategies', 'class-weighted',
                        '--seeds', '1', '--epochs', '1', '--valid-pct', '0.3', '--out', tmp_path / 'o', '--no-progress')
    assert rc == 0, err
    assert 'dropped 10 of 1,500 rows without a label' in err and "continuous: ['x1']; categorical: ['shop']" in err
    assert list(_table(out)) == ['class-weighted']
    assert '[1/1]' not in err   # --no-progress: no per-run lines


def _bad(tmp_path, df, name='bad.csv'):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize('case,msg', [
    ('missing file', "file not found: "),
    ('label not found', "label column 'target' not found in bad.csv; the columns are ['id', 'x1', 'x2', 'shop', 'y']"),
    ('single class', "label column 'y' has a single class ('common'): there is nothing to balance"),
    ('one-row class', "label column 'y' has classes with fewer than 2 rows, which a stratified split cannot put in both train and validation: {'lonely': 1}"),
    ('non-numeric continuous', "continuous columns ['shop'] are not numeric (str); pass them as categorical (--cat)"),
    ('continuous label', "label column 'x1': labels look continuous"),
    ('empty file', "is empty"),
    ('bad valid-pct', "--valid-pct must be between 0 and 1, got 1.5"),
    ('unknown strategy', "unknown strategies ['bagging']"),
    ('unknown column', "categorical columns ['colour'] not found"),
])
def test_compare_rejects_bad_input(capsys, tmp_path, case, msg):
    df = _planted(200)
    args = ['--label', 'y']
    if case == 'missing file': p = tmp_path / 'nowhere.csv'
    elif case == 'label not found': p, args = _bad(tmp_path, df), ['--label', 'target']
    elif case == 'single class': p = _bad(tmp_path, df.assign(y='common'))
    elif case == 'one-row class': p = _bad(tmp_path, pd.concat([df, df.iloc[:1].assign(y='lonely')]))
    elif case == 'non-numeric continuous': p, args = _bad(tmp_path, df), ['--label', 'y', '--cont', 'shop']
    elif case == 'continuous label': p, args = _bad(tmp_path, df), ['--label', 'x1']
    elif case == 'empty file': p = tmp_path / 'empty.csv'; p.write_text('')
    elif case == 'bad valid-pct': p, args = _bad(tmp_path, df), ['--label', 'y', '--valid-pct', '1.5']
    elif case == 'unknown strategy': p, args = _bad(tmp_path, df), ['--label', 'y', '--strategies', 'plain,bagging']
    elif case == 'unknown column': p, args = _bad(tmp_path, df), ['--label', 'y', '--cat', 'colour']
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
        assert rc == 2 and 'pip install pyarrow' in err
        return
    rc, out, err = _run(capsys, 'compare', tmp_path / 'p.parquet', '--label', 'y', '--strategies', 'plain', '--seeds', '1', '--epochs', '1')
    assert rc == 0 and list(_table(out)) == ['plain'], err


# --- the installed console script ----------------------------------------------------------------------------------

def test_console_script_subprocess(tmp_path):
    "The installed `imbalance-fastai` in a real process: exit status 2 and exactly one line on stderr, no warning noise"
    exe = shutil.which('imbalance-fastai') or str(Path(sys.executable).parent / 'imbalance-fastai')
    if not Path(exe).exists(): pytest.skip('the console script is not installed (pip install -e .)')
    r = subprocess.run([exe, 'compare', str(tmp_path / 'missing.csv'), '--label', 'y'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr == f"imbalance-fastai compare: error: file not found: {tmp_path / 'missing.csv'}\n"
