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
SMOKE = False  # one seed, three epochs, two weights: a check that everything runs, not a measurement
DEVICE = "auto"  # "auto", "cpu", "cuda" or "mps"
INTERACTIVE = False  # this notebook has no widgets; kept for a uniform interface
DATASET = "digits"  # digits (offline, CPU minutes), mnist or cifar10 (downloaded by torchvision; a GPU run)
N_TRAIN = 100  # training-set size n of every run (the paper's Figs. 4, 5 and 7 use 100 MNIST images)
SEEDS = 3  # seeds of every method in Figs. 4-5 and the training-speed table
EPOCHS = 50  # epochs of the main loop (Algorithm 1) of every run
STUDENT_PRETRAIN_EPOCHS = 0  # the students start untrained, so the curves show them learning (see section 3)
OMEGAS = None  # the weights swept in Fig. 7; None takes gradients.OMEGA_GRID
OMEGA_SEEDS = 2  # seeds per weight in Fig. 7
TARGET_ACCURACY = 0.85  # the test accuracy whose first epoch measures training speed
REPLICATES = 4000  # Monte Carlo replicates per point of the estimator study
ESTIMATOR_SEEDS = 3  # seeds per gradient estimator in the short ADIM training comparison (section 1)
OUT = None  # run folder; None picks runs/05_gradient_variance/DATASET-nN-eEPOCHS at the repository root
JOBS = None  # worker processes for the runs; None: one per core for digits on a CPU

# %%
from advdist_lab import course

TEACHER_PRETRAIN_EPOCHS = 30  # TrainConfig's default
if SMOKE:
    SEEDS, EPOCHS, OMEGA_SEEDS, REPLICATES, JOBS, ESTIMATOR_SEEDS = 1, 3, 1, 300, 1, 1
    OMEGAS, TEACHER_PRETRAIN_EPOCHS = (1 / 8, 1 / 2), 3
nb = course.setup_notebook(
    "05_gradient_variance",
    smoke=SMOKE,
    device=DEVICE,
    out=OUT,
    label=f"{DATASET}-n{N_TRAIN}-e{EPOCHS}",
    dataset=DATASET,
    jobs=JOBS,
)
OUT = nb.out

# %% [markdown]
# # 05 · Gradient variance: estimators, Lemma 4.5, and what the student's gradients do in training
#
# The papers' central practical claim is about **speed**: the three-player games train faster than NGAN because
# the teacher's distillation gradients are less noisy than the discriminator's adversarial ones, and the
# Gumbel-Softmax (GS) trick makes the adversarial ones less noisy still (TPAMI Sections 4.3-4.4, Figs. 5, 7, 10;
# KDGAN Section 3.3, Eq. 6-9). This notebook turns each step of that argument into a measurement:
#
# 1. **Estimators against the truth.** For a categorical distribution over a few labels the exact gradient is a
#    finite sum, so the bias and the variance of every estimator can be measured, not drawn.
# 2. **Lemma 4.5**, the variance argument itself, by Monte Carlo, with the counterexample that shows why its
#    premise matters.
# 3. **Probes in real training** (`advdist_lab.probes`): the variance across minibatches of the student's
#    adversarial and distillation gradients (Fig. 5), their cosine similarity against the weights (Fig. 7), and
#    the epochs each method needs to reach a fixed accuracy ("GS speeds up training by around 50%").
#
# Where our measurements disagree with the papers, the text says so beside the paper's numbers.

# %%
from IPython.display import Markdown, display

from advdist_lab import viz
from advdist_lab.experiments import concrete_score as literal
from advdist_lab.experiments import gradient_analysis as analysis
from advdist_lab.experiments import gradients
from advdist_lab.experiments.curves import curves_by_method
from advdist_lab.gumbel import ESTIMATORS
from advdist_lab.theory import estimators

OMEGAS = tuple(OMEGAS) if OMEGAS else gradients.OMEGA_GRID
OVERRIDES = {  # TrainConfig fields shared by every run of this notebook
    "dataset": DATASET,
    "n_train": N_TRAIN,
    "epochs": EPOCHS,
    "device": DEVICE,
    "student_pretrain_epochs": STUDENT_PRETRAIN_EPOCHS,
    "teacher_pretrain_epochs": TEACHER_PRETRAIN_EPOCHS,
}
print(f"dataset {DATASET}, n = {N_TRAIN}, {SEEDS} seed(s), {EPOCHS} epochs, device {nb.device}, runs in {OUT}")

# %% [markdown]
# ## 1. Gradient estimators against the exact gradient
#
# A generator (student or teacher) with logits $\theta$ defines $p_\theta = \mathrm{softmax}(\theta)$ over $K$
# labels, and its adversarial term is $\mathbb{E}_{y\sim p_\theta}[f(y)]$ with a reward read off the
# discriminator, here $f(y) = \log D(x, y)$ with $D(x,y) = \sigma(\langle y, h\rangle)$ for one fixed $x$ (the
# ADIM student's reward, TPAMI Eq. 11). With $K = 5$ the exact gradient is a sum over the labels,
# $\nabla_\theta \mathbb{E}[f] = p \odot (f - \langle p, f\rangle)$. The estimators:
#
# * **score function** (REINFORCE, Eq. 8 and the first line of Eq. 11):
#   $f(y)\,\nabla\log p_\theta(y)$ with $y\sim p_\theta$; unbiased; optionally with a leave-one-out baseline;
# * **pathwise** Gumbel-Softmax (Eq. 10): the gradient through the relaxed sample
#   $\mathrm{softmax}((\log p_\theta + g)/\tau)$; biased for $\tau > 0$;
# * **straight-through**: the one-hot label forward, the relaxed sample's gradient backward (our default for
#   the adversarial methods, since the discriminator then sees one-hot labels for real and fake alike);
# * **concrete score**, Eq. 11's last line read literally: the score function of the *concrete* density,
#   $f(y)\,\nabla\log q_\tau(y)$ with $y\sim q_\tau$ a relaxed sample (the discriminator sees the relaxed $y$);
#   optionally with the same leave-one-out baseline. Its expectation is $\nabla\mathbb{E}_{y\sim q_\tau}[f(y)]$,
#   the pathwise estimator's, not the categorical gradient: it shares the pathwise bias. Section 1b below.
#
# For each we draw `REPLICATES` independent $m$-sample estimates (an $m$-sample estimate averages $m$ samples,
# as a minibatch does) and measure the **bias** $\lVert\mathbb{E}\hat g - \nabla\rVert$ (with its Monte Carlo
# standard error), the **variance** $\operatorname{tr}\operatorname{Cov}\hat g$ and their sum, the mean squared
# error. The papers' claim: a high $\tau$ gives low-variance, biased gradients, a low $\tau$ the reverse (TPAMI
# Sec. 4.3), hence the annealing from 10 to 0.1.

# %%
case = estimators.discriminator_case()
rows = estimators.estimator_sweep(case, estimators=ESTIMATORS, replicates=REPLICATES)
print(
    f"K = {case.num_labels} labels, reward log D, ||exact gradient|| = {case.exact.norm():.3f}; "
    f"{len(rows)} (estimator, tau, m) points of {REPLICATES} replicates each"
)
viz.estimator_figure(rows)

# %%
viz.estimator_samples_figure(rows, tau=1.0)

# %%
display(Markdown(analysis.estimator_commentary(rows)))

# %% [markdown]
# ### 1b. Eq. 11 taken literally: the concrete score
#
# TPAMI Eq. 11 ends with $\omega_s\,\mathbb{E}_{y\sim q_s}[\nabla_{\theta_s}\log q_s(y\mid x)\,\log D_s(x,y)]$:
# REINFORCE through the concrete density of Eq. 10 (Maddison et al. 2017, Sec. 3.2), not the pathwise gradient
# that "the Gumbel-Softmax trick" usually means. `advdist-lab train --estimator concrete_score` trains with it.
# What it is unbiased for: $\nabla_\theta\mathbb{E}_{y\sim q_\tau}[f(y)]$, the gradient of the relaxed objective,
# the same as the pathwise estimator; the categorical $\nabla_\theta\mathbb{E}_{y\sim p_\theta}[f(y)]$ only as
# $\tau\to 0$. Its variance is often said to blow up as $\tau\to 0$; the sweep below goes down to
# $\tau = 0.001$, a hundred times below the end of the papers' schedule, for it and for the pathwise gradient.

# %%
small_rows = literal.small_tau_sweep(case, replicates=REPLICATES)
underflow = literal.underflow_table(case, replicates=REPLICATES)
viz.estimator_figure(small_rows, title="Concrete score and pathwise gradient down to tau = 0.001 (log D reward)")

# %%
display(Markdown(literal.concrete_score_commentary(rows, small_rows, underflow)))

# %% [markdown]
# **In training.** ADIM on the notebook's data with each estimator for its generators' adversarial terms (the
# default temperature schedule, 10 down to 0.1; the score functions with the leave-one-out baseline, the
# config's default), `ESTIMATOR_SEEDS` seeds each, probed: the student's final accuracy and the variance of its
# adversarial gradient across minibatches, averaged over the epochs.

# %%
estimator_results = literal.run_estimators(
    literal.estimator_configs(ESTIMATORS, ESTIMATOR_SEEDS, **OVERRIDES), OUT, jobs=nb.jobs
)
estimator_rows = literal.estimator_training_table(estimator_results)
display(Markdown(literal.estimator_training_markdown(estimator_rows, DATASET, N_TRAIN, EPOCHS)))
viz.training_curves(
    literal.estimator_curves(estimator_results),
    title=f"ADIM's student by gradient estimator ({DATASET}, n = {N_TRAIN})",
)

# %% [markdown]
# ## 2. Lemma 4.5: mixing in a quieter gradient
#
# **Lemma 4.5** (TPAMI Sec. 4.3). *If $\mathrm{Var}(X) \le \mathrm{Var}(Y)$, then
# $\mathrm{Var}(\lambda X + (1-\lambda) Y) \le \mathrm{Var}(Y)$ for every $\lambda\in[0,1]$.* In the paper $X$
# is the student's gradient from the teacher (distillation), $Y$ the one from the discriminator, and the
# consequence is Eq. 9: $\mathrm{Var}(\nabla_{\theta_s} V_{ADIM}) \le \mathrm{Var}(\nabla_{\theta_s} V_{NGAN})$.
# The proof bounds the covariance by $\sqrt{\mathrm{Var}X\,\mathrm{Var}Y} \le \mathrm{Var}Y$, so it holds for
# any correlation. Below: jointly Gaussian $(X, Y)$ drawn by Monte Carlo, the sample variance of $Z$ on a grid of
# $\lambda$, and the closed form $\lambda^2\mathrm{Var}X + 2\lambda(1-\lambda)\mathrm{Cov} +
# (1-\lambda)^2\mathrm{Var}Y$.

# %%
lemma_results, lemma_lines = analysis.lemma_4_5_report(samples=20_000 if SMOKE else 200_000)
for line in lemma_lines:
    print(line)
viz.lemma_4_5_figure(lemma_results)

# %% [markdown]
# The counterexamples show the premise is not decoration: $\mathrm{Var}Z - \mathrm{Var}Y$ is convex in
# $\lambda$ and zero at $\lambda = 0$, so it stays $\le 0$ on $[0, 1]$ exactly when it does at $\lambda = 1$,
# that is when $\mathrm{Var}X\le\mathrm{Var}Y$. The lemma says nothing about *which* gradient is the quieter one:
# Eq. 9 needs the distillation gradient to have the lower variance, an empirical claim ("in practice we observe",
# Sec. 4.3) that the next section measures.
#
# ## 3. Probes in training: Fig. 5, Eq. 9 and training speed
#
# `advdist-lab train ... --probe-gradients` (here `TrainConfig(probe_gradients=True)`) takes, on every
# minibatch, the gradient of the student's adversarial term and of its distillation term separately, and
# records per epoch the variance across the epoch's minibatches (the mean squared deviation from the epoch's
# mean gradient), the cosine of the two, and the same for the teacher (`advdist_lab.probes`). Probing costs one
# extra backward pass per step and changes no bit of training. The terms are taken as they enter the loss,
# that is with their weights ($\omega_s$ times the adversarial term, $\nu$ times $L_{KD}$).
#
# The students here start **untrained** (`STUDENT_PRETRAIN_EPOCHS = 0`, unlike Table 1's runs in notebook 04,
# which pretrain them for 10 epochs): the paper's Figs. 4 and 5 follow the students from the start of training,
# and a pretrained student would reach any fixed accuracy in the first epoch. The teachers are pretrained as in
# KDGAN Algorithm 1. NGAN, ADIB, ADIM-NGS and ADIM train with `SEEDS` seeds each.

# %%
speed_configs = gradients.method_configs(gradients.SPEED_METHODS, SEEDS, **OVERRIDES)
speed_results = gradients.run(speed_configs, OUT, jobs=nb.jobs, description="Figs. 4-5 runs")
curves = gradients.variance_curves(speed_results)
viz.gradient_variance_figure(curves, gradients.FIG5_METHODS)

# %%
viz.gradient_variance_figure(curves, ("ngan", "adib"), title="The same for NGAN and ADIB", show_total=True)


# %%
display(Markdown(analysis.fig5_markdown(curves, DATASET, N_TRAIN, SEEDS)))

# %% [markdown]
# **Eq. 9 in training.** The variance of the student's *whole* gradient: ADIM's and ADIB's mix the two parts,
# NGAN's is adversarial only. Eq. 9 claims $\mathrm{Var}(\nabla V_{ADIM}) \le \mathrm{Var}(\nabla V_{NGAN})$.

# %%
display(Markdown(analysis.eq9_markdown(gradients.total_variance_table(speed_results))))

# %% [markdown]
# ### Training speed (Fig. 4 and "GS speeds up training by around 50%")
#
# The paper measures speed as "the number of training epochs required for convergence" and reports that the GS
# trick speeds ADIM's training by about 50% and raises its accuracy by about 2 points (77.20% to 78.70%, MNIST,
# n = 100). Convergence is hard to date on a noisy curve, so we count the first epoch at which the student's
# test accuracy reaches `TARGET_ACCURACY`.

# %%
viz.training_curves(
    curves_by_method(speed_results),
    title=f"Student test accuracy by epoch ({DATASET}, n = {N_TRAIN}; TPAMI Fig. 4)",
    references={f"target {TARGET_ACCURACY:.0%}": TARGET_ACCURACY},
)

# %%
speed_rows = gradients.speed_table(speed_results, TARGET_ACCURACY)
display(Markdown(analysis.speed_markdown(speed_rows, TARGET_ACCURACY, SEEDS)))
viz.epochs_to_accuracy_figure(speed_rows, TARGET_ACCURACY)

# %% [markdown]
# ## 4. Fig. 7: how aligned are the two gradients?
#
# TPAMI Sec. 4.4 observes that the cosine similarity between the adversarial and the distillation gradients,
# averaged over the epochs of a run, grows as $\omega_s$ goes to 1 (student, Fig. 7a) and as $\omega_t$ goes to
# 1 (teacher, Fig. 7b), which Lemmas 4.6 and 4.7 explain: as the weight tends to 1, the adversarial objective
# tends to the distillation loss. The paper's axis runs from $2^{-3}$ to $2^{6}$, partly off the simplex that
# Eq. 6 requires; we sweep the weight inside it, `OMEGAS`, and split the rest equally between the two other
# weights (`gradients.omega_on_simplex`). The paper also notes that the trend disappears outside "a
# reasonable range" of the weights, where "ADIM does not perform well and the discriminator can be far from the
# optimality": as $\omega_s \to 1$ on the simplex, $\omega_r$ and $\omega_t$ go to 0 together.

# %%
omega_results = {}
for player in ("student", "teacher"):
    configs = gradients.omega_configs(player, OMEGAS, OMEGA_SEEDS, **OVERRIDES)
    omega_results[player] = gradients.run(configs, OUT, jobs=nb.jobs, description=f"Fig. 7 {player}")
cosine_rows = {p: gradients.cosine_vs_omega(r, p) for p, r in omega_results.items()}
viz.cosine_vs_omega_figure(cosine_rows)

# %%
display(Markdown(analysis.cosine_commentary(cosine_rows)))

# %% [markdown]
# ## What to take away
#
# * The estimator study reproduces the mechanism of Sec. 4.3 exactly: the temperature trades bias for variance,
#   and the score function pays for its unbiasedness in variance. It also shows the limit of the argument: at
#   the end of the annealing schedule ($\tau = 0.1$) the relaxed gradient is noisier than REINFORCE's.
# * Eq. 11 read literally (the concrete score) has the pathwise estimator's expectation, hence its bias, by
#   construction; how its variance compares with REINFORCE's and the pathwise one as $\tau$ falls, and whether
#   it is usable at small $\tau$, is the verdict computed in section 1b from this run's numbers.
# * Lemma 4.5 is true and tight: the premise is necessary. Whether it applies in training is an empirical
#   question, and the probes answer it for this dataset, this $n$ and these weights in the tables above.
# * Everything above is a measurement of this notebook's run: rerun it with `DATASET = "mnist"`,
#   `DEVICE = "cuda"` (and the paper's `EPOCHS = 100`) to test the claims at the paper's scale.


# %% [markdown]
# ## Exercises
#
# The first four exercises use section 1's case (`estimators.discriminator_case()`: $K = 5$ labels, reward $\log D$)
# and its exact gradient, the fifth Lemma 4.5; each solution takes well under a second. Write your prediction down
# first, then open the solution below it: it measures the outcome and prints the numbers.

# %% [markdown]
# **Exercise 1.** At $\tau = 1$, draw 4,000 one-sample estimates from each of the score function, the pathwise
# Gumbel-Softmax gradient and straight-through (`estimators.bias_variance(case, name, tau=1.0, replicates=4000)`).
# Predict which of them are unbiased, that is whose bias stays within a few Monte Carlo standard errors
# (`bias_se`) of zero, and which has the smallest variance.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
log_d = estimators.discriminator_case()
at_one = {
    name: estimators.bias_variance(log_d, name, tau=1.0, replicates=4000)
    for name in ("score", "pathwise", "straight_through")
}
for r in at_one.values():
    print(
        f"{r.label:>16}: bias {r.bias:.4f} = {r.bias / r.bias_se:.1f} standard errors, variance {r.variance:.4f}, "
        f"mean squared error {r.mse:.4f}"
    )
quietest = min(at_one, key=lambda name: at_one[name].variance)
unbiased = [name for name, r in at_one.items() if r.bias < 4 * r.bias_se]
print(
    f"Within 4 standard errors of the exact gradient (norm {log_d.exact.norm():.3f}): {', '.join(unbiased)}. "
    f"The smallest variance: {quietest}, {at_one['score'].variance / at_one[quietest].variance:.0f} times below the "
    "score function's: at tau = 1 the relaxation pays for its lower variance with bias."
)
assert at_one["score"].bias < 4 * at_one["score"].bias_se  # REINFORCE is unbiased (Eq. 8)
assert all(at_one[name].bias > 4 * at_one[name].bias_se for name in ("pathwise", "straight_through"))

# %% [markdown]
# **Exercise 2.** Lower the temperature of the pathwise estimator: $\tau$ = 3, 1, 0.3, 0.1, 0.03. Predict how its
# bias and its variance move as $\tau \to 0$ (TPAMI Sec. 4.3), and at which $\tau$ the bias disappears into the
# Monte Carlo noise.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
log_d = estimators.discriminator_case()
falling = (3.0, 1.0, 0.3, 0.1, 0.03)
path = {tau: estimators.bias_variance(log_d, "pathwise", tau=tau, replicates=4000) for tau in falling}
for tau, r in path.items():
    print(f"tau = {tau:<5g} bias {r.bias:.4f} (± {r.bias_se:.4f}), variance {r.variance:.4g}")
noise = [r.bias < 4 * r.bias_se for r in path.values()]
hidden = next(tau for i, tau in enumerate(falling) if all(noise[i:]))
print(
    f"The bias falls from {path[3.0].bias:.3f} at tau = 3 into the noise (within 4 standard errors) from tau = "
    f"{hidden:g} on, while the variance grows {path[0.03].variance / path[3.0].variance:.3g}-fold from tau = 3 to "
    "tau = 0.03: the trade-off that the annealing from 10 to 0.1 walks along."
)
assert path[3.0].bias > path[1.0].bias > 4 * path[1.0].bias_se  # biased at high temperature
assert path[0.03].bias < 4 * path[0.03].bias_se  # the bias vanishes as tau -> 0
assert all(path[a].variance < path[b].variance for a, b in zip(falling, falling[1:]))  # the variance grows

# %% [markdown]
# **Exercise 3.** Average $m$ = 1, 4 and 16 samples per estimate, as a larger minibatch would (`samples=m`). Predict
# what happens to the score function's variance and to the pathwise bias at $\tau = 1$. Then predict whether the
# temperature with the smallest mean squared error of the pathwise estimator (`estimators.estimator_sweep` over its
# default temperatures) moves up or down with $m = 16$.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
log_d = estimators.discriminator_case()
counts = (1, 4, 16)
score_m = {m: estimators.bias_variance(log_d, "score", samples=m, replicates=4000) for m in counts}
path_m = {m: estimators.bias_variance(log_d, "pathwise", tau=1.0, samples=m, replicates=4000) for m in counts}
for m in counts:
    print(
        f"m = {m:>2}: score variance {score_m[m].variance:.4f} (m x variance {m * score_m[m].variance:.3f}); "
        f"pathwise bias {path_m[m].bias:.4f} (± {path_m[m].bias_se:.4f})"
    )
sweep_m = estimators.estimator_sweep(log_d, sample_counts=(1, 16), estimators=("pathwise",), replicates=2000)
best = {m: min((r for r in sweep_m if r.samples == m), key=lambda r: r.mse) for m in (1, 16)}
print(
    f"The variance falls as 1/m and the bias stays put: the mean of m samples has the same expectation. So more "
    f"samples favour less bias: the MSE-optimal tau is {best[1].tau:.2f} for m = 1 and {best[16].tau:.2f} for m = 16 "
    f"({'lower' if best[16].tau < best[1].tau else 'not lower'} with more samples)."
)
for m in counts:
    assert 0.75 < m * score_m[m].variance / score_m[1].variance < 1.33  # Var of a mean of m i.i.d. draws: Var / m
    assert abs(path_m[m].bias - path_m[1].bias) < 4 * (path_m[m].bias_se ** 2 + path_m[1].bias_se ** 2) ** 0.5

# %% [markdown]
# **Exercise 4.** Straight-through sends the one-hot label forward and the relaxed sample's gradient backward; the
# pathwise estimator sends the relaxed sample both ways. With the same Gumbel noise (`estimators.estimates` with
# `seed=3` for both), compare the two estimates sample by sample for the reward $\log D$ and for the linear reward
# $\langle y, h\rangle$ (`discriminator_case(reward="linear")`), at $\tau$ = 1 and 0.1. Predict for which reward they
# coincide exactly.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
largest = {}
for reward in ("linear", "log_d"):
    example = estimators.discriminator_case(reward=reward)
    for tau in (1.0, 0.1):
        a = estimators.estimates(example, "pathwise", tau=tau, replicates=1000, seed=3)
        b = estimators.estimates(example, "straight_through", tau=tau, replicates=1000, seed=3)
        largest[reward, tau] = float((a - b).abs().max())
        print(
            f"reward {reward:>6}, tau = {tau:g}: "
            f"largest difference between the two estimates {largest[reward, tau]:.3g}"
        )
print(
    "For a reward linear in y the gradient df/dy = h does not depend on where it is taken, so the one-hot forward "
    f"changes nothing (largest difference {max(largest['linear', t] for t in (1.0, 0.1)):.3g}); for log D it does "
    f"(up to {max(largest['log_d', t] for t in (1.0, 0.1)):.3g}): only for a linear reward is straight-through the "
    "pathwise gradient; for log D it is another estimator."
)
assert all(largest["linear", tau] < 1e-12 for tau in (1.0, 0.1))
assert all(largest["log_d", tau] > 1e-3 for tau in (1.0, 0.1))

# %% [markdown]
# **Exercise 5.** Break Lemma 4.5's premise mildly: $\mathrm{Var}X = 1.5 > \mathrm{Var}Y = 1$ with correlation
# $\rho = 0.5$ (`variance_lemma.lemma_4_5_monte_carlo(1.5, 1.0, 0.5)`). Predict from the closed form the $\lambda^*$
# above which the mixture $Z = \lambda X + (1-\lambda)Y$ is noisier than $Y$; is it quieter than $Y$ anywhere? Then
# keep the premise ($\mathrm{Var}X = 0.5$) with $\rho = -0.5$ and predict whether $Z$ can be quieter than both.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 5
from advdist_lab.theory import variance_lemma

broken = variance_lemma.lemma_4_5_monte_carlo(1.5, 1.0, 0.5, samples=100_000)
star = broken.violated_above
below = [lam for lam, e, se in zip(broken.lambdas, broken.excess, broken.excess_se) if e < -4 * se]
above = [lam for lam, e, se in zip(broken.lambdas, broken.excess, broken.excess_se) if e > 4 * se]
print(
    f"Var X = 1.5, Var Y = 1, rho = 0.5: closed form lambda* = {star:.3f}; by Monte Carlo Var Z < Var Y (by more than "
    f"4 standard errors) for lambda in [{min(below):g}, {max(below):g}] and Var Z > Var Y for lambda in "
    f"[{min(above):g}, {max(above):g}], up to {max(broken.excess):.3f} at lambda = 1."
)
kept = variance_lemma.lemma_4_5_monte_carlo(0.5, 1.0, -0.5, samples=100_000)
low = min(range(len(kept.lambdas)), key=lambda i: kept.monte_carlo[i])
print(
    f"Var X = 0.5, Var Y = 1, rho = -0.5: the smallest Var Z is {kept.monte_carlo[low]:.3f} at lambda = "
    f"{kept.lambdas[low]:g}, below both Var X and Var Y: anti-correlated gradients cancel. A noisier X keeps "
    "Var Z below Var Y only up to lambda*, a quieter X at every lambda (Lemma 4.5)."
)
assert max(below) < star < min(above)  # the sign change of Var Z - Var Y sits at the closed-form lambda*
assert kept.monte_carlo[low] < min(kept.var_x, kept.var_y)

# %%
nb.cleanup()  # a smoke run's temporary run folder, removed now rather than at kernel exit
