"""The initialisation shock's height-tendency field: its rms is the shock, and gravity waves
launched by unbalanced winds make it larger than the truth's."""

import numpy as np
import pytest
import torch

from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.shock import WAVE_HOURS, height_tendency, height_tendency_field


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    cases = Cases.open(SHIPPED_CASES)
    return np.asarray(cases.truth_state(cases.times[0]), np.float64)


def noisy(truth: np.ndarray, k: float, seed: int = 1) -> np.ndarray:
    """The truth with ageostrophic noise of std ``k`` m/s on the winds."""
    rng = np.random.default_rng(seed)
    wind = np.array([0.0, 1.0, 1.0, 0.0])[:, None, None]
    return truth + k * wind * rng.normal(size=truth.shape)


def rms(fields: np.ndarray) -> np.ndarray:
    return np.sqrt(Grid(*fields.shape[-2:]).area_mean(fields**2))


def test_the_field_is_the_shock_before_its_rms(truth: np.ndarray) -> None:
    states = np.stack([truth, noisy(truth, 3.0)])
    field = height_tendency_field(states)
    assert field.shape == (2, *truth.shape[-2:]) and field.dtype == np.float64
    np.testing.assert_allclose(rms(field), height_tendency(states), rtol=1e-5)
    later = height_tendency_field(states, 1.0, start=WAVE_HOURS - 1.0)
    assert later.shape == field.shape and np.isfinite(later).all()
    np.testing.assert_allclose(
        rms(later), height_tendency(states, 1.0, start=WAVE_HOURS - 1.0), rtol=1e-5
    )
    x = torch.from_numpy(states[:1]).float().requires_grad_(True)
    tensor = height_tendency_field(x)
    assert tuple(tensor.shape) == (1, *truth.shape[-2:]) and tensor.requires_grad
    tensor.square().mean().backward()
    assert float(x.grad.abs().sum()) > 0


def test_unbalanced_winds_ring_where_the_truth_stays_calm(truth: np.ndarray) -> None:
    """Ageostrophic noise on the winds launches gravity waves: the tendency field is larger
    than the truth's in the first hour and still in the 6th, and more so with more noise."""
    states = np.stack([truth, noisy(truth, 1.0), noisy(truth, 3.0)])
    for start in (0.0, WAVE_HOURS - 1.0):
        shock = rms(height_tendency_field(states, 1.0, start=start))
        assert shock[0] < shock[1] < shock[2], (start, shock)
        assert shock[2] > 1.5 * shock[0], (start, shock)


@pytest.mark.parametrize(
    "bad, kw",
    [
        (np.zeros((4, 32, 64)), {}),
        (np.zeros((1, 0, 32, 64)), {}),
        (np.zeros((1, 4, 32, 64)), {"hours": 0.0}),
        (np.zeros((1, 4, 32, 64)), {"start": -1.0}),
        (np.zeros((1, 4, 32, 64)), {"hours": float("nan")}),
    ],
)
def test_bad_input_is_refused(bad: np.ndarray, kw: dict) -> None:
    with pytest.raises(ValueError, match="states must be|need hours"):
        height_tendency_field(bad, **kw)
