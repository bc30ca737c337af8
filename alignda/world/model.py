"""The twin world: a forced-dissipative global shallow-water model with a passive tracer.

Vorticity-divergence form, spectral transform method on a T42 Gaussian grid (torch-harmonics),
classic RK4 time stepping. The prognostic spectra are, in channel order:
geopotential anomaly ``phi' = g (h - H)``, relative vorticity, divergence, tracer.

Forcing and damping keep long runs statistically stationary:
- Newtonian relaxation of the height towards a balanced zonal state with mid-latitude jets
  (a "radiative" forcing that keeps rebuilding barotropically unstable jets),
- red-noise (AR(1)) stochastic vorticity forcing at synoptic scales (weather variability),
- optionally a steady vorticity forcing at the same scales, one fixed pattern of the world
  (like its orography and land-sea contrast): a deterministic energy source whose flow is
  turbulent and chaotic, so errors grow by themselves,
- Rayleigh drag on the winds, relaxation of the tracer to a pole-to-pole gradient,
- del^8 hyperdiffusion.

The *imperfect* model used for backgrounds (:meth:`WorldConfig.imperfect`) has no stochastic
forcing, a weaker steady forcing, and different drag, relaxation and hyperdiffusion, by
``model_error`` (1: world v1's differences).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from alignda.world.grid import Grid
from alignda.world.sphere import GRAVITY, Sphere

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the shallow-water world (SI units unless stated)."""

    nlat: int = 64
    nlon: int = 128
    dt: float = 1200.0
    mean_depth: float = 5500.0  # m, mean height (like a 500 hPa surface)
    jet_speed: float = 45.0  # m/s, equilibrium jet maximum
    jet_lat: float = 45.0  # deg, equilibrium jet latitude (both hemispheres)
    jet_width: float = 10.0  # deg, e-folding half width
    relax_days: float = 5.0  # height relaxation time scale
    drag_days: float = 12.0  # Rayleigh drag on vorticity and divergence
    hyperdiff_hours: float = 6.0  # e-folding time of the smallest resolved scale
    noise_amplitude: float = 1.5e-11  # s-2, rms stochastic vorticity forcing per mode
    noise_lmin: int = 6
    noise_lmax: int = 20
    noise_hours: float = 24.0  # correlation time of the red-noise forcing
    tracer_relax_days: float = 15.0
    steady_amplitude: float = 0.0  # s-2, rms steady vorticity forcing per mode (0: none)
    steady_seed: int = 0  # the steady forcing's pattern (a property of the world)
    model_error: float = 1.0  # how far the imperfect model is from this one (1: world v1's)

    def imperfect(self) -> WorldConfig:
        """The forecast model of the backgrounds: no stochastic forcing, other dissipation."""
        m = self.model_error

        def off(factor: float) -> float:  # world v1's factor at model_error 1
            return 1.0 + m * (factor - 1.0)

        return replace(
            self,
            noise_amplitude=0.0,
            drag_days=self.drag_days * off(0.6),
            relax_days=self.relax_days * off(1.5),
            hyperdiff_hours=self.hyperdiff_hours * off(0.5),
            jet_speed=self.jet_speed * off(0.9),
            tracer_relax_days=self.tracer_relax_days * off(2.0),
            steady_amplitude=self.steady_amplitude * off(0.9),
            model_error=0.0,
        )

    def steps(self, hours: float) -> int:
        """Time steps in ``hours`` (rounded to the nearest step)."""
        return int(round(hours * HOUR / self.dt))

    @property
    def steps_per_6h(self) -> int:
        """Time steps per 6-hourly output interval."""
        n = 6 * HOUR / self.dt
        if abs(n - round(n)) > 1e-9:
            raise ValueError(f"dt={self.dt} s does not divide 6 h")
        return int(round(n))

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for manifests and netCDF attributes."""
        return asdict(self)

    @classmethod
    def of_generation(cls, record: Mapping | str | None) -> WorldConfig:
        """The truth's world of a generation ``record`` (its config as the dict or JSON that
        case files and manifests keep); world v1's where none is recorded."""
        if isinstance(record, str):
            record = json.loads(record)
        return cls(**(record or {}).get("world", {}))


class ShallowWaterModel(torch.nn.Module):
    """The world model. State: complex spectra (batch, 4, lmax, mmax), see module docstring."""

    def __init__(self, config: WorldConfig | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.config = cfg = config or WorldConfig()
        self.sphere = sp = Sphere(Grid(cfg.nlat, cfg.nlon), dtype=dtype)
        self.dtype = dtype
        self.phibar = GRAVITY * cfg.mean_depth
        lat = torch.from_numpy(np.deg2rad(sp.grid.lat)).to(dtype).reshape(-1, 1)
        # Equilibrium: balanced zonal jets, tracer gradient from pole to pole.
        ueq = sum(
            jet_profile(sign * lat, cfg.jet_speed, cfg.jet_lat, cfg.jet_width) for sign in (1, -1)
        ).expand(*sp.grid.shape)
        vrt_eq, _ = sp.vrtdiv(ueq, torch.zeros_like(ueq))
        self.register_buffer("phi_eq", sp.balanced_geopotential(vrt_eq))
        self.register_buffer("tracer_eq", sp.to_spec(0.5 * (1.0 + torch.sin(lat)).expand_as(ueq)))
        self.register_buffer("hyperdiff", sp.spectral_filter(4) / (cfg.hyperdiff_hours * HOUR))
        ell = sp.ell
        band = (ell >= cfg.noise_lmin) & (ell <= cfg.noise_lmax)
        band &= torch.ones_like(ell, dtype=torch.bool).tril()  # m <= l
        self.register_buffer("noise_band", band)
        pattern = torch.Generator().manual_seed(cfg.steady_seed)
        self.register_buffer("steady", self._white(1, pattern)[0] * cfg.steady_amplitude)

    # --- physical <-> spectral -------------------------------------------------------------
    def to_physical(self, s: torch.Tensor) -> torch.Tensor:
        """Spectral state -> physical fields (batch, 4, nlat, nlon): z (m), u, v (m/s), tracer."""
        sp = self.sphere
        grid = sp.to_grid(s[:, [0, 3]])
        u, v = sp.uv(s[:, 1], s[:, 2])
        z = (grid[:, 0] + self.phibar) / GRAVITY
        return torch.stack((z, u, v, grid[:, 1]), dim=1)

    def from_physical(self, x: torch.Tensor) -> torch.Tensor:
        """Physical fields (batch, 4, nlat, nlon) -> spectral state (projects onto T42)."""
        sp = self.sphere
        x = x.to(self.dtype)
        vrt, div = sp.vrtdiv(x[:, 1], x[:, 2])
        scal = sp.to_spec(torch.stack((GRAVITY * x[:, 0] - self.phibar, x[:, 3]), dim=1))
        return torch.stack((scal[:, 0], vrt, div, scal[:, 1]), dim=1)

    # --- dynamics --------------------------------------------------------------------------
    def tendency(self, s: torch.Tensor, vort_forcing: torch.Tensor | None = None) -> torch.Tensor:
        """Time derivative of the spectral state."""
        sp, cfg = self.sphere, self.config
        phi_s, vrt_s, div_s, q_s = s.unbind(dim=1)
        g = sp.to_grid(s)  # phi', vort, div, tracer on the grid
        phi = g[:, 0] + self.phibar
        u, v = sp.uv(vrt_s, div_s)
        abs_vrt = g[:, 1] + sp.coriolis
        # Three flux vectors in one vector transform: (zeta+f) u, phi u, q u.
        fx = torch.stack((u * abs_vrt, u * phi, u * g[:, 3]), dim=1)
        fy = torch.stack((v * abs_vrt, v * phi, v * g[:, 3]), dim=1)
        curl, div = sp.vrtdiv(fx, fy)
        energy = sp.to_spec(g[:, 0] + 0.5 * (u**2 + v**2))
        dvrt = -div[:, 0] - vrt_s / (cfg.drag_days * DAY) + self.steady
        if vort_forcing is not None:
            dvrt = dvrt + vort_forcing
        ddiv = curl[:, 0] - sp.lap * energy - div_s / (cfg.drag_days * DAY)
        dphi = -div[:, 1] + (self.phi_eq - phi_s) / (cfg.relax_days * DAY)
        dq = -div[:, 2] + sp.to_spec(g[:, 3] * g[:, 2])
        dq = dq + (self.tracer_eq - q_s) / (cfg.tracer_relax_days * DAY)
        out = torch.stack((dphi, dvrt, ddiv, dq), dim=1)
        return out - self.hyperdiff * s

    def step(self, s: torch.Tensor, vort_forcing: torch.Tensor | None = None) -> torch.Tensor:
        """One classic RK4 step of length ``config.dt`` (forcing held fixed over the step)."""
        dt = self.config.dt
        k1 = self.tendency(s, vort_forcing)
        k2 = self.tendency(s + 0.5 * dt * k1, vort_forcing)
        k3 = self.tendency(s + 0.5 * dt * k2, vort_forcing)
        k4 = self.tendency(s + dt * k3, vort_forcing)
        return s + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)

    def new_forcing(self, batch: int, generator: torch.Generator | None) -> torch.Tensor | None:
        """A stationary draw of the red-noise vorticity forcing (None for the imperfect model)."""
        if self.config.noise_amplitude == 0.0:
            return None
        return self._white(batch, generator) * self.config.noise_amplitude

    def _white(self, batch: int, generator: torch.Generator | None) -> torch.Tensor:
        shape = (batch, *self.noise_band.shape)
        # Drawn on the CPU (the same stream on any device), then moved to the model's device.
        re = torch.randn(shape, generator=generator, dtype=self.dtype)
        im = torch.randn(shape, generator=generator, dtype=self.dtype)
        im[..., 0] = 0.0  # m = 0 coefficients of a real field are real
        return torch.complex(re, im).to(self.noise_band.device) * self.noise_band

    def advance_forcing(self, f: torch.Tensor | None, generator: torch.Generator | None):
        """AR(1) update of the forcing over one time step."""
        if f is None:
            return None
        a = math.exp(-self.config.dt / (self.config.noise_hours * HOUR))
        noise = self._white(f.shape[0], generator) * self.config.noise_amplitude
        return a * f + math.sqrt(1 - a * a) * noise

    def run(
        self,
        s: torch.Tensor,
        steps: int,
        forcing: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        grad: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integrate ``steps`` steps; returns the final state and forcing. Without gradients
        unless ``grad`` (then under the caller's grad mode: backpropagation through every step)."""
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            for _ in range(steps):
                s = self.step(s, forcing)
                forcing = self.advance_forcing(forcing, generator)
        if not torch.isfinite(torch.view_as_real(s)).all():
            raise FloatingPointError("the shallow-water model blew up (non-finite state)")
        return s, forcing

    def forecast(self, x: torch.Tensor, hours: float, grad: bool = False) -> torch.Tensor:
        """Deterministic forecast of physical states (batch, 4, nlat, nlon) ``hours`` ahead.

        Uses this model's dissipation with no stochastic forcing (what a forecaster runs).
        ``grad``: differentiable with respect to ``x`` (backpropagation through every step).
        """
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            s, _ = self.run(self.from_physical(x), self.config.steps(hours), grad=grad)
            return self.to_physical(s)

    # --- diagnostics -----------------------------------------------------------------------
    def mass(self, s: torch.Tensor) -> torch.Tensor:
        """Global mean geopotential anomaly (the l = 0 coefficient), proportional to mass."""
        return s[:, 0, 0, 0].real

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """Area-mean total energy per unit area / rho: 0.5 h |u|^2 + 0.5 g h^2 (J m-2 kg-1 m3)."""
        x = self.to_physical(s)
        h = x[:, 0]
        e = 0.5 * h * (x[:, 1] ** 2 + x[:, 2] ** 2) + 0.5 * GRAVITY * h**2
        w = torch.from_numpy(self.sphere.grid.weights).to(e).reshape(-1, 1)
        return (e * w).mean(dim=(-2, -1))

    # --- initial states --------------------------------------------------------------------
    def random_state(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random balanced initial states: randomised zonal jets plus synoptic-scale eddies.

        Vorticity from jets of random latitude, speed and width in each hemisphere plus random
        eddies with an l^-1 spectrum over 4 <= l <= 20; zero divergence; height in nonlinear
        balance (so the state is near geostrophic outside the tropics); tracer at equilibrium.
        """
        sp = self.sphere
        dev = self.noise_band.device
        lat = torch.from_numpy(np.deg2rad(sp.grid.lat)).to(dev, self.dtype).reshape(-1, 1)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            r = torch.rand((batch, 1, 1), generator=generator, dtype=self.dtype)
            return lo + (hi - lo) * r.to(dev)

        u = torch.zeros((batch, *sp.grid.shape), dtype=self.dtype, device=dev)
        for sign in (1.0, -1.0):
            u = u + jet_profile(
                lat * sign, uniform(20.0, 45.0), uniform(30.0, 55.0), uniform(6.0, 12.0)
            )
        vrt, _ = sp.vrtdiv(u, torch.zeros_like(u))
        band = (sp.ell >= 4) & (sp.ell <= 20)
        eddy = self._white(batch, generator) * band / torch.clamp(sp.ell, min=1.0) ** 0.5
        vrt = vrt + eddy * 1.2e-5 / eddy.abs().pow(2).sum((-2, -1), keepdim=True).sqrt().clamp(
            min=1e-30
        )
        phi = sp.balanced_geopotential(vrt)
        q = self.tracer_eq.expand(batch, -1, -1)
        return torch.stack((phi, vrt, torch.zeros_like(vrt), q), dim=1)

    def perturbation(
        self, batch: int, wind_rms: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A balanced random perturbation (spectral state) of given rms wind speed (m/s)."""
        sp = self.sphere
        band = (sp.ell >= 3) & (sp.ell <= 30)
        vrt = self._white(batch, generator) * band
        u, v = sp.uv(vrt, torch.zeros_like(vrt))
        w = torch.from_numpy(sp.grid.weights).to(u).reshape(-1, 1)
        rms = ((u**2 + v**2) * w).mean(dim=(-2, -1)).sqrt().reshape(-1, 1, 1)
        vrt = vrt * (wind_rms / rms)
        phi = sp.balanced_geopotential(vrt)
        zero = torch.zeros_like(vrt)
        return torch.stack((phi, vrt, zero, zero), dim=1)


def jet_profile(lat_rad: torch.Tensor, speed, center_deg, width_deg) -> torch.Tensor:
    """Gaussian zonal jet u(lat) (m/s), vanishing at the poles through a cos(lat) factor."""
    center = torch.deg2rad(torch.as_tensor(center_deg, dtype=lat_rad.dtype))
    width = torch.deg2rad(torch.as_tensor(width_deg, dtype=lat_rad.dtype))
    return speed * torch.exp(-(((lat_rad - center) / width) ** 2)) * torch.cos(lat_rad)
