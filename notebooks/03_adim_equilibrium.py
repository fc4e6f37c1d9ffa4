# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill overrides these; `make test` sets SMOKE = True).
SMOKE = False
DEVICE = "auto"  # exact games run on the CPU in float64 whatever this says
INTERACTIVE = False
SEED = 0
N_CONTEXTS = 32  # contexts x of the random distributions used by the checks
N_LABELS = 4
STEPS = 3000  # gradient steps per game
LR = 0.5
OMEGA = (0.2, 0.5, 0.3)  # (omega_r, omega_s, omega_t) on the open simplex (Eq. 6)
NU = 1.0  # weight of L_KD(p_t || p_s), which trains the student
MU = 1.0  # weight of L_KD(p_s || p_t), which trains the teacher
UPSILON = 0.5  # weight of KL(p_r || .) inside L_KD (Eq. 2); also the ratio held fixed in Lemmas 4.6 and 4.7
EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)  # 1 - omega_s (or 1 - omega_t) along the lemma paths

# %%
if SMOKE:
    N_CONTEXTS = 4

# %% [markdown]
# # 03 · ADIM: a multi-class discriminator, and an equilibrium without distillation
#
# ADIM (TPAMI Section 4.2) gives the discriminator three classes, real, student and teacher, with probabilities
# $D_r + D_s + D_t = 1$:
#
# $$\min_{\theta_s,\theta_t}\max_{\theta_d} V_{ADIM} = \sum_{i\in\{r,s,t\}} \omega_i\, \mathbb{E}_{y\sim p_i}[\log D_i(x,y)]
#   + \nu\, L_{KD}(p_t\|p_s) + \mu\, L_{KD}(p_s\|p_t), \qquad (6)$$
#
# with $\omega_r + \omega_s + \omega_t = 1$, all positive.
#
# * **Lemma 4.3.** The best discriminator is $D_i^*(x,y) = \omega_i p_i(y\mid x) / \bar p(y\mid x)$, with
#   $\bar p = \omega_r p_r + \omega_s p_s + \omega_t p_t$.
# * **Theorem 4.4.** At $D^*$, $V_{ADIM} = \sum_i \omega_i\log\omega_i + \sum_i \omega_i KL(p_i\|\bar p) + \nu L_{KD} + \mu L_{KD}$.
#   The middle term, a generalised Jensen-Shannon divergence, is zero only when $p_r = p_s = p_t$, **even with
#   $\nu = \mu = 0$**. The equilibrium value is $\log(\omega_r^{\omega_r}\omega_s^{\omega_s}\omega_t^{\omega_t})$.
# * **Lemmas 4.6 and 4.7** connect the adversarial losses to the distillation losses in the limits
#   $\omega_s \to 1$ and $\omega_t \to 1$.

# %%
import torch

from advdist_lab import course, theory, viz
from advdist_lab.theory import solver, theorems

nb = course.setup_notebook("03_adim_equilibrium", smoke=SMOKE, device="cpu", seed=SEED)  # exact games: the CPU, float64

p_r = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED)
p_s = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED + 1)
p_t = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED + 2)
print(f"{N_CONTEXTS} contexts x {N_LABELS} labels; omega = {OMEGA}, nu = {NU}, mu = {MU}, upsilon = {UPSILON}")

# %% [markdown]
# ## Lemma 4.3: the optimal multi-class discriminator
#
# Found numerically by maximising Eq. 6 with L-BFGS over unconstrained logits, $D = \mathrm{softmax}$ over the
# three classes, and compared with the closed form.

# %%
check = theorems.lemma_4_3(p_r, p_s, p_t, OMEGA)
print(check)
assert check.passed

# %% [markdown]
# ## Theorem 4.4, with and without the distillation losses

# %%
all_checks = []
for nu, mu in ((0.0, 0.0), (NU, MU)):
    print(f"nu = {nu}, mu = {mu}")
    checks = theorems.theorem_4_4(p_r, p_s, p_t, OMEGA, nu, mu, UPSILON)
    for check in checks:
        print("  ", check)
    all_checks += checks
assert all(check.passed for check in all_checks)

# %% [markdown]
# The equilibrium value depends on $\omega$ only. For a few points of the simplex, the value at
# $p_s = p_t = p_r$ next to $\sum_i\omega_i\log\omega_i$:

# %%
for omega in ((1 / 3, 1 / 3, 1 / 3), (0.2, 0.5, 0.3), (0.6, 0.2, 0.2), (0.05, 0.9, 0.05)):
    value = theory.adim_optimal_value(p_r, p_r, p_r, omega).item()
    print(
        f"omega = ({omega[0]:.3f}, {omega[1]:.3f}, {omega[2]:.3f}): value {value:+.6f}, "
        f"sum omega log omega {theory.adim_equilibrium_value(omega):+.6f}"
    )

# %% [markdown]
# ## ADIM vs ADIB without distillation, on the simplex
#
# Same start, same step size, $\nu = \mu = 0$, learned discriminators. ADIB's binary discriminator only moves the
# mixture (notebook 02); ADIM's three-class discriminator moves each player.

# %%
p_r3 = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
p_s3 = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
p_t3 = torch.tensor([0.2, 0.7, 0.1], dtype=torch.float64)
adim = solver.solve_game(p_r3, "adim", omega=OMEGA, steps=STEPS, lr=LR, p_s0=p_s3, p_t0=p_t3)
adib = solver.solve_game(
    p_r3,
    "adib",
    omega=(OMEGA[1] / (OMEGA[1] + OMEGA[2]), OMEGA[2] / (OMEGA[1] + OMEGA[2])),
    steps=STEPS,
    lr=LR,
    p_s0=p_s3,
    p_t0=p_t3,
)
for name, run in (("ADIM", adim), ("ADIB", adib)):
    print(
        f"{name}: KL(p_r||p_s) = {run.kl_to_real('student')[-1].item():.2e}, "
        f"KL(p_r||p_t) = {run.kl_to_real('teacher')[-1].item():.2e}, "
        f"final value {run.value[-1].item():+.6f} (equilibrium {run.equilibrium_value:+.6f})"
    )
assert adim.kl_to_real("student")[-1] < 1e-6 and adim.kl_to_real("teacher")[-1] < 1e-6

# %%
viz.ternary_trajectories(adim, title="ADIM with nu = mu = 0: both players reach p_r")

# %%
viz.kl_curves({"ADIM student": adim, "ADIB student": adib}, title="Student's distance to p_r, no distillation terms")

# %%
viz.value_curve(adim, title="ADIM's value approaches sum omega log omega (Theorem 4.4)")

# %% [markdown]
# ## Lemmas 4.6 and 4.7, stated precisely
#
# TPAMI writes Lemma 4.6 as $\lim_{\omega_s\to 1} V^*_{ADIM}/\omega_t = KL(p_t\|p_s) + \upsilon KL(p_r\|p_s)$ with
# $\upsilon = \omega_r/\omega_t$ held fixed (and Lemma 4.7 symmetrically, dividing by $\omega_s$ as
# $\omega_t \to 1$). **Read literally this is false:** $V^*_{ADIM}$ contains the constant
# $\sum_i\omega_i\log\omega_i$, and divided by $\omega_t$ it diverges like $(1+\upsilon)\log\epsilon$ as
# $\epsilon = 1-\omega_s \to 0$. The proof in the paper silently works with the divergence part only. The true
# statement is
# $$\lim_{\omega_s\to 1}\ \frac{V^*_{ADIM} - \sum_i\omega_i\log\omega_i}{\omega_t} = KL(p_t\|p_s) + \upsilon\, KL(p_r\|p_s),$$
# with $V^*_{ADIM}$ the adversarial part at the optimal discriminator, and the same with $s$ and $t$ swapped for
# Lemma 4.7. Both versions are computed below along $\omega_s = 1-\epsilon$ (or $\omega_t = 1-\epsilon$).

# %%
paths = {}
for player, lemma in (("student", "Lemma 4.6"), ("teacher", "Lemma 4.7")):
    paths[player] = theorems.lemma_path(player, p_r, p_s, p_t, UPSILON, EPSILONS)
    print(f"{lemma} ({player}): limit L_KD = {paths[player][0].limit:.6f}")
    print(f"{'epsilon':>10} {'scaled divergence':>18} {'error':>10} {'V*/omega literal':>17}")
    for point in paths[player]:
        print(
            f"{point.epsilon:>10.0e} {point.scaled_divergence:>18.8f} {point.error:>10.2e} {point.naive_ratio:>17.4f}"
        )

# %%
lemma_checks = [theorems.lemma_4_6_4_7(player, p_r, p_s, p_t, UPSILON, epsilon=min(EPSILONS)) for player in paths]
for check in lemma_checks:
    print(check)
assert all(check.passed for check in lemma_checks)

# %%
viz.lemma_path_figure(
    paths["student"], "Lemma 4.6: the scaled divergence converges (error ~ epsilon); the literal ratio does not"
)

# %%
viz.lemma_path_figure(paths["teacher"], "Lemma 4.7: the same as omega_t -> 1")

# %% [markdown]
# ## Summary
#
# * The optimal discriminators of Lemma 4.3 and the closed form of Theorem 4.4 agree with numerical
#   maximisation and minimisation to the printed errors.
# * ADIM's adversarial losses alone drive both players to $p_r$; ADIB's drive only their mixture there.
# * Lemmas 4.6 and 4.7 hold for the divergence part of the optimal value, with an error that shrinks in
#   proportion to $\epsilon$; the literal ratio diverges. The distillation losses are limits of the adversarial
#   ones, which TPAMI uses to explain why the gradients of the two align for some $\omega$ (notebook on
#   gradient variance, later in the course).

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to predict an outcome before you run anything: write your prediction down, then open the
# folded solution below it, which measures the answer with the same exact games as above.

# %% [markdown]
# **Exercise 1.** Give the three classes equal weights, $\omega = (1/3, 1/3, 1/3)$, and play ADIM with
# $\nu = \mu = 0$ from the start of the simplex section. Predict the value the game ends at (Theorem 4.4), whether
# it lies above or below ADIB's $-\log 4$, and what the *learned* discriminator outputs for each class and label at
# the end (Lemma 4.3 at $p_s = p_t = p_r$). Then check with `solver.solve_game(p_r3, "adim", omega=..., ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
uniform = (1 / 3, 1 / 3, 1 / 3)
run = solver.solve_game(p_r3, "adim", omega=uniform, steps=STEPS, lr=LR, p_s0=p_s3, p_t0=p_t3, record_every=STEPS)
final, target = run.value[-1].item(), theory.adim_equilibrium_value(uniform)
d_gap = (run.d[-1] - 1 / 3).abs().max().item()
print(
    f"final value {final:+.6f}, sum omega log omega = {target:+.6f} (= -log 3), "
    f"{'above' if target > -theory.LOG4 else 'below'} ADIB's -log 4 = {-theory.LOG4:+.6f}"
)
print(f"learned D_r, D_s, D_t at the end: within {d_gap:.1e} of 1/3 at every label (D*_i = omega_i p_r / p_bar)")
assert abs(final - target) < 1e-6 and d_gap < 1e-6

# %% [markdown]
# **Exercise 2.** In notebook 02, ADIB without distillation ended wherever its random start sent it. Play ADIM
# with $\nu = \mu = 0$ and $\omega$ = `OMEGA` from three random starts (`seed=SEED + k`, as notebook 02 did).
# Predict the largest difference between two final students, and between two final teachers. Then check with
# `solver.solve_game(p_r3, "adim", omega=OMEGA, seed=SEED + k, ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
ends = [
    solver.solve_game(p_r3, "adim", omega=OMEGA, steps=STEPS, lr=LR, seed=SEED + k, record_every=STEPS)
    for k in range(3)
]
for k, run in enumerate(ends):
    student, teacher = ([round(v, 4) for v in p[-1].tolist()] for p in (run.p_s, run.p_t))
    print(f"start {k}: p_s -> {student}, p_t -> {teacher}")
spread_s = max((a.p_s[-1] - b.p_s[-1]).abs().max().item() for a in ends for b in ends)
spread_t = max((a.p_t[-1] - b.p_t[-1]).abs().max().item() for a in ends for b in ends)
print(
    f"largest difference between two final students {spread_s:.1e}, between two teachers {spread_t:.1e}: "
    "with three classes the start no longer matters, both players end on p_r (Theorem 4.4)"
)
assert spread_s < 1e-6 and spread_t < 1e-6

# %% [markdown]
# **Exercise 3.** Take $\upsilon = 2$ instead of `UPSILON` in Lemma 4.6. Predict the limit of the scaled divergence
# as $\epsilon = 1 - \omega_s \to 0$ (which distillation loss, in terms of $KL$s you can compute), and by what factor
# its error shrinks each time $\epsilon$ shrinks tenfold. Then check with
# `theorems.lemma_path("student", p_r, p_s, p_t, 2.0, ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
path = theorems.lemma_path("student", p_r, p_s, p_t, 2.0, (1e-3, 1e-4, 1e-5))
direct = (theory.kl(p_t, p_s) + 2.0 * theory.kl(p_r, p_s)).item()
for point in path:
    print(f"epsilon {point.epsilon:.0e}: scaled divergence {point.scaled_divergence:.6f}, error {point.error:.2e}")
shrink = path[-2].error / path[-1].error
print(
    f"limit KL(p_t||p_s) + 2 KL(p_r||p_s) = {direct:.6f} (the lemma path's {path[0].limit:.6f}); the error shrinks "
    f"by {shrink:.2f} for a tenfold smaller epsilon: it is proportional to epsilon"
)
assert abs(direct - path[0].limit) < 1e-12 and path[-1].error < 1e-3 and 8 < shrink < 12

# %% [markdown]
# **Exercise 4.** Lemma 4.6 says that as $\omega_s \to 1$ the divergence part of the value is about $\omega_t$ times
# a distillation loss: the adversarial signal fades with $1 - \omega_s$. Sweep $\omega_s$ over $1/3$, $0.8$ and
# $0.95$ (the other two weights equal) with $\nu = \mu = 0$ from the start of the simplex section. Predict whether
# the student reaches $KL(p_r\|p_s) < 10^{-4}$ faster or slower as $\omega_s$ grows, and roughly by what factor
# between $0.8$ and $0.95$. Then check with `solver.sweep_game(p_r3, "omega_s", [1 / 3, 0.8, 0.95], ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
rows = solver.sweep_game(p_r3, "omega_s", [1 / 3, 0.8, 0.95], p_s0=p_s3, p_t0=p_t3, steps=STEPS, lr=LR, record_every=10)
for row in rows:
    print(
        f"omega_s = {row['omega_s']:.3f}: student within 1e-4 from step {row['student_steps']}, teacher from step "
        f"{row['teacher_steps']}, (1 - omega_s) x student steps = {(1 - row['omega_s']) * row['student_steps']:.0f}"
    )
factor = rows[2]["student_steps"] / rows[1]["student_steps"]
weight_ratio = (1 - rows[1]["omega_s"]) / (1 - rows[2]["omega_s"])
print(
    f"from omega_s = 0.8 to 0.95 the student needs {factor:.2f} times as many steps, for a {weight_ratio:.1f} times "
    f"smaller 1 - omega_s: weighting the student more makes it {'slower' if factor > 1 else 'faster'} "
    "(Lemma 4.6: slower, its adversarial signal scales with omega_t)"
)
