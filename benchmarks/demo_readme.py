"""Regenerate the README's demo output: run `imbalance-fastai demo` as a user would, and keep what it prints.

    python benchmarks/demo_readme.py            # the default demo -> docs/demo.md, docs/demo.png
    python benchmarks/demo_readme.py --quick    # imbalance-fastai demo --quick -> docs/demo_quick.md, docs/demo_quick.png

The command runs in a subprocess through the installed console script (or `python -m imbalance_fastai` where the script
is not on the PATH), exactly as the README shows it. Its stdout (the table and its notes) goes into the markdown file
verbatim, with the PNG it wrote, the wall time and the CPU time of the run, and the machine it ran on. On a shared
machine the wall time moves with the load, so the load average and the CPU time are written next to it.
"""
from __future__ import annotations
import argparse, os, platform, resource, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command():
    exe = shutil.which('imbalance-fastai') or str(Path(sys.executable).parent/'imbalance-fastai')
    return [exe] if Path(exe).exists() else [sys.executable, '-m', 'imbalance_fastai']


def _versions():
    out = subprocess.run([sys.executable, '-c', 'import torch, fastai, sklearn, imbalance_fastai as m; '
                          'print(m.__version__, fastai.__version__, torch.__version__, sklearn.__version__)'],
                         capture_output=True, text=True).stdout.split()
    return dict(zip(['imbalance_fastai', 'fastai', 'torch', 'scikit-learn'], out))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='run `imbalance-fastai demo --quick`')
    p.add_argument('--out', type=Path, default=ROOT/'docs', help='folder for demo.md and demo.png (default: docs/)')
    args = p.parse_args(argv)
    name = 'demo_quick' if args.quick else 'demo'
    shown = 'imbalance-fastai demo' + (' --quick' if args.quick else '')
    with tempfile.TemporaryDirectory() as tmp:
        cmd = _command() + ['demo', '--out', tmp, '--no-progress'] + (['--quick'] if args.quick else [])
        load0 = os.getloadavg()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load1 = os.getloadavg()
        if r.returncode != 0: sys.exit(f"{' '.join(cmd)} failed with status {r.returncode}:\n{r.stderr}")
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp)/'comparison.png', args.out/f'{name}.png')
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    printed = '\n'.join(l for l in r.stdout.rstrip().splitlines() if not l.startswith('wrote '))   # temp paths
    v = _versions()
    # the image path is relative to the repo root: README.md includes this file (see .ci/readme.py)
    md = [f'```sh\n{shown}\n```', '', '```text', printed, '```', '', f'![{shown}]({args.out.resolve().relative_to(ROOT).as_posix()}/{name}.png)', '',
          f'Wall time of `{shown}`: **{wall:.0f} s**, of which {cpu:.0f} s of CPU time (the process, including importing '
          f'fastai, PyTorch and scikit-learn), on {os.cpu_count()} CPU cores ({platform.machine()}, Python '
          f'{platform.python_version()}, imbalance_fastai {v.get("imbalance_fastai")}, fastai {v.get("fastai")}, torch '
          f'{v.get("torch")}, scikit-learn {v.get("scikit-learn")}). Load average of the machine before/after: '
          f'{load0[0]:.1f}/{load1[0]:.1f} (a shared machine: other jobs were running). Generated '
          f'{datetime.now(timezone.utc):%Y-%m-%d} by `python benchmarks/demo_readme.py{" --quick" if args.quick else ""}`.', '']
    (args.out/f'{name}.md').write_text('\n'.join(md))
    print('\n'.join(md))
    print(f'wrote {args.out/f"{name}.md"} and {args.out/f"{name}.png"}', file=sys.stderr)


if __name__ == '__main__': main()
