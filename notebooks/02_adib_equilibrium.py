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
STEPS = 2000  # gradient steps per game
LR = 0.5
OMEGA_S = 0.4  # weight of the student in the fake terms of Eq. 4 (the teacher gets 1 - OMEGA_S)
NU = 1.0  # weight of L_KD(p_t || p_s), which trains the student
MU = 1.0  # weight of L_KD(p_s || p_t), which trains the teacher
UPSILON = 0.5  # weight of KL(p_r || .) inside L_KD (Eq. 2)
N_INITS = 6  # random starts for the experiment without distillation terms

# %%
if SMOKE:
    N_CONTEXTS, N_INITS = 4, 3
OMEGA_T = 1.0 - OMEGA_S

# %% [markdown]
# # 02 · ADIB: a binary discriminator, a teacher, and their equilibrium
#
# ADIB (TPAMI Section 4.1; it is KDGAN of the NeurIPS paper) lets the student **and** the teacher generate
# labels against one binary discriminator, and ties them together with distillation losses:
#
# $$\min_{\theta_s,\theta_t}\max_{\theta_d} V_{ADIB} = \mathbb{E}_{p_r}[\log D] + \omega_s\,\mathbb{E}_{p_s}[\log(1-D)]
#   + \omega_t\,\mathbb{E}_{p_t}[\log(1-D)] + \nu\, L_{KD}(p_t\|p_s) + \mu\, L_{KD}(p_s\|p_t), \qquad (4)$$
#
# with $\omega_s + \omega_t = 1$ and $L_{KD}$ from Eq. 2. The two fake terms only ever see the **mixture**
# $p_\omega = \omega_s p_s + \omega_t p_t$.
#
# * **Lemma 4.1.** For fixed players the best discriminator is $D^*(x,y) = \dfrac{p_r(y\mid x)}{p_r(y\mid x) + p_\omega(y\mid x)}$.
# * **Theorem 4.2.** At $D^*$, $V_{ADIB} = 2\,JS(p_r\|p_\omega) - \log 4 + \nu L_{KD}(p_t\|p_s) + \mu L_{KD}(p_s\|p_t)$,
#   so the equilibrium is $p_s = p_t = p_r$ with value $-\log 4$.
#
# Below, each statement is checked numerically: the optimal discriminator is found by maximising Eq. 4 with
# L-BFGS (no closed form on that side), the equilibrium by descending the value. Every check prints its largest
# error; the tests of this course assert it is below the tolerance.

# %%
import torch

from advdist_lab import course, theory, viz
from advdist_lab.theory import solver, theorems

nb = course.setup_notebook("02_adib_equilibrium", smoke=SMOKE, device="cpu", seed=SEED)  # exact games: the CPU, float64

p_r = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED)
p_s = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED + 1)
p_t = theory.random_distributions(N_CONTEXTS, N_LABELS, seed=SEED + 2)
print(
    f"{N_CONTEXTS} contexts x {N_LABELS} labels; omega = ({OMEGA_S}, {OMEGA_T}), nu = {NU}, mu = {MU}, upsilon = {UPSILON}"
)

# %% [markdown]
# ## Lemma 4.1: the optimal binary discriminator

# %%
check = theorems.lemma_4_1(p_r, p_s, p_t, OMEGA_S, OMEGA_T)
print(check)
assert check.passed

# %% [markdown]
# ## Theorem 4.2: the value at $D^*$ and the equilibrium
#
# Three checks: the closed form of the value at $D^*$ at our random players; the value $-\log 4$ at
# $p_s = p_t = p_r$; and that minimising the value over both players (L-BFGS on their logits, starting from the
# random players, with $\nu, \mu > 0$) arrives there.

# %%
checks = theorems.theorem_4_2(p_r, p_s, p_t, OMEGA_S, OMEGA_T, NU, MU, UPSILON)
for check in checks:
    print(check)
assert all(check.passed for check in checks)

# %% [markdown]
# ## KDGAN's version: Eq. 4 and Eq. 5
#
# The NeurIPS paper writes the same game with a classifier $p_c$ (our student), $\alpha = \omega_s$,
# $\beta = \nu$, $\gamma = \mu$ and true distribution $p_u = p_r$. Its Eq. 4 merges the two fake terms into one
# expectation under $p_\alpha = \alpha p_c + (1-\alpha) p_t$; Eq. 5 is the value at the optimal discriminator.
# KDGAN's experiments used an L2 loss on logits as the distillation loss, TPAMI's a KL divergence: both are
# zero exactly when $p_c = p_t$, which is all the theorem needs, and both are checked.

# %%
d = torch.rand(p_r.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(SEED))
kdgan_checks = [
    theorems.kdgan_eq_4(p_s, p_t, d, OMEGA_S),
    theorems.kdgan_eq_5(p_r, p_s, p_t, OMEGA_S, NU, MU, "kl"),
    theorems.kdgan_eq_5(p_r, p_s, p_t, OMEGA_S, NU, MU, "l2"),
]
for check in kdgan_checks:
    print(check)
assert all(check.passed for check in kdgan_checks)

# %% [markdown]
# ## Paths on the simplex
#
# Now one context with three labels, so the distributions are points of a triangle. The discriminator is
# *learned* (alternating gradient ascent on its logits, as in Algorithm 1), not set to $D^*$.

# %%
p_r3 = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
p_s3 = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
p_t3 = torch.tensor([0.2, 0.7, 0.1], dtype=torch.float64)
common = dict(omega=(OMEGA_S, OMEGA_T), steps=STEPS, lr=LR, p_s0=p_s3, p_t0=p_t3, upsilon=UPSILON)
with_distillation = solver.solve_game(p_r3, "adib", nu=NU, mu=MU, **common)
adversarial_only = solver.solve_game(p_r3, "adib", nu=0.0, mu=0.0, **common)
for name, run in ((f"nu = mu = {NU:g}", with_distillation), ("nu = mu = 0", adversarial_only)):
    print(
        f"{name:>12}: KL(p_r||p_s) = {run.kl_to_real('student')[-1].item():.2e}, "
        f"KL(p_r||p_t) = {run.kl_to_real('teacher')[-1].item():.2e}, "
        f"KL(p_r||p_omega) = {run.kl_to_real('mixture')[-1].item():.2e}, final value {run.value[-1].item():.6f}"
    )

# %%
viz.ternary_trajectories(with_distillation, title=f"ADIB with nu = mu = {NU:g}: student and teacher meet at p_r")

# %%
viz.ternary_trajectories(adversarial_only, title="ADIB with nu = mu = 0: only the mixture reaches p_r")

# %%
viz.value_curve(with_distillation, title="ADIB's value approaches -log 4 (Theorem 4.2)")

# %% [markdown]
# ## Why $\nu = \mu = 0$ is not enough
#
# Without the distillation terms ADIB's value at $D^*$ is $2\,JS(p_r\|p_\omega) - \log 4$: every pair with
# $\omega_s p_s + \omega_t p_t = p_r$ is an equilibrium. Where the game ends depends on where it starts. Starting
# from several random initialisations:

# %%
endpoints = []
for k in range(N_INITS):
    run = solver.solve_game(p_r3, "adib", omega=(OMEGA_S, OMEGA_T), steps=STEPS, lr=LR, seed=SEED + k)
    endpoints.append(run)
    print(
        f"init {k}: p_s -> {[round(v, 3) for v in run.p_s[-1].tolist()]}, p_t -> {[round(v, 3) for v in run.p_t[-1].tolist()]}, "
        f"KL(p_r||p_omega) = {run.kl_to_real('mixture')[-1].item():.1e}"
    )
spread = max((a.p_s[-1] - b.p_s[-1]).abs().max().item() for a in endpoints for b in endpoints)
print(f"largest difference between two final students: {spread:.3f}")

# %% [markdown]
# The mixture lands on $p_r$ every time, while the student itself ends wherever its initialisation sends it.
# This is the limitation TPAMI states at the start of Section 4.2: a binary discriminator cannot tell the
# student's labels from the teacher's, so it cannot push each of them to $p_r$. Notebook 03 gives the
# discriminator three classes (ADIM) and shows that the adversarial losses alone then suffice.

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to predict an outcome before you run anything: write your prediction down, then open the
# folded solution below it, which measures the answer with the same exact games as above.

# %% [markdown]
# **Exercise 1.** The run `adversarial_only` ($\nu = \mu = 0$) ended with a student far from $p_r$. Predict what its
# *learned* discriminator outputs at the end, label by label (Lemma 4.1), and by how much the value at $D^*$ of
# these final players would exceed $-\log 4$ if the distillation terms were switched on ($\nu = \mu$ = `NU`,
# Theorem 4.2). Then read `adversarial_only.d[-1]` and compute `theory.adib_optimal_value(...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
d_end, s_end, t_end = adversarial_only.d[-1], adversarial_only.p_s[-1], adversarial_only.p_t[-1]
excess = theory.adib_optimal_value(p_r3, s_end, t_end, OMEGA_S, OMEGA_T, NU, MU, UPSILON).item() + theory.LOG4
distillation = (
    NU * theory.kd_loss(t_end, s_end, p_r3, UPSILON).item() + MU * theory.kd_loss(s_end, t_end, p_r3, UPSILON).item()
)
print(
    f"learned D at the end: {[round(v, 6) for v in d_end.tolist()]}; KL(p_r||p_s) = "
    f"{adversarial_only.kl_to_real('student')[-1].item():.3f} but KL(p_r||p_omega) = "
    f"{adversarial_only.kl_to_real('mixture')[-1].item():.1e}: with p_omega = p_r, D* = p_r / (p_r + p_omega) = 1/2"
)
print(
    f"with nu = mu = {NU:g} the value at D* would exceed -log 4 by {excess:.4f}, the distillation terms' "
    f"{distillation:.4f}: they alone see that p_s and p_t differ"
)
assert (d_end - 0.5).abs().max().item() < 1e-6 and abs(excess - distillation) < 1e-10

# %% [markdown]
# **Exercise 2.** With $\nu = \mu = 0$ the game only asks for $\omega_s p_s + \omega_t p_t = p_r$. Play it from the
# start of the simplex section with $\omega_s = 0.2$ and then $\omega_s = 0.8$. Predict, for each, the ratio of the
# two players' final total-variation distances to $p_r$, $TV(p_s, p_r)/TV(p_t, p_r)$, and which player ends
# nearer $p_r$. Then check with `solver.solve_game(p_r3, "adib", omega=(omega_s, 1 - omega_s), ...)` and
# `run.total_variation(...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
for omega_s in (0.2, 0.8):
    run = solver.solve_game(p_r3, "adib", omega=(omega_s, 1 - omega_s), steps=STEPS, lr=LR, p_s0=p_s3, p_t0=p_t3)
    ratio = (run.total_variation("student")[-1] / run.total_variation("teacher")[-1]).item()
    print(
        f"omega_s = {omega_s}: KL(p_r||p_omega) = {run.kl_to_real('mixture')[-1].item():.1e}, "
        f"TV(p_s, p_r) / TV(p_t, p_r) = {ratio:.6f} against omega_t / omega_s = {(1 - omega_s) / omega_s:.6f}: "
        f"the {'student' if ratio < 1 else 'teacher'} ends nearer p_r"
    )
    assert abs(ratio - (1 - omega_s) / omega_s) < 1e-6  # omega_s (p_s - p_r) = -omega_t (p_t - p_r)

# %% [markdown]
# **Exercise 3.** Keep only one distillation term: $\nu$ = `NU` but $\mu = 0$, so the teacher never learns from the
# student and is trained by the adversarial term alone. Predict whether the teacher still reaches $p_r$ (hint:
# at $D^*$ the value is $2\,JS(p_r\|p_\omega) - \log 4 + \nu L_{KD}(p_t\|p_s)$; when is it $-\log 4$?), and which
# player gets there first. Then check with `solver.solve_game(p_r3, "adib", nu=NU, mu=0.0, ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
run = solver.solve_game(p_r3, "adib", nu=NU, mu=0.0, **common)
student_kl, teacher_kl = run.kl_to_real("student")[-1].item(), run.kl_to_real("teacher")[-1].item()
print(
    f"nu = {NU:g}, mu = 0: KL(p_r||p_s) = {student_kl:.1e}, KL(p_r||p_t) = {teacher_kl:.1e}, value - (-log 4) = "
    f"{run.value[-1].item() + theory.LOG4:.1e}; below 1e-4 from step {run.steps_to_reach(1e-4, 'student')} (student) "
    f"and {run.steps_to_reach(1e-4, 'teacher')} (teacher)"
)
print("one term is enough: the mixture must equal p_r and L_KD(p_t||p_s) must vanish, so p_s = p_t = p_r")
assert student_kl < 1e-8 and teacher_kl < 1e-8 and abs(run.value[-1].item() + theory.LOG4) < 1e-8

# %% [markdown]
# **Exercise 4.** Now drop the real-data part of the distillation loss: $\upsilon = 0$ in Eq. 2, so $L_{KD}$ is a
# plain $KL(p_t\|p_s)$ that only asks the two players to agree, not to be right. With $\nu = \mu$ = `NU`, predict
# whether both players still reach $p_r$, and the final value. Then check with
# `solver.solve_game(p_r3, "adib", nu=NU, mu=MU, upsilon=0.0, ...)`.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
run = solver.solve_game(p_r3, "adib", nu=NU, mu=MU, **dict(common, upsilon=0.0))
student_kl, teacher_kl = run.kl_to_real("student")[-1].item(), run.kl_to_real("teacher")[-1].item()
print(
    f"upsilon = 0: KL(p_r||p_s) = {student_kl:.1e}, KL(p_r||p_t) = {teacher_kl:.1e}, "
    f"final value {run.value[-1].item():.6f} (-log 4 = {-theory.LOG4:.6f})"
)
print("agreement is enough: the adversarial term puts the mixture on p_r, agreement puts both players on the mixture")
assert student_kl < 1e-8 and teacher_kl < 1e-8 and abs(run.value[-1].item() + theory.LOG4) < 1e-8
