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
# Parameters (papermill overrides these; `make test` sets SMOKE = True and INTERACTIVE = False).
SMOKE = False  # tiny sweeps and a two-epoch run: a check that everything runs, not a measurement
INTERACTIVE = True  # True: live explorers with sliders (JupyterLab); False: the static figures of the same functions
DEVICE = "auto"  # "auto", "cpu", "cuda" or "mps" for the sweeps (the explorers train on the CPU)
P_R = (0.6, 0.3, 0.1)  # the real distribution p_r(y|x) of the 3-label game
SIZES = (100, 500)  # training-set sizes n of the sweeps (digits; the paper's Fig. 3 uses MNIST 100 / 1,000 / 10,000)
SEEDS = 3  # seeds per point of Figs. 3 and 6 (the paper averages 10 runs)
EPOCHS = 50  # epochs of every sweep run (TrainConfig's default)
GRIDS = None  # {"nu": (...), ...} to change Fig. 3's grids; None takes ablation.DEFAULT_GRIDS
OUT = None  # sweep folder; None picks runs/06_explorer/digits-eEPOCHS at the repository root
JOBS = None  # worker processes for the sweeps; None: one per core for digits on a CPU
TRAIN = False  # True: train the sweeps of Figs. 3 and 6 here (about 5 min on 2 cores); False: read them back from OUT

# %%
from advdist_lab import course

TEACHER_PRETRAIN_EPOCHS = 30  # TrainConfig's default
TRAIN_N, TRAIN_EPOCHS = 100, 30  # the training explorer's run
if SMOKE:
    SIZES, SEEDS, EPOCHS, TEACHER_PRETRAIN_EPOCHS, JOBS = (30,), 1, 2, 1, 1
    GRIDS = {"omega_r": (0.2, 0.6), "omega_s": (0.2,), "omega_t": (0.2,), "nu": (0.01, 1.0), "mu": (0.01, 10.0)}
    TRAIN_N, TRAIN_EPOCHS = 30, 2
nb = course.setup_notebook(
    "06_explorer", smoke=SMOKE, device=DEVICE, out=OUT, label=f"digits-e{EPOCHS}", dataset="digits", jobs=JOBS
)  # the sweeps run on digits: one CPU thread per run, as `advdist-lab train`
OUT = nb.out

# %% [markdown]
# # 06 · Explorers: what omega, nu, mu, upsilon and tau do, by moving sliders
#
# Notebooks 01-05 fixed the hyperparameters and measured. Here you move them. Two explorers and two sweeps:
#
# 1. **The game explorer**: the exact-distribution game of notebooks 02-03 (NGAN Eq. 3, ADIB Eq. 4, ADIM Eq. 6)
#    on 3 labels. The student $p_s$ and the teacher $p_t$ move towards $p_r$ on the simplex, and the value approaches
#    the equilibrium value of Theorems 4.2 and 4.4. A slider move re-solves the game and redraws.
# 2. **The training explorer**: a real ADIM (or any method's) training run on digits, in a background thread, with
#    the student's and the teacher's accuracy and the variance of the student's gradients streaming in epoch by
#    epoch.
# 3. **Sweeps**: TPAMI Fig. 3 (the student's accuracy against each of $\omega_r$, $\omega_s$, $\omega_t$, $\nu$,
#    $\mu$) and Fig. 6 (the teacher's accuracy against $\mu$), trained and cached under `runs/`.
#
# With `INTERACTIVE = False` (as in CI) the explorers are replaced by the static figures of the same functions.

# %%
import time

from IPython.display import Markdown, display

from advdist_lab import viz
from advdist_lab.experiments import ablation, ablation_analysis
from advdist_lab.experiments.tables import markdown_table
from advdist_lab.runs import sweeps, train
from advdist_lab.runs.executors import RunsNotTrainedError
from advdist_lab.theory import sweep_report, try_this
from advdist_lab.theory.solver import sweep_game
from advdist_lab.widgets import GameExplorer, TrainingExplorer

print(f"p_r = {P_R}; sweeps: sizes {SIZES}, {SEEDS} seed(s), {EPOCHS} epochs, device {nb.device}, runs in {OUT}")

# %% [markdown]
# ## 1 · The game explorer
#
# The controls: the **method**; ADIM's weights $\omega_r, \omega_s$ with $\omega_t = 1 - \omega_r - \omega_s$ derived
# (ADIB: $\omega_t = 1 - \omega_s$; NGAN has none): a combination off the simplex is refused with a message, the
# figure keeps the last valid game; the distillation weights $\nu$, $\mu$, $\upsilon$; the **estimator** of the
# players' adversarial gradients: exact, or the Gumbel-Softmax trick of Eq. 10 at temperature $\tau$ with a number
# of relaxed samples per step; the step sizes `lr` (student, teacher) and `lr_d` (discriminator), the
# discriminator steps per round, the number of steps and the seed of the players' start.
#
# Things to try (each is measured below the explorer, from its starting settings, beside the same game without the
# change): set $\nu = \mu = 0$ (the adversarial game alone) and move $\omega_s$ towards 0: the student slows down,
# its adversarial gradient is weighted by $\omega_s$; set $\nu = 10$ with `lr = 0.3`: the game overshoots (the
# effective step of the distillation term is $\nu \cdot$ `lr`); with $\nu = \mu = 0$, switch to Gumbel-Softmax and
# raise $\tau$ to 10: the relaxed samples are nearly uniform, their gradient is biased and small, and the players
# stop short of $p_r$. With the default $\nu = 1$ the first and the last change little: distillation pulls the
# student to the teacher, which reaches $p_r$ anyway.

# %%
# NBVAL_IGNORE_OUTPUT
game = GameExplorer(p_r=P_R)
if INTERACTIVE:
    display(game)
else:
    viz.game_explorer_figure(game.trajectory).show()
print(game.message.value)

# %%
for line in try_this.suggestion_lines(try_this.measure_suggestions(P_R, game.settings()), game.settings()["steps"]):
    print("*", line)

# %% [markdown]
# The same game, one slider at a time, measured (`game.sweep_game`). Each row is a full solve from the same start;
# "steps" is the step after which the player stays within $10^{-4}$ of $p_r$ in KL (`-`: not within the steps).
#
# **Which weights matter.** The weights $\omega$ change the equilibrium *value* ($\sum_i \omega_i \log \omega_i$,
# Theorem 4.4) but not the equilibrium *point* $p_s = p_t = p_r$; what they change is the speed:

# %%
settings = {"method": "adim", "lr": 0.3, "steps": 1500, "record_every": 5}
rows = sweep_game(P_R, "omega_s", (0.05, 0.2, 1 / 3, 0.5, 0.8), **settings)
display(Markdown(markdown_table(*sweep_report.speed_table(rows, "omega_s"))))
print(sweep_report.slowest_student_line(rows, "omega_s", settings["steps"], reference=1 / 3))

# %% [markdown]
# **Why a large $\mu$ hurts.** $\mu$ weighs $\mathrm{KL}(p_s \| p_t)$ in the teacher's loss (Eq. 6): the teacher
# learns from the student. In training, the teacher is pretrained and the student is not, so we start the game that
# way ($p_t$ near $p_r$, $p_s$ far) and measure how far the student drags the teacher away from $p_r$ before both
# settle ("teacher's worst KL"). This is the mechanism behind Fig. 6; the sweeps below measure it in training.

# %%
start = {"p_t0": (0.55, 0.33, 0.12), "p_s0": (0.1, 0.2, 0.7)}
rows = sweep_game(P_R, "mu", (0.001, 0.01, 0.1, 1.0, 10.0), method="adim", lr=0.1, steps=1000, **start)
display(Markdown(markdown_table(*sweep_report.excursion_table(rows, "mu"))))
print(sweep_report.excursion_growth_line(rows, "mu"))

# %% [markdown]
# **What $\tau$ does.** With the Gumbel-Softmax estimator, every step draws relaxed samples
# $\mathrm{softmax}((\log p + g)/\tau)$. At a high temperature they are smooth (low variance) but far from one-hot,
# so their gradient is biased and the game settles away from $p_r$; at a low temperature the bias vanishes and the
# noise grows (notebook 05 measures both).

# %%
rows = sweep_game(P_R, "tau", (None, 0.1, 1.0, 3.0, 10.0), method="adim", lr=0.3, steps=1500, samples=4, record_every=5)
display(Markdown(markdown_table(*sweep_report.temperature_table(rows))))

# %% [markdown]
# ## 2 · The training explorer
#
# The same controls on a real training run (digits, CPU): the method, the weights, the temperature schedule of the
# Gumbel-Softmax trick (TPAMI anneals $\tau$ from 10 to 0.1), $n$, the epochs and the seed. **Run** trains in a
# background thread, so the notebook stays responsive; accuracy and the variance of the student's adversarial and
# distillation gradients (`advdist_lab.probes`) stream in epoch by epoch; **Stop** ends the run after the current
# epoch. The widget shows the `advdist-lab train` command of the run: from the command line it gives the same numbers.

# %%
# NBVAL_IGNORE_OUTPUT
trainer = TrainingExplorer(n_train=TRAIN_N, epochs=TRAIN_EPOCHS)
print(trainer.cli_command())
if INTERACTIVE:
    display(trainer)
else:  # the run the Run button would start, trained here, and its figure
    run = train(trainer.config(), progress=False)
    viz.training_explorer_figure(run["history"], f"ADIM on digits, n = {TRAIN_N}").show()
    print(
        f"student {run['test_accuracy']:.4f}, teacher {run['teacher_test_accuracy']:.4f} in {run['wall_seconds']:.1f} s"
    )

# %% [markdown]
# ## 3 · Sweeps: TPAMI Fig. 3 and Fig. 6
#
# `ablation.run_fig3` trains ADIM at every point of Fig. 3 (one hyperparameter varied at a time, the others at their
# defaults; $\omega$ stays on the simplex: when one weight varies the other two share the rest), over `SEEDS` seeds
# and the sizes `SIZES`, each run cached in its own folder under `OUT` (a rerun reads them back; an interrupted sweep
# resumes). `advdist-lab sweep --preset fig3` runs the same sweep from the command line. Fig. 6 reuses the
# $\mu$ runs and adds $\mu = 0$. The sweeps train only with `TRAIN = True` (about 5 minutes on 2 cores, so that
# Run All stays quick); with `TRAIN = False`, the default, the cell reads a finished sweep back from `OUT` and
# otherwise says what is missing. `make course` runs the notebook with `TRAIN = True`.

# %%
overrides = {"epochs": EPOCHS, "teacher_pretrain_epochs": TEACHER_PRETRAIN_EPOCHS, "device": DEVICE}
mus = GRIDS["mu"] if GRIDS else ablation.MU_GRID
started = time.perf_counter()
try:
    fig3 = ablation.run_fig3(OUT, SIZES, SEEDS, GRIDS, jobs=nb.jobs, progress=not SMOKE, train=TRAIN, **overrides)
    fig3_seconds = time.perf_counter() - started
    fig6 = ablation.run_fig6(OUT, SIZES, SEEDS, mus, jobs=nb.jobs, progress=not SMOKE, train=TRAIN, **overrides)
except RunsNotTrainedError as error:
    fig3 = fig6 = None
    print(
        f"Figs. 3 and 6 are not drawn: {error}. Set TRAIN = True in the parameters cell and run the notebook again "
        "to train them (finished runs are kept in OUT, an interrupted sweep resumes)."
    )
else:
    print(f"Fig. 3: {len(fig3['points'])} runs in {fig3_seconds:.0f} s (including runs read back from {OUT})")
    print(f"Fig. 6: {len(fig6['points'])} runs (the mu > 0 runs are Fig. 3's)")

# %%
if fig3 is not None:
    viz.hyperparameter_figure(fig3["rows"]).show()
    viz.teacher_mu_figure(fig6["rows"], fig6["baseline"]).show()
    display(Markdown(sweeps.to_markdown(fig6["summary"])))

# %% [markdown]
# ### Ours beside the paper's
#
# The paper (MNIST, Section 5.1, "Ablation Study"): the $\omega$ weights "have a relatively small effect on the
# accuracy"; $\nu = 0.001$ costs more than 2 points at $n = 100$ (78.70% → 76.46%); "a large value of $\mu$ causes
# the accuracy of the student to deteriorate rapidly"; and Fig. 6: the teacher is more accurate at $\mu = 0.001$ than
# at $\mu = 0$, and less accurate at large $\mu$. Ours, computed from the runs above:

# %%
if fig3 is not None:
    effects = ablation_analysis.effects(fig3["rows"])
    display(Markdown(ablation_analysis.effects_markdown(effects)))
    for line in ablation_analysis.paper_comparison(fig3["rows"], fig6["rows"], fig6["baseline"]):
        print(line)


# %% [markdown]
# ## Exercises
#
# The exercises play the exact game of section 1 (`solve_game`, `sweep_game`, `try_this`) with one setting changed;
# none needs the sweeps of section 3, and each solution takes a few seconds. Write your prediction down first, then
# open the solution below it: it solves the games and prints what it measured.

# %% [markdown]
# **Exercise 1.** Slow the discriminator down: `lr_d = 0.03`, ten times below the players' `lr = 0.3`, from the
# explorer's settings (`game.settings()`: 600 steps unless you moved the sliders). Predict in which game the student
# still reaches $p_r$: the adversarial game alone ($\nu = \mu = 0$) or the explorer's default with distillation
# ($\nu = 1$)? And in the game alone, do 10 discriminator steps per round (`d_steps = 10`) make up for the slow step?
# (A `try_this.Suggestion(name, text, changes, reference)` solves a change beside its reference;
# `try_this.measure_suggestions` measures a list of them.)

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
current = game.settings()  # the explorer's settings: its starting ones unless you moved the sliders
alone = {"nu": 0.0, "mu": 0.0}
slow_d = [
    try_this.Suggestion("alone", "the game alone, lr_d = 0.03", {**alone, "lr_d": 0.03}, alone),
    try_this.Suggestion("distilled", f"nu = {current['nu']:g}, mu = {current['mu']:g}, lr_d = 0.03", {"lr_d": 0.03}),
    try_this.Suggestion(
        "d_steps", "the game alone, lr_d = 0.03, d_steps = 10", {**alone, "lr_d": 0.03, "d_steps": 10}, alone
    ),
]
slow_rows = try_this.measure_suggestions(P_R, current, slow_d)
for row in slow_rows:
    changed, reference = row["changed"], row["reference"]
    print(
        f"* {row['text']}: the student ends at KL(p_r||p_s) = {changed['final_kl']:.3g} after {current['steps']} "
        f"steps, against {reference['final_kl']:.3g} with lr_d = {current['lr_d']:g} and d_steps = "
        f"{current['d_steps']} (outside 1e-4 and 10x farther: {'yes' if row['shows'] else 'no'})"
    )
visible = {row["name"]: row["shows"] for row in slow_rows}
print(
    f"The slow discriminator {'holds the student back' if visible['alone'] else 'changes little'} in the game alone "
    f"and {'holds it back' if visible['distilled'] else 'changes little'} with distillation, where the teacher's pull "
    f"moves the student whatever the discriminator says. Ten discriminator steps per round "
    f"{'do not make up for it' if visible['d_steps'] else 'make up for it'}: Algorithm 1's k_d passes exist to keep D "
    "near its optimum."
)

# %% [markdown]
# **Exercise 2.** Give the student a wrong teacher, $p_t = $ `P_R` reversed, and compare knowledge distillation
# alone (`solve_game(P_R, "kd", p_t0=..., upsilon=...)`: the student descends Eq. 2 against that fixed teacher) with
# ADIM started from the same teacher ($\nu = 1$, $\mu = 0.01$), for $\upsilon$ = 0, 1 and 4 (1,500 steps, `lr = 0.3`).
# Predict where each student settles: a formula in $p_t$, $p_r$ and $\upsilon$ for KD, and for ADIM?

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
from advdist_lab.theory.distributions import kd_optimal_student
from advdist_lab.theory.solver import solve_game

wrong = tuple(reversed(P_R))
settled = {}
for upsilon in (0.0, 1.0, 4.0):
    kd = solve_game(P_R, "kd", p_t0=wrong, upsilon=upsilon, lr=0.3, steps=1500, record_every=10)
    adim = solve_game(P_R, "adim", p_t0=wrong, nu=1.0, mu=0.01, upsilon=upsilon, lr=0.3, steps=1500, record_every=10)
    target = kd_optimal_student(P_R, wrong, upsilon)
    adim_kl = max(float(adim.kl_to_real("student")[-1]), float(adim.kl_to_real("teacher")[-1]))
    settled[upsilon] = (float((kd.p_s[-1] - target).abs().max()), adim_kl)
    print(
        f"upsilon = {upsilon:g}: KD student {[round(float(p), 4) for p in kd.p_s[-1]]}, "
        f"(p_t + upsilon p_r) / (1 + upsilon) = {[round(float(p), 4) for p in target]}; ADIM student "
        f"{[round(float(p), 4) for p in adim.p_s[-1]]}, teacher {[round(float(p), 4) for p in adim.p_t[-1]]}, "
        f"larger KL to p_r {adim_kl:.2e}"
    )
print(
    f"KD's student lands on the mixture (p_t + upsilon p_r) / (1 + upsilon) (largest gap "
    f"{max(gap for gap, _ in settled.values()):.1e}): it inherits the teacher's error, and upsilon only dilutes it. "
    f"ADIM's student and teacher both reach p_r = {P_R} at every upsilon (largest KL "
    f"{max(kl for _, kl in settled.values()):.1e}): the discriminator makes p_s = p_t = p_r the equilibrium "
    "(Theorem 4.4), so the wrong teacher is corrected instead of copied."
)
assert all(gap < 1e-4 for gap, _ in settled.values())  # Eq. 2's minimiser
assert all(kl < 1e-6 for _, kl in settled.values())  # Theorem 4.4

# %% [markdown]
# **Exercise 3.** The $\mu$ sweep of section 1 leaves $\nu$ and $\upsilon$ at `solve_game`'s default 0, so the
# teacher's distillation loss is $\mu\, KL(p_s\|p_t)$ alone. By Eq. 2 it is
# $\mu\,L_{KD}(p_s\|p_t) = \mu\,[KL(p_s\|p_t) + \upsilon\, KL(p_r\|p_t)]$. From the same start (`start`: teacher
# near $p_r$, student far) with $\mu = 1$, sweep $\upsilon$ = 0, 1 and 10 (`sweep_game(P_R, "upsilon", ...)`,
# `lr = 0.1`, 1,000 steps). Predict how far the student drags the teacher (the teacher's worst KL) as $\upsilon$
# grows.

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
anchored = sweep_game(P_R, "upsilon", (0.0, 1.0, 10.0), method="adim", mu=1.0, lr=0.1, steps=1000, **start)
display(Markdown(markdown_table(*sweep_report.excursion_table(anchored, "upsilon"))))
print(sweep_report.excursion_growth_line(anchored, "upsilon"))
worst = [row["teacher_worst_kl"] for row in anchored]
shrinks = all(a > b for a, b in zip(worst, worst[1:]))
print(
    f"The teacher's worst KL(p_r||p_t): {', '.join(f'{w:.3g}' for w in worst)}. The term upsilon KL(p_r||p_t) in "
    "its loss ties the teacher to p_r while the student pulls: "
    f"{'every step up in upsilon shortens' if shrinks else 'not every step up in upsilon shortens'} the excursion."
)

# %% [markdown]
# **Exercise 4.** Switch the distillation off ($\nu = \mu = 0$) and play ADIB (Eq. 4, $\omega_s = \omega_t = 1/2$)
# and ADIM (Eq. 6) from the same random start (3,000 steps, `lr = 0.3`). Predict for each whether the student, the
# teacher and, for ADIB, the mixture $\omega_s p_s + \omega_t p_t$ reach $p_r$. (`trajectory.kl_to_real(player)`
# with player `"student"`, `"teacher"` or `"mixture"`.)

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
from advdist_lab.theory.solver import solve_game

no_kd = {"nu": 0.0, "mu": 0.0, "lr": 0.3, "steps": 3000, "record_every": 10}
adib, adim = solve_game(P_R, "adib", **no_kd), solve_game(P_R, "adim", **no_kd)
final = {
    "ADIB student": adib.kl_to_real("student")[-1],
    "ADIB teacher": adib.kl_to_real("teacher")[-1],
    "ADIB mixture": adib.kl_to_real("mixture")[-1],
    "ADIM student": adim.kl_to_real("student")[-1],
    "ADIM teacher": adim.kl_to_real("teacher")[-1],
}
for name, kl in final.items():
    print(f"{name}: final KL(p_r||p) = {float(kl):.2e}")
print(
    f"ADIB's binary discriminator only sees the mixture, which reaches p_r; its student ends at KL "
    f"{float(final['ADIB student']):.3g}, {'short of' if final['ADIB student'] > 1e-4 else 'at'} p_r "
    f"({[round(float(p), 3) for p in adib.p_s[-1]]}): without the distillation terms Theorem 4.2 does not pin each "
    "player. ADIM's three-class discriminator tells student from teacher and drives both to p_r (Theorem 4.4)."
)
assert final["ADIB mixture"] < 1e-6 and final["ADIM student"] < 1e-6 and final["ADIM teacher"] < 1e-6

# %%
nb.cleanup()  # a smoke run's temporary sweep folder, removed now rather than at kernel exit
