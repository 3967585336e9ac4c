"Fixtures shared by several test files"
import pytest
from trained import trained_setup


@pytest.fixture(scope='session')
def setup():
    "Two tabular learners trained once on 2% positives: oversampled with `PriorCorrection`, and plain (see trained.py)"
    return trained_setup()
