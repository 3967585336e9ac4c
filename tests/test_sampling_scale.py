"Sampling above 2**24 rows, where `torch.multinomial` (and so `WeightedRandomSampler`) refuses: indices stay exact"
import numpy as np, pytest
from imbalance_fastai.core import Labels
from imbalance_fastai.sampling import Resampler

N_HEAD = 2**24   # torch.multinomial's limit on categories
N_TAIL = 10      # rows past the limit, all of the rare class
N = N_HEAD+N_TAIL

@pytest.fixture(scope='module')
def lbls():
    "Classes 0 and 1 (about 70/30) mixed at random over the first 2**24 rows; class 2 is only the last 10 rows"
    codes = np.full(N, 2, dtype=np.int64)
    codes[:N_HEAD] = np.random.default_rng(0).integers(0, 10, N_HEAD, dtype=np.int8) < 3
    return Labels(codes, ['major', 'minor', 'rare'])

def test_oversample_above_2_24(lbls):
    idxs = Resampler(lbls, seed=0).sample()
    assert len(idxs)==N
    assert idxs.min()>=0 and idxs.max()<N, (idxs.min(), idxs.max())
    drawn = lbls.codes[idxs]
    counts = np.bincount(drawn, minlength=3)
    assert counts.max()-counts.min()<=1, counts   # balanced: N split into 3 equal parts
    np.testing.assert_array_equal(np.unique(idxs[drawn==2]), np.arange(N_HEAD, N))   # all rows past 2**24 drawn, only they are 'rare'
    assert idxs[drawn!=2].max()>N_HEAD-1000   # the other classes are drawn up to the end of their rows

def test_undersample_above_2_24(lbls):
    idxs = Resampler(lbls, strategy='undersample', seed=0).sample()
    assert len(idxs)==3*N_TAIL and len(np.unique(idxs))==len(idxs)   # 10 rows per class, without replacement
    np.testing.assert_array_equal(np.bincount(lbls.codes[idxs], minlength=3), [N_TAIL]*3)
    np.testing.assert_array_equal(np.sort(idxs[lbls.codes[idxs]==2]), np.arange(N_HEAD, N))
