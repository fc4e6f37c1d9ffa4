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
STEPS = 3000  # gradient steps per game
LR = 0.2  # step size of every player
UPSILON = 0.5  # weight of KL(p_r || p_s) inside the KD loss (TPAMI Eq. 2)
N_CONTEXTS = 64  # random contexts x for the closed-form checks
N_SAMPLES = 400  # independent training samples per size in the teacher-error experiment

# %%
if SMOKE:
    STEPS, N_CONTEXTS, N_SAMPLES = 1000, 8, 50

# %% [markdown]
# # 01 · Knowledge distillation vs a naive GAN, on exact distributions
#
# TPAMI Section 3 sets up two ways to train a student $p_s(y\mid x)$ when a teacher $p_t(y\mid x)$ has
# privileged provisions:
#
# * **Knowledge distillation** (Eq. 1-2). The teacher is trained on the data,
#   $\min_{\theta_t} KL(p_r\|p_t)$ (Eq. 1), then the student learns from both:
#   $$\min_{\theta_s} L_{KD}(p_t\|p_s) = KL(p_t\|p_s) + \upsilon\, KL(p_r\|p_s). \qquad (2)$$
# * **A naive GAN** (NGAN, Eq. 3). A discriminator $D(x,y)$ tells real labels from the student's:
#   $$\min_{\theta_s}\max_{\theta_d} V_{NGAN} = \mathbb{E}_{y\sim p_r}[\log D(x,y)] + \mathbb{E}_{y\sim p_s}[\log(1-D(x,y))]. \qquad (3)$$
#
# The paper's observation: KD converges fast but to the wrong place when the teacher is wrong; NGAN's
# equilibrium is right ($p_s = p_r$) but its training is slow. Here both claims are computed exactly: the label
# space is small enough to sum over, so there is no sampling noise at all, and what remains is the geometry of
# the losses. All quantities come from `advdist_lab.theory` (its exact-game solver is `advdist_lab.theory.solver`).

# %%
import torch

from advdist_lab import course, theory, viz
from advdist_lab.theory import solver, theorems

nb = course.setup_notebook("01_kd_vs_ngan", smoke=SMOKE, device="cpu", seed=SEED)  # exact games: the CPU, float64

p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)  # the real distribution at one input x
p_t = torch.tensor([0.35, 0.5, 0.15], dtype=torch.float64)  # an imperfect teacher
p_s0 = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)  # where the student starts

# %% [markdown]
# ## 0. Where a teacher's error comes from (Eq. 1)
#
# Trained by Eq. 1 on $n$ labelled examples, even a teacher of unlimited capacity learns the **empirical**
# distribution of its sample, not $p_r$. With a little smoothing (a pseudocount of 1/2 per label, so that no
# label gets probability zero) its expected error shrinks roughly like $(K-1)/(2n)$ for $K$ labels. Averaged over
# many independent samples:

# %%
sizes = [10, 30, 100, 300, 1000]
replicas = p_r.expand(N_SAMPLES, -1)  # independent draws of the teacher's training sample
teacher_errors = [
    theory.kl(replicas, theory.empirical_distribution(replicas, n, seed=SEED, pseudocount=0.5)).item() for n in sizes
]
for n, error in zip(sizes, teacher_errors):
    print(f"n = {n:5d}: mean KL(p_r || p_t) = {error:.4f}   (K - 1) / (2n) = {(len(p_r) - 1) / (2 * n):.4f}")
print(f"the imperfect teacher used below: KL(p_r || p_t) = {theory.kl(p_r, p_t).item():.4f}")
viz.line_figure(
    sizes,
    {
        "teacher trained on n samples (Eq. 1)": teacher_errors,
        "(K - 1) / (2n)": [(len(p_r) - 1) / (2 * n) for n in sizes],
    },
    "A teacher's error against the size of its training sample",
    "n (log)",
    "KL(p_r || p_t) (log)",
    log_x=True,
    log_y=True,
)

# %% [markdown]
# The teacher below, $p_t = (0.35, 0.5, 0.15)$, is about as wrong as one trained on ten examples.
#
# ## 1. A KD student inherits its teacher's error
#
# Setting the gradient of $KL(p_t\|q) + \upsilon KL(p_r\|q) + \lambda(\sum_y q(y) - 1)$ to zero gives the
# minimiser of Eq. 2 in closed form:
# $$p_s^{KD} = \frac{p_t + \upsilon\, p_r}{1 + \upsilon}.$$
# It equals $p_r$ only if the teacher is already perfect or $\upsilon\to\infty$ (which discards the teacher).
# First we check the closed form against gradient descent on random distributions over 5 labels.

# %%
ctx_r = theory.random_distributions(N_CONTEXTS, 5, seed=SEED)
ctx_t = theory.random_distributions(N_CONTEXTS, 5, seed=SEED + 1)
ctx_s = theory.random_distributions(N_CONTEXTS, 5, seed=SEED + 2)
# Eq. 2 is convex in the student's distribution, so a large step converges quickly here.
descent = solver.solve_game(
    ctx_r, "kd", p_t0=ctx_t, p_s0=ctx_s, upsilon=UPSILON, steps=STEPS, lr=1.0, record_every=STEPS
)
closed = theory.kd_optimal_student(ctx_r, ctx_t, UPSILON)
kd_check = theorems.Check(
    f"KD minimiser: {STEPS} descent steps on Eq. 2 vs (p_t + upsilon p_r) / (1 + upsilon)",
    float((descent.p_s[-1] - closed).abs().max()),
    1e-6,
)
print(kd_check)
assert kd_check.passed

# %% [markdown]
# The student's remaining error grows with the teacher's. Sweeping $\upsilon$ shows the trade-off: more weight
# on the real data shrinks the error but never removes it at a finite $\upsilon$.

# %%
upsilons = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
kd_errors = [theory.kl(p_r, theory.kd_optimal_student(p_r, p_t, u)).item() for u in upsilons]
teacher_error = theory.kl(p_r, p_t).item()
for u, e in zip(upsilons, kd_errors):
    print(f"upsilon = {u:5.2f}: KL(p_r || p_s) = {e:.4f}")
print(f"teacher's own error KL(p_r || p_t) = {teacher_error:.4f}")
viz.line_figure(
    [max(u, 0.01) for u in upsilons],
    {"KD student": kd_errors, "teacher": [teacher_error] * len(upsilons)},
    "The KD student's error against upsilon (upsilon = 0 drawn at 0.01)",
    "upsilon (log)",
    "KL(p_r || p)",
    log_x=True,
)

# %% [markdown]
# ## 2. NGAN: the right equilibrium, reached slowly
#
# With the optimal discriminator $D^* = p_r/(p_r + p_s)$ (TPAMI Lemma 4.1 with one generator), Eq. 3 becomes
# $2\,JS(p_r\|p_s) - \log 4$, minimised exactly at $p_s = p_r$. In practice the discriminator is not optimal: it
# is trained alongside the student. We play both games by gradient descent-ascent on logits with the same step
# size, NGAN in both the simultaneous and the alternating form, and KD (which has no discriminator) beside them.

# %%
kd = solver.solve_game(p_r, "kd", p_t0=p_t, p_s0=p_s0, upsilon=UPSILON, steps=STEPS, lr=LR)
ngan_sim = solver.solve_game(p_r, "ngan", p_s0=p_s0, steps=STEPS, lr=LR, mode="simultaneous")
ngan_alt = solver.solve_game(p_r, "ngan", p_s0=p_s0, steps=STEPS, lr=LR, mode="alternating")

kd_settled = kd.steps_to_approach(theory.kd_optimal_student(p_r, p_t, UPSILON), 1e-4)

print(
    f"KD settles (|p_s - its optimum| < 1e-4) after {kd_settled} steps, "
    f"at KL(p_r || p_s) = {kd.kl_to_real()[-1].item():.4f}"
)
for name, run in (("NGAN simultaneous", ngan_sim), ("NGAN alternating", ngan_alt)):
    reach = run.steps_to_reach(1e-4)
    print(
        f"{name}: KL(p_r || p_s) < 1e-4 from step {reach}; final KL {run.kl_to_real()[-1].item():.1e}; "
        f"value crosses -log 4 {run.equilibrium_crossings()} times"
    )

# %%
viz.kl_curves(
    {"KD (to its own optimum, not p_r)": kd, "NGAN simultaneous": ngan_sim, "NGAN alternating": ngan_alt},
    title="Distance to the real distribution: KD stalls, NGAN gets there slowly",
)

# %% [markdown]
# The student's path on the simplex: KD goes straight to a point between teacher and truth; NGAN overshoots
# $p_r$ and curls back, pushed around by a discriminator that lags behind it. The decaying ripples of the KL
# curve above are the same chase seen from closer.

# %%
viz.ternary_trajectories(kd, title="KD: straight to the wrong point")

# %%
viz.ternary_trajectories(ngan_sim, title="NGAN (simultaneous): overshoots p_r, then settles on it")

# %%
viz.value_curve(ngan_sim, title="NGAN's value oscillates around its equilibrium -log 4")

# %% [markdown]
# ## What we measured, and what it means
#
# * KD's student converges within a few hundred steps, but to $(p_t + \upsilon p_r)/(1+\upsilon)$: its distance
#   to $p_r$ is bounded below by the teacher's error (the printed $\upsilon$ sweep).
# * NGAN reaches $p_r$, but needs several times as many steps at the same step size, and its value crosses the
#   equilibrium repeatedly: the two players chase each other. These games have **exact** gradients; in real
#   training the student's adversarial gradient is a score-function estimate from sampled labels (Eq. 8, 11)
#   and is much noisier, which is what TPAMI Section 4.3 sets out to reduce.
#
# The exact numbers above are printed by the cells, so they are whatever this run measured. Notebook 02 adds
# the teacher as a third player (ADIB).

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to predict an outcome before you run anything: write your prediction down, then open the
# folded solution below it, which measures the answer with the same exact games as above.

# %% [markdown]
# **Exercise 1.** Put more weight on the real data: set $\upsilon = 4$ in Eq. 2, with the teacher $p_t$ and the
# starting student $p_{s0}$ of Section 2. Predict the distribution the KD student converges to, and whether its
# error $KL(p_r\|p_s)$ falls below a tenth of the teacher's. Then check by running
# `solver.solve_game(p_r, "kd", ..., upsilon=4.0)` for `STEPS` steps at step size `LR`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
upsilon = 4.0
run = solver.solve_game(p_r, "kd", p_t0=p_t, p_s0=p_s0, upsilon=upsilon, steps=STEPS, lr=LR)
fixed_point = theory.kd_optimal_student(p_r, p_t, upsilon)  # (p_t + upsilon p_r) / (1 + upsilon)
gap = (run.p_s[-1] - fixed_point).abs().max().item()
student_kl, teacher_kl = run.kl_to_real()[-1].item(), theory.kl(p_r, p_t).item()
print(
    f"after {STEPS} steps p_s = {[round(v, 4) for v in run.p_s[-1].tolist()]}, "
    f"(p_t + upsilon p_r) / (1 + upsilon) = {[round(v, 4) for v in fixed_point.tolist()]} (largest gap {gap:.1e})"
)
print(
    f"KL(p_r || p_s) = {student_kl:.4f} is {student_kl / teacher_kl:.3f} times the teacher's {teacher_kl:.4f}: "
    f"{'below' if student_kl < teacher_kl / 10 else 'above'} a tenth of it, but not zero at a finite upsilon"
)
assert gap < 1e-8

# %% [markdown]
# **Exercise 2.** NGAN is slow at step size `LR`; is a larger step the cure? Predict how many steps simultaneous
# NGAN needs to stay within $KL(p_r\|p_s) < 10^{-4}$ when the step size is doubled, and doubled again: half as many
# each time, fewer, or more? Then check with `solver.sweep_game(p_r, "lr", [LR, 2 * LR, 4 * LR], method="ngan", ...)`,
# which plays one game per step size.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
rows = solver.sweep_game(p_r, "lr", [LR, 2 * LR, 4 * LR], method="ngan", p_s0=p_s0, steps=STEPS, mode="simultaneous")
for row in rows:
    print(
        f"lr = {row['lr']:.2f}: KL < 1e-4 from step {row['student_steps']} (lr x steps = "
        f"{row['lr'] * row['student_steps']:.1f}), final KL {row['student_kl']:.1e}"
    )
first, second = (rows[k]["student_steps"] / rows[k + 1]["student_steps"] for k in (0, 1))
print(
    f"doubling the step size divides the steps by {first:.2f}, doubling it again by {second:.2f}: "
    "what sets NGAN's progress is lr x steps, so compare methods at the same step size, as Section 2 does"
)
assert all(row["student_kl"] < 1e-4 for row in rows)  # p_s = p_r is NGAN's equilibrium at every step size

# %% [markdown]
# **Exercise 3.** Section 1 shows that the KD student's deviation from $p_r$ is its teacher's deviation divided by
# $1 + \upsilon$, and for small deviations KL is quadratic in them. Predict the ratio
# $KL(p_r\|p_s)/KL(p_r\|p_t)$ for the KD student of a teacher trained on $n = 10, 100, 1000$ examples (Section 0)
# at $\upsilon$ = `UPSILON`, and whether it depends on $n$. Then check with `theory.empirical_distribution` and
# `theory.kd_optimal_student`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
predicted = 1 / (1 + UPSILON) ** 2
for n in (10, 100, 1000):
    teachers = theory.empirical_distribution(replicas, n, seed=SEED, pseudocount=0.5)
    t_kl = theory.kl(replicas, teachers).item()
    s_kl = theory.kl(replicas, theory.kd_optimal_student(replicas, teachers, UPSILON)).item()
    print(f"n = {n:4d}: teacher KL {t_kl:.5f}, KD student KL {s_kl:.5f}, ratio {s_kl / t_kl:.4f}")
print(
    f"1 / (1 + upsilon)^2 = {predicted:.4f}: the KD student keeps that fraction of its teacher's error at every n "
    f"(off by {abs(s_kl / t_kl - predicted):.4f} at n = 1000, where the errors are smallest)"
)
assert abs(s_kl / t_kl - predicted) < 0.02

# %% [markdown]
# **Exercise 4.** Now give KD a perfect teacher, $p_t = p_r$. Predict where the KD student converges, and whether
# KD or simultaneous NGAN (the run `ngan_sim` of Section 2) gets within $KL(p_r\|p_s) < 10^{-4}$ in fewer steps at
# the same step size `LR`. Then check by running KD with `p_t0=p_r`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
kd_perfect = solver.solve_game(p_r, "kd", p_t0=p_r, p_s0=p_s0, upsilon=UPSILON, steps=STEPS, lr=LR)
kd_steps, ngan_steps = kd_perfect.steps_to_reach(1e-4), ngan_sim.steps_to_reach(1e-4)
print(
    f"KD with p_t = p_r: final KL(p_r || p_s) = {kd_perfect.kl_to_real()[-1].item():.1e}, below 1e-4 from step "
    f"{kd_steps}; NGAN from step {ngan_steps}: NGAN needs {ngan_steps / kd_steps:.1f} times as many steps as KD"
)
print("with a right teacher KD has NGAN's equilibrium, p_r, and keeps its own speed: its flaw is the teacher's error")
assert kd_perfect.kl_to_real()[-1].item() < 1e-10  # (p_r + upsilon p_r) / (1 + upsilon) = p_r
