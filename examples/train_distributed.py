"""Data-parallel training with resampling: two processes on CPU (gloo), fastai's `learn.distrib_ctx()`.

Launch with either of

    torchrun --nproc_per_node 2 examples/train_distributed.py
    accelerate launch --multi_gpu --num_processes 2 examples/train_distributed.py

On a machine without GPU the second one also starts two CPU processes (accelerate hands them to torch.distributed.run;
this script passes `cpu=True`). `accelerate launch --cpu --num_processes 2` starts a single process unless accelerate
is set up for mpirun; the script then trains in that one process and says so.

A tabular model learns scikit-learn's digits made long-tailed (the most common digit has 20 times the rows of the
rarest). `OverSamplingCallback` balances the train split: every rank draws the same epoch from the shared
(seed, epoch) and trains on its own half of it; no epoch is broadcast. `DistributedSampling` makes fastai's
validation DataLoader work on gloo. The script prints, on rank 0, the class counts each rank trained on per epoch.
Options: `--epochs N`, `--bs N`.
"""
import argparse
import numpy as np, pandas as pd, torch
import torch.distributed as dist
from fastai.tabular.all import TabularPandas, Normalize, CategoryBlock, tabular_learner, accuracy, BalancedAccuracy, Callback
from imbalance_fastai.data import long_tailed_digits
from imbalance_fastai.callback import OverSamplingCallback
from imbalance_fastai.distributed import DistributedSampling


class RankTargets(Callback):
    "Count the classes in the training batches this rank trains on, per epoch"
    def before_fit(self): self.counts = []
    def before_train(self): self.counts.append(np.zeros(self.dls.c, dtype=np.int64))
    def after_batch(self):
        if self.training: self.counts[-1] += np.bincount(self.yb[0].view(-1).cpu().numpy(), minlength=self.dls.c)


def main(epochs=3, bs=64):
    "Train, then print on rank 0 and return every rank's per-epoch class counts and the whole epochs' counts"
    torch.set_num_threads(1)
    on_cpu = not torch.cuda.is_available()
    train, test = long_tailed_digits(imbalance_ratio=20, seed=0)
    df = pd.concat([train, test], ignore_index=True)
    splits = [list(range(len(train))), list(range(len(train), len(df)))]   # validate on the balanced hold-out
    cont = [c for c in df.columns if c != 'label' and train[c].std() > 0]   # a pixel constant in train: Normalize divides it by ~0
    to = TabularPandas(df, procs=[Normalize], cont_names=cont, y_names='label',
                       y_block=CategoryBlock(), splits=splits)
    dls = to.dataloaders(bs=bs, num_workers=0)
    learn = tabular_learner(dls, layers=[64], metrics=[accuracy, BalancedAccuracy()], cbs=DistributedSampling())
    over, seen = OverSamplingCallback(), RankTargets()
    # cpu=True: accelerate starts a gloo process group under torchrun; SyncBatchNorm only works on GPU
    with learn.distrib_ctx(sync_bn=not on_cpu, cpu=on_cpu):
        learn.fit(epochs, 1e-2, cbs=[over, seen])
    if dist.is_initialized():
        rank, world_size, backend = dist.get_rank(), dist.get_world_size(), dist.get_backend()
        per_rank = [None] * world_size
        dist.all_gather_object(per_rank, seen.counts)
    else: rank, world_size, backend, per_rank = 0, 1, 'none (a single process)', [seen.counts]
    whole = over.sampled_counts.values
    if rank == 0:
        vocab = list(dls.vocab)
        print(f"\n{world_size} process(es), backend {backend}; classes {vocab}")
        print(f"natural train counts:          {np.bincount(to.train.ys.values.ravel(), minlength=len(vocab)).tolist()}")
        for e in range(epochs):
            for r in range(world_size): print(f"epoch {e} rank {r} sampled counts: {per_rank[r][e].tolist()}")
            print(f"epoch {e} whole epoch (drawn):  {whole[e].tolist()}")
    return per_rank, whole


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--bs', type=int, default=64)
    args = p.parse_args()
    main(args.epochs, args.bs)
    if dist.is_initialized():   # leave together: a rank that tears down gloo while the other still talks to it aborts both
        dist.barrier()
        dist.destroy_process_group()
