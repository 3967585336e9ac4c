"Packaging: the `all` module, the version and the console script, checked on the installed package (no nbdev needed)"
import importlib, importlib.metadata as md, importlib.util, pkgutil, re
from configparser import ConfigParser
from pathlib import Path
import pytest
import imbalance_fastai, imbalance_fastai.all as all_mod, imbalance_fastai.core as core

root = Path(__file__).resolve().parents[1]
cfg = ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

# Modules that `all` deliberately does not re-export: the command line's `main` is an entry point, not library API.
NOT_IN_ALL = {'all', 'cli', '__main__'}

def test_star_import_exposes_core():
    ns = {}
    exec('from imbalance_fastai.all import *', ns)
    assert ns['get_labels'] is core.get_labels and ns['Labels'] is core.Labels
    assert set(core.__all__) <= set(ns)

def _package_modules():
    "Public modules of the installed package, e.g. ['all', 'core', ...]"
    return [m.name for m in pkgutil.iter_modules(imbalance_fastai.__path__) if not m.name.startswith('_')]

def _public(mod): return set(importlib.import_module(f'imbalance_fastai.{mod}').__all__)

def test_all_reexports_every_module():
    "A module added to the package but not to nbs/99_all.ipynb fails here, naming the module"
    missing = {m: sorted(_public(m) - set(all_mod.__all__)) for m in _package_modules() if m not in NOT_IN_ALL}
    missing = {m: names for m, names in missing.items() if names}
    assert not missing, f"imbalance_fastai.all lacks these modules' public names (add `from imbalance_fastai.<module> import *` to nbs/99_all.ipynb): {missing}"

def test_all_has_only_package_names():
    "`from imbalance_fastai.all import *` after `from fastai.vision.all import *` must not shadow fastai, torch or numpy"
    ours = set().union(*(_public(m) for m in _package_modules() if m != 'all'))
    assert not set(all_mod.__all__) - ours, f"names in imbalance_fastai.all.__all__ that no module of the package exports: {sorted(set(all_mod.__all__) - ours)}"

def test_version_matches_settings():
    assert imbalance_fastai.__version__ == cfg['version']
    assert md.version('imbalance_fastai') == cfg['version'], "installed metadata is stale: reinstall with `pip install -e .`"

def test_console_script_declared():
    "settings.ini's console_scripts is installed as an entry point pointing into the package"
    declared = dict(o.split('=', 1) for o in cfg['console_scripts'].split())
    assert declared, "settings.ini declares no console_scripts"
    installed = {ep.name: ep.value for ep in md.distribution('imbalance_fastai').entry_points if ep.group == 'console_scripts'}
    assert installed == declared, f"installed console scripts {installed} differ from settings.ini's {declared}: reinstall with `pip install -e .`"
    for target in declared.values():
        assert re.fullmatch(r'imbalance_fastai(\.\w+)+:\w+', target), f"console script target {target!r} is not module:function inside imbalance_fastai"

def test_console_script_target_callable():
    for target in dict(o.split('=', 1) for o in cfg['console_scripts'].split()).values():
        mod, _, fn = target.partition(':')
        if importlib.util.find_spec(mod) is None: pytest.skip(f"{mod} is not written yet (nbs/11_cli.ipynb)")
        assert callable(getattr(importlib.import_module(mod), fn, None)), f"{target} is not a callable"


def _notebook_modules():
    "[(notebook name, module it exports, modules of the package it imports)] in notebook order, from nbs/*.ipynb"
    import json
    res = []
    for nb in sorted((root/'nbs').glob('[0-9]*.ipynb')):
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code')
        exp = re.search(r'^#\| default_exp (\S+)', src, re.M)
        imports = set(re.findall(r'(?:from|import) imbalance_fastai\.(\w+)', src))
        res.append((nb.name, exp.group(1) if exp else None, imports))
    return res

def test_notebooks_import_only_earlier_pages():
    "Each page (export cells and doc cells alike) imports only the modules of the pages before it"
    seen, late = set(), []
    for name, mod, imports in _notebook_modules():
        if mod == 'all': continue
        late += [f"{name} imports imbalance_fastai.{m}" for m in sorted(imports - seen - {mod}) if m in {x[1] for x in _notebook_modules()}]
        seen.add(mod)
    assert not late, f"pages that import a later page's module: {late}"


@pytest.mark.parametrize('mod,homes', [('metrics', ['calibration']), ('compare', ['verdict', 'images']), ('cli', ['files'])])
def test_names_issue_12_placed_on_a_page_import_from_it(mod, homes):
    "Issue 12 put calibration in `metrics`, the table, plot and report files in `compare`, file reading in `cli`: they live on later pages and import from those too"
    page = importlib.import_module(f'imbalance_fastai.{mod}')
    for home in homes:
        home = importlib.import_module(f'imbalance_fastai.{home}')
        assert home.__all__, home
        for name in home.__all__: assert getattr(page, name) is getattr(home, name), (mod, name)
    with pytest.raises(AttributeError, match=f"module 'imbalance_fastai.{mod}' has no attribute 'nope'"): page.nope


def test_issue_12_imports_as_written():
    from imbalance_fastai.metrics import expected_calibration_error, calibration_bins, TemperatureScaling   # noqa: F401
    from imbalance_fastai.compare import format_table, plot_comparison, write_report, summarize             # noqa: F401
    from imbalance_fastai.cli import read_table, load_for_compare                                           # noqa: F401
