"""Which remedy for imbalanced labels helps on *your* images? The Python side of `imbalance-fastai compare FOLDER`.

    python examples/compare_images.py                     # a generated long-tailed set of coloured shapes (no download)
    python examples/compare_images.py path/to/images      # your folder: path/<class>/<image>, the ImageNet layout
    python examples/compare_images.py path/to/images --arch resnet18 --size 128   # pretrained if its weights are cached

The labels come from the folder names (never by opening an image); every strategy is cross-validated on the same
stratified folds, compared with plain training with a 95% paired-bootstrap interval, and the report (table, verdict,
figure, runs.csv) is written to --out. Nothing is downloaded: a torchvision/timm architecture uses its pretrained
weights only when they are already in the local cache, and trains from scratch otherwise.
"""
import argparse, tempfile, warnings
from pathlib import Path
import numpy as np, torch


def shapes(root, counts=None, size=32, seed=0):
    "A long-tailed folder of PNGs: each class a shape (disc, square, bar, cross, ring) in a random colour and place"
    from PIL import Image, ImageDraw
    counts = counts or {'disc': 200, 'square': 80, 'bar': 30, 'cross': 12, 'ring': 6}
    rng = np.random.default_rng(seed)
    for cls, n in counts.items():
        (root/cls).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            img = Image.fromarray(rng.integers(0, 60, (size, size, 3), dtype=np.uint8))
            d, col = ImageDraw.Draw(img), tuple(int(v) for v in rng.integers(120, 256, 3))
            r, (cx, cy) = size//4, rng.integers(size//3, 2*size//3, 2)
            box = [cx-r, cy-r, cx+r, cy+r]
            if cls == 'disc': d.ellipse(box, fill=col)
            elif cls == 'square': d.rectangle(box, fill=col)
            elif cls == 'bar': d.rectangle([cx-r, cy-2, cx+r, cy+2], fill=col)
            elif cls == 'cross': d.rectangle([cx-r, cy-2, cx+r, cy+2], fill=col); d.rectangle([cx-2, cy-r, cx+2, cy+r], fill=col)
            else: d.ellipse(box, outline=col, width=3)
            img.save(root/cls/f'{j}.png')
    return root


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('path', nargs='?', type=Path, help='a folder of class sub-folders of images (default: generated shapes)')
    p.add_argument('--arch', default='small', help="'small' (default, no download) or a torchvision/timm model name")
    p.add_argument('--size', type=int, default=32, help='images are resized to SIZE x SIZE (default: 32)')
    p.add_argument('--folds', type=int, default=3)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--strategies', nargs='+', default=['plain+threshold', 'plain+prior', 'oversample', 'class-weighted', 'balanced-softmax', 'crt'])
    p.add_argument('--out', type=Path, default=Path('images_comparison'))
    args = p.parse_args(argv)
    from imbalance_fastai.images import compare_images
    from imbalance_fastai.verdict import write_report
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or shapes(Path(tmp)/'shapes')
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', category=UserWarning, module='fastai')
            runs = compare_images(path, arch=args.arch, size=args.size, folds=args.folds, epochs=args.epochs,
                                  strategies=args.strategies, bs=32)
        print(write_report(runs, args.out, title=f'{path.name}: images'))
    print(f'\nwrote {args.out}/comparison.md, comparison.png, comparison.csv and runs.csv')


if __name__ == '__main__':
    torch.set_num_threads(1)
    main()
