"""Why MMPS barely fitted the observations: probe of its linear algebra, and a table of variants.

Run (2-core CPU, one thread; prints figures, asserts nothing; see ``docs/mmps.md``):

    python benchmarks/mmps_diagnostics.py --probe
    python benchmarks/mmps_diagnostics.py --cases assets/test_cases.nc --variants plain:1,white:1

``--probe``: one case (the first of ``--cases``, 1 % random observations). The truth's sampler
variable x0 is noised to x_t at a few diffusion times; at each it prints the size of the
Tweedie covariance gamma_t J (trace per dimension beside the actual squared error of x_hat),
how far J is from symmetric, its Rayleigh quotient, the fit (per variable: z u v tracer, rms
of (y - A(x_hat)) / sigma_y) of x_hat and of the MMPS-moved x_hat after 1, 3 and 10 GMRES
iterations, plain and whitened, with GMRES's relative residual (whitened norm) and
r^T M^-1 r / n_obs (about 1 when M is the right covariance of y given x_t). Also prints the
VAE's representation error of the background per variable, in observation errors.

Table: ``--n-cases`` cases of ``--cases`` evenly spread, case k observed at 1 % (seed k) and
sampled with seed k, ``--members`` members, ``--steps`` steps. Rows: the background, 3D-Var,
each ``--variants`` entry (``plain:N`` / ``white:N``: MMPS with N GMRES iterations, solving
with M or whitened by Sigma_y; ``dps``: the DPS default) with O-A (mean over cases), O-A per
variable, analysis MSE (normalised, of the members' mean) over 3D-Var's (ratio of the means
over cases), the same less the sampling noise of a finite ensemble (MSE - spread^2 / members:
the MSE an infinite ensemble's mean would have), spread/skill and seconds per analysis.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import numpy as np
import torch
from azula.linalg.covariance import DiagonalCovariance
from azula.linalg.solve import gmres
from torch.nn.attention import SDPBackend, sdpa_kernel

import alignda.model.guidance as guidance
from alignda.analysis.score import SampleCodec, SamplerSettings, latent_background
from alignda.bundle import load_bundle
from alignda.experiment import DEFAULT
from alignda.model.guidance import LatentObservation, MMPSDenoiser, vjp_jvp
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import observe_case
from alignda.world.cases import Cases

DENSITY = 0.01
VARIABLES = ("z", "u", "v", "q")


@contextmanager
def mmps_variant(iterations: int, whiten: bool):
    """The ``mmps`` guidance mode temporarily built with these GMRES settings."""
    old = guidance.GUIDANCES["mmps"]
    guidance.GUIDANCES["mmps"] = lambda den, obs, zeta, gamma, its: MMPSDenoiser(
        den, obs, DiagonalCovariance(obs.std**2), iterations, whiten=whiten
    )
    try:
        yield
    finally:
        guidance.GUIDANCES["mmps"] = old


def variable_of_obs(obs) -> np.ndarray:
    """The variable index (0..3) of each observed value, in LatentObservation's order."""
    return np.broadcast_to(np.arange(obs.mask.shape[0]).reshape(-1, 1, 1), obs.mask.shape)[obs.mask]


def per_variable(r: np.ndarray, var: np.ndarray) -> str:
    """rms of normalised residuals r (n_obs,) per variable."""
    return " ".join(f"{np.sqrt(np.mean(r[var == k] ** 2)):5.2f}" for k in range(len(VARIABLES)))


def probe(bundle, cases: Cases, times=(0.9, 0.6, 0.3, 0.1, 0.03)) -> None:
    """The linear algebra of one MMPS step at several noise levels (module docstring)."""
    den, codec = prior_denoiser(bundle.prior), bundle.codec
    t0 = cases.times[0]
    truth, bg = cases.truth_state(t0), cases.background_state(t0)
    obs = observe_case(truth, 0, density=DENSITY)
    zb = latent_background(codec, bg)
    view = SampleCodec(codec, den, zb)
    lobs = LatentObservation(view.decode, view.encode, obs, scale=codec.stats.std)
    var, s = variable_of_obs(obs), lobs.std
    with torch.no_grad():
        x0 = view.encode(torch.as_tensor(truth[None], dtype=torch.float32))
        rec = view.codec.decode(zb)[0].numpy()
    rep = np.sqrt(((rec - bg) ** 2).mean(axis=(-2, -1))) / obs.noise_std
    g = torch.Generator().manual_seed(0)
    print(f"probe: first case, {obs.count} observations; fit per variable {' '.join(VARIABLES)}")
    print(f"representation error rms(decode(encode(x_b)) - x_b) / sigma_y: {np.round(rep, 3)}")
    for tt in times:
        t = torch.tensor(tt)
        alpha, sigma = den.schedule(t)
        gam = sigma**2 / alpha
        x_t = (alpha * x0 + sigma * torch.randn(x0.shape, generator=g)).requires_grad_()
        with sdpa_kernel(SDPBackend.MATH):  # double backward through attention (J v)
            x_hat = den(x_t, t, z_b=zb).mean
        y_hat = lobs(x_hat)
        r = (lobs.y - y_hat).detach()
        a_v = vjp_jvp(y_hat, x_hat)
        j_v = vjp_jvp(x_hat, x_t)

        def jt_v(v, x_hat=x_hat, x_t=x_t):
            return torch.autograd.grad(x_hat, x_t, v, retain_graph=True)[0]

        def m(w, y_hat=y_hat, x_hat=x_hat, a_v=a_v, jt_v=jt_v, gam=gam):
            at_w = torch.autograd.grad(y_hat, x_hat, w, retain_graph=True)[0]
            return s**2 * w + a_v(gam * jt_v(at_w))

        zs = [torch.randn(x0.shape, generator=g) for _ in range(4)]
        with sdpa_kernel(SDPBackend.MATH):
            jz = [j_v(z) for z in zs]
        trace = gam.item() * np.mean(
            [(z * j).sum().item() / z.numel() for z, j in zip(zs, jz, strict=True)]
        )
        asym = np.mean(
            [((j - jt_v(z)).norm() / j.norm()).item() for z, j in zip(zs, jz, strict=True)]
        )
        rayleigh = np.mean(
            [((z * j).sum() / (z * z).sum()).item() for z, j in zip(zs, jz, strict=True)]
        )
        err2 = (x_hat.detach() - x0).pow(2).mean().item()
        print(
            f"t {tt}: gamma {gam.item():.3g}; |x_hat - x0|^2/d {err2:.3g}, gamma tr(J)/d "
            f"{trace:.3g}; |Jv - J^T v|/|Jv| {asym:.2f}; v^T J v / v^T v {rayleigh:.3f}; "
            f"fit of x_hat {per_variable((r / s).numpy().ravel(), var)}"
        )
        for whiten in (False, True):
            for its in (1, 3, 10):
                with sdpa_kernel(SDPBackend.MATH):
                    if whiten:
                        w = gmres(lambda u, m=m: m(u / s) / s, r / s, iterations=its) / s
                    else:
                        w = gmres(m, r, iterations=its)
                    rel = (((m(w) - r) / s).norm() / (r / s).norm()).item()
                shift = torch.autograd.grad(y_hat, x_t, w, retain_graph=True)[0]
                with torch.no_grad():
                    r_new = (lobs.y - lobs(x_hat.detach() + gam * shift)) / s
                chi2 = (r * w).sum().item() / r.numel()
                print(
                    f"    {'whitened' if whiten else 'plain':<8} {its:>2} its: relative "
                    f"residual {rel:.3f}, r^T M^-1 r / n {chi2:.2f}, fit after "
                    f"{per_variable(r_new.numpy().ravel(), var)}"
                )


def table(bundle, args) -> None:
    """The variants' table (module docstring)."""
    torch.set_grad_enabled(False)
    std = np.asarray(bundle.stats.std, dtype=np.float64)
    cases = Cases.open(args.cases)
    times = cases.times[np.linspace(0, len(cases) - 1, args.n_cases).astype(int)]
    truth = [cases.truth_state(t) for t in times]
    bg = [cases.background_state(t) for t in times]
    obs = [observe_case(x, k, density=DENSITY) for k, x in enumerate(truth)]
    var = [variable_of_obs(o) for o in obs]

    def mse(a: np.ndarray, x: np.ndarray) -> float:
        return float(np.mean(((a - x) ** 2).mean(axis=(-2, -1)) / std**2))

    def fit_per_variable(state: np.ndarray) -> str:
        r = [
            ((o.values - state[k]) / o.noise_std.reshape(-1, 1, 1))[o.mask]
            for k, o in enumerate(obs)
        ]
        return per_variable(np.concatenate(r), np.concatenate(var))

    ref = [bundle.variational().analyse(b, o) for b, o in zip(bg, obs, strict=True)]
    ref_mse = np.mean([mse(a.mean, x) for a, x in zip(ref, truth, strict=True)])
    print(
        f"# {args.cases}: {len(times)} cases, random {DENSITY:.0%} observations, "
        f"{args.members} members, {args.steps} steps; O-A per variable: {' '.join(VARIABLES)}"
    )
    print(
        f"{'method':<14}{'O-A':>6}   {'O-A per variable':<24}{'MSE x3DVar':>11}"
        f"{'inf mem':>8}{'ss':>6}{'s':>7}"
    )
    ob = np.mean([o.misfit(b) for o, b in zip(obs, bg, strict=True)])
    print(
        f"{'background':<14}{ob:>6.2f}   {fit_per_variable(np.stack(bg)):<24}"
        f"{np.mean([mse(b, x) for b, x in zip(bg, truth, strict=True)]) / ref_mse:>11.2f}"
    )
    oa = np.mean([a.fit.analysis for a in ref])
    secs = np.mean([a.seconds for a in ref])
    print(
        f"{'3D-Var':<14}{oa:>6.2f}   {fit_per_variable(np.stack([a.mean for a in ref])):<24}"
        f"{1.0:>11.2f}{'':>8}{'':>6}{secs:>7.1f}"
    )
    for name in args.variants.split(","):
        kind, _, its = name.partition(":")
        mode, whiten = KINDS[kind]
        variant = mmps_variant(int(its or 1), whiten)
        method = bundle.prior_method(SamplerSettings(mode, args.steps, members=args.members))
        with variant:
            out = [
                method.analyse(b, o, seed=k) for k, (b, o) in enumerate(zip(bg, obs, strict=True))
            ]
        err = np.mean([mse(a.mean, x) for a, x in zip(out, truth, strict=True)])
        spread2 = np.mean([np.mean((a.spread**2).mean(axis=(-2, -1)) / std**2) for a in out])
        print(
            f"{name:<14}{np.mean([a.fit.analysis for a in out]):>6.2f}   "
            f"{fit_per_variable(np.stack([a.mean for a in out])):<24}{err / ref_mse:>11.2f}"
            f"{(err - spread2 / args.members) / ref_mse:>8.2f}{np.sqrt(spread2 / err):>6.2f}"
            f"{np.mean([a.seconds for a in out]):>7.1f}",
            flush=True,
        )


#: A variant's kind -> (guidance mode, whether MMPS's solve is whitened); "plain:5" is MMPS
#: unwhitened with 5 GMRES iterations, "dps" the DPS guidance for comparison.
KINDS = {"plain": ("mmps", False), "white": ("mmps", True), "dps": ("dps", True)}


def main() -> None:
    """Probe or table (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", default="assets/test_cases.nc")
    p.add_argument("--n-cases", dest="n_cases", type=int, default=4)
    p.add_argument("--members", type=int, default=2)
    p.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    p.add_argument("--variants", default="plain:1,white:1")
    p.add_argument("--probe", action="store_true", help="the one-step probe instead of the table")
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    bundle = load_bundle()
    if args.probe:
        probe(bundle, Cases.open(args.cases))
    else:
        table(bundle, args)
    print(f"# {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
