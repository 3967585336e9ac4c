"""Resampling under distributed data-parallel training.

Without processes: `ShardedDL` shards exactly as fastai's `DistributedDL` (padding, uneven sizes), gathered batches are
unpadded, seeds and epoch counters are aligned once, and `ImbalancedDatasetSampler` shards like `DistributedSampler`
(padded or cut to a multiple of the processes, then dealt out: rank r takes every world_size-th index from r).
With processes: two real ranks on CPU (gloo, loopback) train under fastai's `learn.distrib_ctx()`; run by torchrun,
this file is the worker (`python -m torch.distributed.run ... tests/test_distributed.py OUT_DIR`).
"""
import os, sys, socket, subprocess, pickle, signal, importlib.util
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastai.data.core import TfmdDL
from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
from fastai.data.transforms import ColReader, IndexSplitter
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.distributed import DistributedDL

from imbalance_fastai.sampling import Resampler, ResampledDL, ImbalancedDatasetSampler, shard_idxs
from imbalance_fastai.distributed import ShardedDL, DistributedSampling
from imbalance_fastai.callback import OverSamplingCallback

pytestmark = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is unavailable")
ROOT = Path(__file__).resolve().parents[1]


# --- without processes: ranks simulated in one process --------------------------------------------------------------
class SimShardedDL(ShardedDL):
    "A rank of a simulated group: rank 0 draws first and `_sync` hands its object to the others"
    sent, calls = None, 0
    def _sync(self, obj):
        SimShardedDL.calls += 1
        if self.rank == 0: SimShardedDL.sent = obj
        return SimShardedDL.sent


class FastaiDL(DistributedDL):
    "fastai's own `DistributedDL`, with the broadcast left out (every simulated rank draws the same epoch)"
    def _broadcast(self, t, rank): return t


def _labels(n=50): return np.array([0] * (n - n // 5 - n // 10) + [1] * (n // 5) + [2] * (n // 10))


def _rdl(y, n_samples=None, seed=0, bs=7, drop_last=False, **kwargs):
    "A resampled DataLoader whose items are their own indices, so a batch shows the indices drawn"
    r = Resampler(y, n_samples=n_samples, seed=seed, **kwargs)
    return ResampledDL(list(range(len(y))), bs=bs, shuffle=True, drop_last=drop_last, resampler=r, num_workers=0)


@pytest.mark.parametrize('world_size', [1, 2, 3, 4])
@pytest.mark.parametrize('n_samples,bs,drop_last', [(1, 1, False), (5, 2, False), (50, 7, False), (50, 7, True),
                                                    (101, 16, False), (101, 16, True), (64, 64, False)])
def test_sharded_dl_shards_like_fastai(world_size, n_samples, bs, drop_last):
    "Every rank gets exactly the batches fastai's DistributedDL would give it, for uneven sizes and padding"
    y = _labels()
    n_padded = -(-n_samples // world_size) * world_size
    for epoch in range(2):
        ours = [SimShardedDL(_rdl(y, n_samples, bs=bs, drop_last=drop_last), r, world_size) for r in range(world_size)]
        theirs = [FastaiDL(_rdl(y, n_samples, bs=bs, drop_last=drop_last), r, world_size) for r in range(world_size)]
        for dl in ours + theirs: dl.dl.resampler.epoch = epoch
        got = [[t.tolist() for t in dl] for dl in ours]
        assert got == [[t.tolist() for t in dl] for dl in theirs]
        assert [len(dl) for dl in ours] == [len(g) for g in got]          # len is the batches each rank yields
        assert (ours[0].n, ours[0].n_padded) == (n_samples, n_padded)
        if not drop_last:   # the ranks' rows, end to end, are the epoch padded by repeating it from the start
            rows = [i for g in got for b in g for i in b]
            assert rows == np.resize(Resampler(y, n_samples=n_samples, seed=0).sample(epoch=epoch), n_padded).tolist()


@pytest.mark.parametrize('world_size,n_samples,bs', [(2, 49, 8), (3, 50, 7), (4, 10, 3), (3, 2, 4)])
def test_gathered_batches_drop_the_padding(world_size, n_samples, bs):
    "`to_detach` on batches gathered from all ranks keeps every row of the epoch once and drops the padding rows"
    y = _labels()
    dls = [SimShardedDL(_rdl(y, n_samples, bs=bs), r, world_size) for r in range(world_size)]
    per_rank = [list(dl) for dl in dls]               # each rank's batches (rank 0 drew first)
    dl0, kept = dls[0], []
    dl0._to_detach = lambda b, cpu=True, gather=True: b   # the batch handed in is already the gathered one
    dl0.before_iter()
    for k, b0 in enumerate(per_rank[0]):
        dl0.after_batch(b0)                           # rank 0's progress through its shard, as during iteration
        kept.append(dl0.to_detach(torch.cat([b[k] for b in per_rank])))
    assert sorted(torch.cat(kept).tolist()) == sorted(dl0.last_idxs.tolist())


@pytest.mark.parametrize('strategy', ['oversample', 'undersample'])
def test_seed_and_epoch_counter_aligned_once(strategy):
    "Ranks built with different seeds, whose counters drifted, draw rank 0's epochs; its state_dict is sent once"
    y = _labels(200)
    dls = [SimShardedDL(_rdl(y, seed=10 + r, bs=8, strategy=strategy), r, 2) for r in range(2)]
    dls[0].dl.resampler.sample()                      # rank 0 drew an extra epoch (a show_batch on rank 0 only)
    for _ in range(3): dls[1].dl.resampler.sample()   # rank 1 drew with its own seed (undersample caches permutations)
    SimShardedDL.calls = 0
    for _ in range(3): shards = [np.concatenate([b.numpy() for b in dl]) for dl in dls]
    assert SimShardedDL.calls == 2                    # one `_sync` per rank, for three epochs
    assert [dl.resampler.seed for dl in dls] == [10, 10] and [dl.resampler.epoch for dl in dls] == [4, 4]
    full = Resampler(y, strategy, seed=10).sample(epoch=3)
    assert np.array_equal(np.concatenate(shards), np.resize(full, len(full) + len(full) % 2))


@pytest.mark.parametrize('world_size', [2, 3])
def test_ranks_agree_on_epochs_whose_shares_change(world_size):
    """Without replacement, an epoch depends on the shares the epochs before it were drawn with: ranks given the same
    per-epoch shares (as OverSamplingCallback's alpha schedule gives every rank) draw the same epochs, their shards deal
    out one epoch, and the rows of a class stay within one draw of each other across epochs"""
    y = _labels(200)
    alphas = np.linspace(0, 1, 12)
    dls = [SimShardedDL(_rdl(y, seed=4, bs=8, strategy='partial', replacement=False), r, world_size) for r in range(world_size)]
    ref, seen = Resampler(y, 'partial', replacement=False, seed=4), np.zeros(len(y))
    for a in alphas:
        for dl in dls: dl.dl.sample_kwargs = {'alpha': float(a)}   # what the callback sets before each epoch
        shards = [np.concatenate([b.numpy() for b in dl]) for dl in dls]
        full = ref.sample(alpha=float(a))
        assert np.array_equal(np.concatenate(shards), np.resize(full, -(-len(full) // world_size) * world_size))
        seen += np.bincount(full, minlength=len(y))
        for c in range(3): assert np.ptp(seen[y == c]) <= 1


def test_alignment_carries_the_shares_earlier_epochs_were_drawn_with():
    """Without replacement an epoch depends on the shares of the epochs before it, not only on (seed, epoch): a rank whose
    sampler drew other epochs (rank 0 alone drew two with the built alpha, as a show_batch on rank 0 does; rank 1 drew
    three with another alpha under the same seed) takes rank 0's record with its seed and counter, so the shards deal
    out rank 0's epochs"""
    y = _labels(200)
    dls = [SimShardedDL(_rdl(y, seed=4, bs=8, strategy='partial', alpha=1., replacement=False), r, 2) for r in range(2)]
    ref = Resampler(y, 'partial', alpha=1., replacement=False, seed=4)
    for _ in range(2): dls[0].dl.resampler.sample(); ref.sample()
    for _ in range(3): dls[1].dl.resampler.sample(alpha=.7)
    for a in (.2, .5, .9):
        for dl in dls: dl.dl.sample_kwargs = {'alpha': a}   # what the callback sets before each epoch
        shards = [np.concatenate([b.numpy() for b in dl]) for dl in dls]
        assert np.array_equal(np.concatenate(shards), ref.sample(alpha=a))
    assert dls[1].resampler.state_dict() == ref.state_dict()


@pytest.mark.parametrize('cls', [SimShardedDL, FastaiDL])
@pytest.mark.parametrize('strategy', ['oversample', 'undersample'])
def test_workers_load_the_shard_drawn_in_the_main_process(cls, strategy):
    """num_workers=2 under our ShardedDL and fastai's DistributedDL: fastai calls get_idxs in the main process, so the
    epoch is drawn (and sharded) once there and the workers load this rank's shard; the batches are those of num_workers=0,
    epoch after epoch, and the sampler's epoch counter moves in the main process only. A pickled copy (what a worker gets
    under the spawn and forkserver start methods) goes on with the same epochs."""
    y = _labels(60)
    def dl(nw, rank): return cls(ResampledDL(list(range(60)), bs=7, shuffle=True, num_workers=nw,
                                             resampler=Resampler(y, strategy, seed=3)), rank, 2)
    for rank in range(2):
        plain, workers = dl(0, rank), dl(2, rank)
        assert workers.fake_l.num_workers == 2
        for epoch in range(2):
            got = [b.tolist() for b in workers]
            assert got == [b.tolist() for b in plain] and len(got) == len(workers)
            assert workers.dl.resampler.epoch == epoch + 1
        copy = pickle.loads(pickle.dumps(workers))
        assert [b.tolist() for b in copy] == [b.tolist() for b in plain]


def test_new_keeps_the_rank_and_the_aligned_sampler():
    """ShardedDL.new is a ShardedDL of the same rank around the wrapped DataLoader's new (fastai's DistributedDL.new
    raises): a new batch size keeps the resampler, aligned once already (no second collective call); unshuffled
    (what get_preds makes) it is fastai's broadcast path, every row once"""
    y = _labels(60)
    dls = [SimShardedDL(_rdl(y, seed=20 + r, bs=8), r, 2) for r in range(2)]
    for dl in dls: list(dl)                                   # rank 0 first: aligned to seed 20
    SimShardedDL.calls = 0
    small = dls[1].new(bs=4)
    assert type(small) is SimShardedDL and (small.rank, small.world_size, small.bs) == (1, 2, 4)
    assert small.resampler is dls[1].resampler and small.resampler.seed == 20
    e = small.resampler.epoch
    rows = np.concatenate([b.numpy() for b in small])
    assert SimShardedDL.calls == 0                            # nothing asked of the other rank
    assert np.array_equal(rows, shard_idxs(Resampler(y, seed=20).sample(epoch=e), 1, 2))
    ordered = ShardedDL(_rdl(y, bs=8), 0, 1).new(shuffle=False, drop_last=False)
    assert ordered.resampler is None and torch.cat(list(ordered)).tolist() == list(range(60))
    with pytest.raises(AttributeError): FastaiDL(_rdl(y), 0, 2).new()   # fastai's own: DataLoader.new passes a dataset


def test_sharded_dl_errors_and_fallback():
    vdl = TfmdDL(list(range(10)), bs=4, num_workers=0)
    assert torch.cat(list(ShardedDL(vdl, 0, 1))).tolist() == list(range(10))   # one rank: nothing to broadcast
    with pytest.raises(RuntimeError, match='cpu=True'): list(ShardedDL(vdl, 1, 2))
    with pytest.raises(ValueError, match='rank=3, world_size=2'): ShardedDL(vdl, 3, 2)
    assert ShardedDL(vdl).world_size >= 1                                       # no WORLD_SIZE: one process


class OneRankTrainer(Callback):
    "What fastai's `DistributedTrainer` does to the DataLoaders, for a group of one process (no accelerate, no DDP)"
    order = 11
    def _wrap(self, dl): return dl if isinstance(dl, DistributedDL) else DistributedDL(dl, 0, 1)
    def before_fit(self): self.old, self.learn.dls.loaders = list(self.dls), [self._wrap(dl) for dl in self.dls]
    def before_train(self): self.learn.dl = self._wrap(self.learn.dl)
    def before_validate(self): self.learn.dl = self._wrap(self.learn.dl)
    def after_fit(self): self.learn.dls.loaders = self.old


class PassTypes(Callback):
    "Record the DataLoader type of each train and validation pass"
    order = 13
    def before_fit(self): self.types = []
    def before_train(self): self.types.append(type(self.dl).__name__)
    def before_validate(self): self.types.append(type(self.dl).__name__)


def test_callback_and_distributed_sampling_compose():
    "OverSamplingCallback's twin is already a ShardedDL under fastai's distributed wrapping; the counts it records are the whole epoch's"
    df = pd.DataFrame({'y': np.where(np.arange(500) % 10 == 0, 'rare', 'common')})
    df['x'] = np.where(df.y == 'rare', 1., -1.) + np.random.default_rng(0).normal(size=500)
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda r: torch.tensor([r['x']], dtype=torch.float32),
                       get_y=ColReader('y'), splitter=IndexSplitter(list(range(400, 500))))
    plain = dblock.dataloaders(df, bs=50)
    learn = Learner(plain, nn.Linear(1, 2), loss_func=CrossEntropyLossFlat(),
                    cbs=[OneRankTrainer(), OverSamplingCallback(seed=0), DistributedSampling()])
    types = PassTypes()
    learn.fit(2, 1e-2, cbs=types)
    assert types.types == ['ShardedDL'] * 4
    assert learn.over_sampling.sampled_counts.values.tolist() == [[200, 200], [200, 200]]
    assert learn.dls.train is plain.train


@pytest.mark.parametrize('n,world_size', [(1000, 3), (7, 4), (10, 1), (3, 5)])
def test_sampler_distributed_shards(n, world_size):
    "The plain PyTorch sampler: equal shard lengths, shards deal out one padded (or cut) epoch, `set_epoch` picks the epoch"
    y = np.arange(n) % 3
    ds = torch.utils.data.TensorDataset(torch.arange(n))
    for drop_last in (False, True):
        if drop_last and n < world_size: continue
        samplers = [ImbalancedDatasetSampler(ds, labels=y, seed=5, num_replicas=world_size, rank=r, drop_last=drop_last)
                    for r in range(world_size)]
        total = n // world_size * world_size if drop_last else -(-n // world_size) * world_size
        assert [len(s) for s in samplers] == [total // world_size] * world_size
        for epoch in (0, 1, 0):
            for s in samplers: s.set_epoch(epoch)
            got = np.stack([np.fromiter(s, dtype=np.int64) for s in samplers], 1).ravel()   # rank r's i-th is index i*R + r
            assert np.array_equal(got, np.resize(Resampler(y, seed=5).sample(epoch=epoch), total))


# --- two real processes -----------------------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _load(out, rank):
    with open(out / f'rank{rank}.pkl', 'rb') as f: return pickle.load(f)


def test_two_processes_gloo(tmp_path):
    "Two ranks on CPU (gloo) under `learn.distrib_ctx()`: shards of one epoch, same seed, balanced, epochs differ"
    env = {**os.environ, 'MASTER_ADDR': '127.0.0.1', 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '',
           'PYTHONUNBUFFERED': '1'}
    if Path('/sys/class/net/lo').exists(): env['GLOO_SOCKET_IFNAME'] = 'lo'   # loopback only
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(_free_port()), __file__, str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try: log, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)           # torchrun and the two ranks it started
        log, _ = proc.communicate()
        pytest.fail(f"the 2-process run did not finish in 240 s:\n{log[-4000:]}")
    assert proc.returncode == 0, f"the 2-process run failed:\n{log[-6000:]}"
    ranks = [_load(tmp_path, r) for r in range(2)]

    for name in 'AB':   # A: OverSamplingCallback on plain DataLoaders; B: weighted_dataloaders, seeds differing per rank
        a, b = ranks[0][name], ranks[1][name]
        assert a['types'] == b['types'] == ['ShardedDL'] * 2, name
        # learn.dls stays fastai's during the fit: get_preds belongs after it (see the DistributedSampling docs)
        assert a['loaders'] == b['loaders'] == ['DistributedDL'] * 2, name
        codes, n = a['codes'], len(a['codes'])
        assert (n, -(-n // 2) * 2) == (499, 500)      # an odd epoch: one padding row
        assert a['seeds'] == b['seeds'], f"{name}: ranks drew with different seeds"
        for e in range(2):
            full = a['epochs'][e]
            assert np.array_equal(full, b['epochs'][e]), f"{name}: ranks drew different epochs"
            assert np.array_equal(np.concatenate([a['shards'][e], b['shards'][e]]), np.resize(full, 500)), \
                f"{name}: the shards are not the two halves of the padded epoch"
            # oversampling keeps each class's count within one of 499/3: 167 for one class drawn at random, 166 for the others
            assert sorted(np.bincount(codes[full], minlength=3).tolist()) == [166, 166, 167], name
            for r in (a, b):   # what each rank trained on: its shard, in order (7 full batches of 32, drop_last)
                ys = np.concatenate(r['ys'][e])
                assert len(ys) == 7 * 32 and np.array_equal(ys, codes[r['shards'][e][:len(ys)]]), name
        assert not np.array_equal(a['epochs'][0], a['epochs'][1]), f"{name}: the next epoch is the same draw"
        assert np.array_equal(a['params'], b['params']), f"{name}: the ranks' models differ: gradients were not synced"
        # get_preds gathers the ranks' batches side by side (fastai's order, not the dataset's) and drops the padding
        assert np.array_equal(a['preds'], b['preds']) and len(a['targs']) == 101
        assert np.array_equal(np.sort(a['targs']), np.sort(a['valid_targs'])), f"{name}: get_preds lost or repeated rows"
        # after the context each row once too (fastai's gather, unsharded, gave rows 0-15 of 30 twice)
        assert len(a['after']) == 101 and np.array_equal(np.sort(a['after']), np.sort(a['valid_targs'])), f"{name}: after the context"

    a, b = ranks[0]['E'], ranks[1]['E']               # OverSamplingCallback alone: it validates through a ShardedDL (no .cuda())
    assert a['types'] == b['types'] == ['ShardedDL'] and np.array_equal(a['epochs'][0], b['epochs'][0])
    assert np.array_equal(np.concatenate([a['shards'][0], b['shards'][0]]), np.resize(a['epochs'][0], 500))
    assert np.isfinite(a['valid_loss']) and np.isfinite(b['valid_loss'])

    for r in ranks:   # weighted_dataloaders' 75-row epoch holds a batch of 64, but not its 38-row shards: refused on both ranks
        assert "the resampled train epoch has 38 rows per process (2 processes) (strategy='undersample', 499 train rows) but bs=64" in r['F']
        # factory DataLoaders without DistributedSampling: refused before fastai's .cuda() broadcast fails on gloo, naming the fix
        assert "drawn by fastai's DistributedDL, which broadcasts each epoch from rank 0 with .cuda()" in r['G'] and 'add DistributedSampling()' in r['G']

    a, b = ranks[0]['B'], ranks[1]['B']
    assert a['seed_before'] != b['seed_before']       # the factory drew a different seed on each rank...
    assert a['seeds'][0] == a['seed_before']          # ...and rank 0's was used; rank 0 had drawn one epoch already:
    assert np.array_equal(a['epochs'][0], Resampler(a['codes'], seed=a['seed_before']).sample(epoch=1))

    a, b = ranks[0]['C'], ranks[1]['C']               # ImbalancedDatasetSampler(distributed=True), no seed given
    assert a['seed'] == b['seed']
    for e in range(2):
        full = Resampler(a['codes'], seed=a['seed']).sample(epoch=e)
        assert np.array_equal(np.stack([a['shards'][e], b['shards'][e]], 1).ravel(), np.resize(full, len(full) + len(full) % 2))
    assert not np.array_equal(a['shards'][0], a['shards'][1])

    a, b = ranks[0]['D'], ranks[1]['D']               # examples/train_distributed.py, one epoch
    assert len(a['per_rank']) == 2 and np.array_equal(a['whole'], b['whole'])
    counts = [np.asarray(c[0]) for c in a['per_rank']]
    assert counts[0].sum() == counts[1].sum() > 0 and not np.array_equal(counts[0], counts[1])
    assert np.ptp(a['whole'][0]) <= 1                 # the whole epoch is balanced: class counts differ by at most 1
    assert 'rank 1 sampled counts' in log


# --- the worker (run by torchrun) -------------------------------------------------------------------------------------
def _worker(out):
    from fastai.callback.core import Callback
    from fastai.data.block import CategoryBlock
    from fastai.tabular.core import TabularPandas
    from fastai.tabular.learner import tabular_learner
    import fastai.distributed  # noqa: F401 (patches Learner.distrib_ctx)
    from imbalance_fastai.callback import OverSamplingCallback
    from imbalance_fastai.sampling import weighted_dataloaders
    from imbalance_fastai.distributed import DistributedSampling
    torch.set_num_threads(1)
    rank, res = int(os.environ['RANK']), {}

    class Record(Callback):
        "Per training epoch: this rank's shard, the whole epoch, the seed, the targets trained on"
        order = 13   # after OverSamplingCallback and DistributedSampling (12) put the ShardedDL in place
        def __init__(self): self.types, self.loaders, self.shards, self.epochs, self.seeds, self.ys = [], [], [], [], [], []
        def before_train(self):
            dl = self.learn.dl
            self.types.append(type(dl).__name__)
            self.loaders.append(type(self.learn.dls.train).__name__)   # learn.dls: fastai's DistributedDLs
            self.ys.append([])
            if 'get_idxs' in vars(dl): return
            get_idxs = dl.get_idxs
            def recording():
                shard = get_idxs()
                self.shards.append(np.array(shard)); self.epochs.append(np.array(dl.last_idxs))
                self.seeds.append(dl.resampler.seed); self.codes = dl.resampler.labels.codes
                return shard
            dl.get_idxs = recording
        def after_batch(self):
            if self.training: self.ys[-1].append(self.yb[0].view(-1).numpy().copy())

    rng = np.random.default_rng(0)
    n = 600
    y = np.where(np.arange(n) % 20 == 0, 'c', np.where(np.arange(n) % 5 == 0, 'b', 'a'))
    df = pd.DataFrame({'x': rng.normal(size=n) + (y == 'b') + 2 * (y == 'c'), 'y': y})
    to = TabularPandas(df, cont_names=['x'], y_names='y', y_block=CategoryBlock(),
                       splits=[list(range(499)), list(range(499, 600))])

    def run(dls, fit_cbs, cbs=DistributedSampling, n_epoch=2):
        learn = tabular_learner(dls, layers=[8], cbs=cbs and cbs())
        rec = Record()
        with learn.no_bar(), learn.no_logging(), learn.distrib_ctx(sync_bn=False, cpu=True):
            learn.fit(n_epoch, 1e-2, cbs=[*fit_cbs, rec])
            if cbs is None: return dict(types=rec.types, shards=rec.shards, epochs=rec.epochs, valid_loss=learn.recorder.values[-1][1])
            preds, targs = learn.get_preds()
        with learn.no_bar(): _, after = learn.get_preds()   # after the context, the process group still up: fastai still gathers
        valid_targs = torch.cat([b[-1] for b in dls.valid]).view(-1).numpy()
        params = torch.cat([p.detach().view(-1) for p in learn.model.parameters()]).numpy()
        return dict(types=rec.types, loaders=rec.loaders, shards=rec.shards, epochs=rec.epochs, seeds=rec.seeds, ys=rec.ys, codes=rec.codes,
                    params=params, preds=preds.numpy(), targs=targs.view(-1).numpy(), valid_targs=valid_targs, after=after.view(-1).numpy())

    res['A'] = run(to.dataloaders(bs=32), [OverSamplingCallback()])
    res['E'] = run(to.dataloaders(bs=32), [OverSamplingCallback()], cbs=None, n_epoch=1)   # no DistributedSampling: validation on gloo too
    torch.manual_seed(1000 + rank)                    # each rank's factory draws its own seed
    wdls = weighted_dataloaders(to, bs=32)
    seed_before = wdls.train.resampler.seed
    if rank == 0: wdls.train.one_batch()              # rank 0 alone draws an epoch: the counters drift
    res['B'] = {**run(wdls, []), 'seed_before': seed_before}
    try: run(weighted_dataloaders(to, bs=64, strategy='undersample', drop_last=True, seed=0), [])   # 75 rows: one batch, but 38 a rank
    except ValueError as e: res['F'] = str(e)
    try: run(weighted_dataloaders(to, bs=32, seed=0), [], cbs=None, n_epoch=1)   # no DistributedSampling: fastai's DistributedDL draws
    except ValueError as e: res['G'] = str(e)

    codes = res['A']['codes']
    s = ImbalancedDatasetSampler(torch.utils.data.TensorDataset(torch.arange(len(codes))), labels=codes, distributed=True)
    shards = []
    for epoch in range(2):
        s.set_epoch(epoch)
        shards.append(np.fromiter(s, dtype=np.int64))
    res['C'] = dict(seed=s.resampler.seed, shards=shards, codes=codes)

    spec = importlib.util.spec_from_file_location('train_distributed', ROOT / 'examples' / 'train_distributed.py')
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    per_rank, whole = example.main(epochs=1)
    res['D'] = dict(per_rank=per_rank, whole=whole)

    with open(Path(out) / f'rank{rank}.pkl', 'wb') as f: pickle.dump(res, f)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    # Leave without interpreter finalization: gloo's worker threads can still be torn down there, which aborts the process
    # now and then ("terminate called without an active exception", SIGABRT) after every result is written
    sys.stdout.flush(); sys.stderr.flush(); os._exit(0)


if __name__ == '__main__': _worker(sys.argv[1])


def test_repeat_factor_ranks_agree_on_lengths_once_aligned():
    "A repeat-factor epoch's length depends on the seed: once aligned, ranks built with other seeds agree on len and yield it"
    y = _labels(200)
    dls = [SimShardedDL(_rdl(y, seed=10 + r, bs=8, strategy='repeat_factor', thresh=0.5), r, 2) for r in range(2)]
    assert dls[0].dl.resampler.epoch_length() != dls[1].dl.resampler.epoch_length()   # the seeds' first epochs differ
    for dl in dls: dl.align()                                                         # rank 0 first
    rows = -(-dls[0].dl.resampler.epoch_length() // 2)                               # per rank, padding included
    assert [len(dl) for dl in dls] == [rows // 8 + (rows % 8 > 0)] * 2
    for _ in range(3):
        lens = [len(dl) for dl in dls]
        assert [len(list(dl)) for dl in dls] == lens and lens[0] == lens[1]
