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
SMOKE = False  # tiny teacher and students, one or two epochs: a check that everything runs, not a measurement
DEVICE = "auto"  # "auto", "cpu", "cuda" or "mps"
INTERACTIVE = False  # this notebook has no widgets; kept for a uniform interface
DATASET = "digits"  # digits (offline, CPU) or cifar10 (torchvision download; use a GPU)
SEEDS = 1  # seeds per table row
TEACHER = None  # a robust teacher (run folder or model file); None: robust-teacher's defaults, shared with 09
EPOCHS = None  # DFARD epochs; None: the dataset's default (digits 30, CIFAR-10 200 as the paper)
TABLES = ("1", "3", "4")  # which of DFARD's tables to reproduce
OUT = None  # run folder; None picks runs/08_data_free_robust_distillation/<dataset> at the repository root
JOBS = None  # worker processes for the tables; None: one per core for digits on a CPU, else 1
TRAIN = False  # True: train the runs of DFARD's tables here (13 on digits, about 13 min on 2 cores); False: read back

# %%
from advdist_lab import course

TEACHER_SETTINGS: dict = {}
DISTILL_SETTINGS: dict = {} if EPOCHS is None else {"epochs": EPOCHS}
if SMOKE:
    SEEDS, JOBS = 1, 1
    TEACHER_SETTINGS = {"epochs": 2, "n_train": 400, "eval_size": 50, "test_size": 100}
    TEACHER_SETTINGS["final_attacks"] = ("fgsm", "pgd_s")
    DISTILL_SETTINGS = {
        "epochs": 2,
        "iterations": 1,
        "batch_size": 32,
        "ts": 2,
        "train_steps": 3,
        "eval_size": 60,
        "final_size": 100,
        "final_attacks": ("fgsm", "pgd_s", "pgd_t"),
    }
nb = course.setup_notebook(
    "08_data_free_robust_distillation", smoke=SMOKE, device=DEVICE, out=OUT, label=DATASET, dataset=DATASET, jobs=JOBS
)
OUT = nb.out

# %% [markdown]
# # 08 · Data-free adversarial robustness distillation (DFARD, AAAI 2024)
#
# **The task.** A company holds a large *robust* model: trained adversarially, it keeps its prediction when an
# attacker moves every pixel by up to $\epsilon$. A phone needs a small model that is robust too. Adversarial
# robustness distillation (ARD, RSLAD) would train the small student on adversarial examples of the *training
# data* with the teacher's soft labels, but the data are private: medical scans, faces, a factory's defects. All the
# student may see is the teacher. DFARD (`001_...`, Wang et al.) asks for robustness **out of thin air**.
#
# **Why it is hard.** Data-free distillation already works for clean accuracy: a generator $g(z, y)$ learns to
# synthesise inputs on which the teacher is confident (Eq. 1) and on which teacher and student disagree (Eq. 3),
# and the student learns from the teacher on them. Robustness asks for more: the student must match the teacher
# not only at the synthetic points but in an $\epsilon$-ball around each, so it is trained on PGD adversarial
# examples of the synthetic data (Algorithm 1, lines 10-14). The paper argues that the *information* the teacher
# passes on is what limits the student: fixed temperatures give soft labels that are too hard early and too easy
# late, and a generator that only chases the teacher's confidence produces data whose soft labels carry little
# entropy (Eq. 2). Its two fixes are adaptive:
#
# * **ITA**, Interactive Temperature Adjustment (Eq. 4):
#   $\tilde\tau = \max\{C \cdot \frac{1}{bs}\sum_i |Con_t - Con_s|, 1\}$: a high temperature (easy targets) while
#   the student disagrees with the teacher, falling towards 1 as it catches up; used in the generator's adversarial
#   loss (Eq. 3) and in the distillation loss (Eq. 5).
# * **AGB**, Adaptive Generator Balance (Eq. 6-7): $L_{gen} = \lambda L_{cls} + (1-\lambda) L_{adv}$ with
#   $\lambda = 1 / (C \cdot \overline{Con_t})$: the more confident the teacher already is on the generated data,
#   the less the generator is pushed to make it more confident, and the more to find disagreement.
#
# No code was published for DFARD; `advdist_lab.robust` is the first open implementation. Every place where the
# paper is silent and we chose is listed in the docstrings of `advdist_lab.robust.dfard`, `.distillation`,
# `.generation.losses` and `.runner`.

# %%
import os

from IPython.display import Markdown, display

from advdist_lab.robust import analysis, experiments
from advdist_lab.robust.attacks import AttackProtocol, format_table1
from advdist_lab.robust.data import TRAIN_SPLIT_SIZES
from advdist_lab.robust.dfard import DfardConfig, run_dfard
from advdist_lab.robust.generation import load_generator, sample_grid
from advdist_lab.robust.teacher import COURSE_TEACHERS, RobustTeacherConfig, shared_teacher, train_teachers
from advdist_lab.robust.validation import VAL_SIZES, VALIDATION_PREFIX
from advdist_lab.runs.executors import RunsNotTrainedError
from advdist_lab.viz import robust as viz_robust

device = nb.device
print(f"dataset {DATASET}, device {device}, {SEEDS} seed(s), tables {', '.join(TABLES)}; runs in {OUT}")
print("evaluation protocol:", AttackProtocol.for_dataset(DATASET).describe())

# %% [markdown]
# ## 1 · The robust teacher, and an undefended student for reference
#
# Robust checkpoints cannot be downloaded here, so we train the teacher by PGD adversarial training (Madry et al.)
# on digits (`advdist-lab robust-teacher`; on CIFAR-10 the defaults are TRADES, as the RSLAD teacher the paper
# uses). Set `TEACHER` to a run folder or model file of your own to skip this. The teacher lands in
# `runs/robust-teachers/`, in a folder named after its config, where notebook 09 finds it (and this notebook finds
# 09's): whichever runs first trains it, the other reads it back. The undefended reference is the student's
# architecture trained *with* the real data, naturally: the data-free robust student should beat it under attack
# although it never sees a real image. The two train side by side, one worker process each.

# %%
teacher_config = RobustTeacherConfig(dataset=DATASET, device=str(device), **TEACHER_SETTINGS)
# one folder per teacher config, shared with notebook 09 (a smoke run keeps its own); a teacher that an earlier
# version of this notebook trained into OUT/teacher is used as it is
teacher_dir = TEACHER or shared_teacher(
    teacher_config, OUT if SMOKE else COURSE_TEACHERS, previous=[os.path.join(OUT, "teacher")]
)
undefended_config = RobustTeacherConfig(
    dataset=DATASET,
    method="natural",
    arch=DfardConfig(teacher=teacher_dir, dataset=DATASET).resolved().student_arch,
    device=str(device),
    **TEACHER_SETTINGS,
)
runs = {"undefended": (undefended_config, os.path.join(OUT, "undefended-student"))}
if TEACHER is None:
    runs["teacher"] = (teacher_config, teacher_dir)
trained = train_teachers(runs, jobs=nb.jobs, progress=not SMOKE)  # side by side, one worker process each
teacher, undefended = trained.get("teacher"), trained["undefended"]
print(f"robust teacher: {teacher_dir}")
display(
    Markdown(
        format_table1(analysis.reference_rows(teacher, undefended), attacks=tuple(undefended["protocol"]["attacks"]))
    )
)

# %% [markdown]
# ## 2 · One DFARD run (Algorithm 1)
#
# Each epoch repeats `iterations` blocks of one generator step on $L_{gen}$ (Eq. 6, with ITA and AGB) and five
# student steps on PGD-10 adversarial examples of freshly generated images with $L_{KD}$ at the interactive
# temperature (Eq. 5). The paper "select[s] and report[s] the best checkpoint ... among all epochs ... based on
# PGD_T"; picking that epoch on the test images and then reporting its test accuracy would report the maximum of
# noisy test numbers (and the TPAMI paper and KDGAN tune on validation data). So:
#
# * **validation split**: after every epoch the student is evaluated under PGD_T on `val_size` real images
#   **held out from the training split** (stratified, drawn from the seed; the defaults per dataset are
#   `advdist_lab.robust.validation.VAL_SIZES`, printed below with the size this run used). That is legitimate
#   validation data because the method is data-free: the generator and the student never read a real image. The
#   teacher was trained on the training split and has seen these images, so the validation accuracy ranks the
#   epochs; it is not an estimate of the test accuracy;
# * **test split, once**: the best epoch's student, and only it, is evaluated on the test images at the end
#   (every attack of the table). The history holds the validation accuracies (`val_clean`, `val_pgd_t`...),
#   `result.json` the test accuracies of the chosen epoch and a `selection` record of how it was chosen.

# %%
# The folder of Table 1's (and Table 3's) "Ours" row for seed 0: the tables below read this run back.
dfard_dir = os.path.join(OUT, "rows", experiments.row_folder("Ours"), "seed=0")
dfard = run_dfard(
    DfardConfig(teacher=teacher_dir, dataset=DATASET, device=str(device), method="dfard", **DISTILL_SETTINGS),
    dfard_dir,
    resume=os.path.exists(dfard_dir),
)
attacks = tuple(dfard["protocol"]["attacks"])
display(
    Markdown(
        format_table1({"DFARD student (no data)": dfard, "undefended student (real data)": undefended}, attacks=attacks)
    )
)
print(analysis.undefended_comparison(dfard, undefended))
print("default val_size per dataset:", VAL_SIZES, "; training images:", TRAIN_SPLIT_SIZES)
print(analysis.selection_line("DFARD", dfard))

# %% [markdown]
# ### What the generator makes
#
# Eight images per class from the trained generator. Like the pseudo-data of DERD's supplement (its Fig. 2), they
# need not look like digits to a human: they are what moves the teacher's decision, not what a person would draw.

# %%
images, labels = sample_grid(load_generator(dfard_dir), per_class=8)
viz_robust.generated_images_figure(images, labels, title="DFARD's generated images, one row per class").show()

# %% [markdown]
# ### tau and lambda over the epochs
#
# ITA's temperature starts high while the randomly initialised student disagrees with the teacher and falls as it
# catches up; AGB's $\lambda$ falls from near 1 (an unsure teacher: mostly $L_{cls}$) towards $1/C$ as the
# generator makes the teacher confident, shifting the weight to the adversarial term. The accuracy curves are on
# the validation split (the test split is read only once, at the end); the dashed line is the undefended
# student's PGD_S accuracy on the test split, a reference level.

# %%
viz_robust.adaptive_terms_figure({"DFARD": dfard["history"]}).show()
viz_robust.robust_curves_figure(
    {"DFARD": dfard["history"]},
    attacks=("clean", "pgd_s", "pgd_t"),
    prefix=VALIDATION_PREFIX,
    references={"undefended PGD_S": undefended["pgd_s"]},
).show()
print(analysis.adaptive_terms_line(dfard["history"]))

# %% [markdown]
# ## 3 · DFARD's tables at our scale
#
# The same base settings for every row; the rows differ only in the generator loss and the ITA/AGB switches, as
# the paper's comparison ("the difference only lies in the generator loss function"). Every row's epoch is chosen
# on its validation split and its test accuracies measured once, as above. Ours are mean ± std over
# `SEEDS` on the dataset above; the paper's, in parentheses, are CIFAR-10 with a WRN-34-10 teacher and a ResNet-18
# student. Dream, CMI and Fast are not implemented.
#
# The tables' runs train only with `TRAIN = True` (13 runs on digits, about 13 minutes on 2 cores, so that Run All
# stays quick); with `TRAIN = False`, the default, a table whose runs are all finished in `OUT` is read back, and
# one that is not says how many are missing. `make course` runs the notebook with `TRAIN = True`.

# %%
base = DfardConfig(teacher=teacher_dir, dataset=DATASET, device=str(device), **DISTILL_SETTINGS)
summaries = {}
for number in TABLES:
    rows_of_table, _ = analysis.dfard_table(number)
    try:
        results = experiments.run_rows(
            rows_of_table, base, os.path.join(OUT, "rows"), seeds=range(SEEDS), jobs=nb.jobs, train=TRAIN
        )
    except RunsNotTrainedError as error:
        print(f"Table {number} is not drawn: {error}. Set TRAIN = True to train its runs.")
        continue
    summaries[number] = experiments.summarize(results)
    display(Markdown(analysis.dfard_table_markdown(number, summaries[number])))

# %%
if "1" in summaries:
    viz_robust.robust_bars_figure(*analysis.table1_bars(summaries["1"])).show()

# %% [markdown]
# ## 4 · What reproduces
#
# The paper's claims, checked against our numbers. Each line is computed from the runs above; at our scale (8x8
# digits, a 62k-parameter teacher, minutes of CPU) a claim may well not hold, and then the line says so. With
# `SEEDS = 1` every std above is 0 and a difference of a few points may be one seed's luck: run `SEEDS = 3` (or
# `advdist-lab dfard-table --seeds 3`) before reading much into it.


# %%
display(Markdown("\n".join(analysis.dfard_claims(summaries)) or "No table was run."))

# %% [markdown]
# ## 5 · The full run
#
# On a GPU with the CIFAR-10 data, the paper's setting (a robust WRN-34-10 would take a day to train; the notebook
# trains `robust-teacher`'s CIFAR-10 default, or set `TEACHER` to your own checkpoint imported with
# `advdist-lab robust-teacher --checkpoint FILE --arch wrn-34-10`):
#
# ```
# papermill notebooks/08_data_free_robust_distillation.ipynb out.ipynb -p DATASET cifar10 -p DEVICE cuda
# advdist-lab dfard --dataset cifar10 --device cuda --method dfard --teacher runs/robust-teacher-cifar10 --out runs/dfard-c10
# advdist-lab dfard-table --table 3 --dataset cifar10 --device cuda --teacher runs/robust-teacher-cifar10 --seeds 1
# ```
#
# `bench/dfard_speed.py --device cuda` prints the seconds per epoch against DFARD Table 2's 3.28 h.

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to predict a number or a tendency: write your prediction down before you open the solution
# below it (folded on the site), which measures it with this notebook's teacher, students and generator.

# %% [markdown]
# **Exercise 1.** ITA (Eq. 4) by hand. In a batch of $bs = 8$ samples with $C = 10$ classes, the teacher gives its
# class $c$ the probability $Con_t = 0.9$ on every sample. Predict $\tilde\tau$ when the student gives class $c$
# the probability $Con_s = 0, 0.3, 0.6, 0.85$ and $1$ on every sample. Then predict it when half the batch has
# $Con_s = 1$ and the other half $Con_s = 0.2$: is it $C$ times the mean gap $\overline{|Con_t - Con_s|}$, or $C$
# times the gap of the means? Finally, predict whether the notebook's teacher and DFARD student give a temperature
# near 1 or near $C$ on the generator's images (`robust.ita_agb.interactive_temperature`).

# %% tags=["solution", "hide-cell"]
# Solution to exercise 1
import math

import torch

from advdist_lab.robust.ita_agb import interactive_temperature
from advdist_lab.robust.teacher import load_teacher

C, bs, con_t = 10, 8, 0.9
labels_c = torch.arange(bs) % C  # the teacher's class c of each sample


def confident(p_class: float | torch.Tensor) -> torch.Tensor:
    """(bs, C) probabilities: p_class on each sample's class c, the rest spread evenly."""
    p_class = torch.as_tensor(p_class, dtype=torch.float64).expand(bs)
    p = ((1 - p_class) / (C - 1))[:, None].repeat(1, C)
    return p.scatter(1, labels_c[:, None], p_class[:, None])


p_t = confident(con_t)
for con_s in (0.0, 0.3, 0.6, 0.85, 1.0):
    tau = interactive_temperature(p_t, confident(con_s))
    print(f"Con_t = {con_t}, Con_s = {con_s:.2f}: tau~ = {tau:.2f}  (C |Con_t - Con_s| = {C * abs(con_t - con_s):.2f})")
    assert math.isclose(tau, max(C * abs(con_t - con_s), 1.0), abs_tol=1e-9)
mixed = torch.tensor([1.0, 0.2] * (bs // 2), dtype=torch.float64)  # half over-confident, half unsure
tau_mixed = interactive_temperature(p_t, confident(mixed))
mean_gap, gap_of_means = float((con_t - mixed).abs().mean()), abs(con_t - float(mixed.mean()))
print(
    f"half the batch at Con_s = 1.0, half at 0.2: tau~ = {tau_mixed:.2f} = C x mean |Con_t - Con_s| = {C} x "
    f"{mean_gap:.2f}, not C x |Con_t - mean Con_s| = {C * gap_of_means:.2f}: errors of both signs add up"
)
assert math.isclose(tau_mixed, C * mean_gap, abs_tol=1e-9)

teacher_model, _ = load_teacher(teacher_dir, device=device)
student_model, _ = load_teacher(dfard_dir, device=device)
generator = load_generator(dfard_dir, device=device)
with torch.no_grad():
    x_gen, _, _ = generator.sample(256, generator=torch.Generator(device=device).manual_seed(0))
    p_teacher, p_student = teacher_model(x_gen).softmax(1), student_model(x_gen).softmax(1)
tau_now = interactive_temperature(p_teacher, p_student)
con_t_now = p_teacher.max(1)
con_s_now = p_student.gather(1, con_t_now.indices[:, None]).squeeze(1)
print(
    f"the notebook's teacher and DFARD student on 256 generated images: mean Con_t "
    f"{float(con_t_now.values.mean()):.3f}, mean Con_s {float(con_s_now.mean()):.3f}, tau~ = {tau_now:.2f} "
    f"(the last epoch's mean tau in the history: {dfard['history'][-1]['tau']:.2f}; the range is [1, {C}])"
)


# %% [markdown]
# **Exercise 2.** AGB (Eq. 7), $\lambda = 1 / (C \cdot \overline{Con_t})$, weighs $L_{cls}$ against $L_{adv}$ in
# Eq. 6. Predict $\lambda$ for a uniform teacher, for one that is 50% sure of its class and for a one-hot one.
# Then order three batches by the $\lambda$ that the notebook's robust teacher gives them: real test images,
# DFARD's generated images and uniform noise. On which would the generator put the most weight on $L_{adv}$
# (`robust.ita_agb.adaptive_generator_balance`)?

# %% tags=["solution", "hide-cell"]
# Solution to exercise 2
from advdist_lab.robust.data import load_robust_data
from advdist_lab.robust.ita_agb import adaptive_generator_balance

for name, mean_con in (("uniform", 1 / C), ("50% sure", 0.5), ("one-hot", 1.0)):
    lam = adaptive_generator_balance(confident(mean_con))
    print(f"a {name} teacher (Con_t = {mean_con:.2f} on every sample): lambda = {lam:.3f}, 1 - lambda = {1 - lam:.3f}")
    assert math.isclose(lam, 1 / (C * mean_con), abs_tol=1e-9)

test = load_robust_data(DATASET, test_size=200, device=device)
noise = torch.rand(test.x_test.shape, generator=torch.Generator().manual_seed(0)).to(device)
batches = {"real test images": test.x_test, "DFARD's generated images": x_gen, "uniform noise": noise}
lambdas = {}
with torch.no_grad():
    for name, x in batches.items():
        p = teacher_model(x).softmax(1)
        lambdas[name] = adaptive_generator_balance(p)
        print(
            f"the notebook's teacher on {name}: mean Con_t {float(p.max(1).values.mean()):.3f}, lambda = "
            f"{lambdas[name]:.3f}"
        )
print(
    f"smallest lambda (most weight on L_adv): {min(lambdas, key=lambdas.get)}; largest (most weight on L_cls): "
    f"{max(lambdas, key=lambdas.get)}"
)


# %% [markdown]
# **Exercise 3.** The attack budget. The evaluation attacks at the protocol's $\epsilon$ (0.15 on the digits,
# 8/255 on CIFAR-10). Predict the robust teacher's accuracy on 200 test images under PGD_S (20 steps of
# $\epsilon/4$) at $1/4, 1/2, 1, 3/2$ and $2$ times that $\epsilon$: at which budget does it fall below half of its
# clean accuracy? Check too that every adversarial image stays inside its $\epsilon$-ball and in $[0, 1]$
# (`robust.attacks.gradient.pgd_s`).

# %% tags=["solution", "hide-cell"]
# Solution to exercise 3
from advdist_lab.robust.attacks import AttackProtocol
from advdist_lab.robust.attacks.gradient import pgd_s

protocol = AttackProtocol.for_dataset(DATASET)
x, y = test.x_test, test.y_test
with torch.no_grad():
    clean = float((teacher_model(x).argmax(1) == y).float().mean())
print(f"the robust teacher on {len(y)} test images: clean {100 * clean:.1f}%; the protocol's eps is {protocol.eps:.3g}")
budgets = [protocol.eps * f for f in (0.25, 0.5, 1.0, 1.5, 2.0)]
accuracies = []
for eps in budgets:
    x_adv = pgd_s(
        teacher_model, x, y, eps, protocol.steps, eps / 4, generator=torch.Generator(device=device).manual_seed(0)
    )
    moved = float((x_adv - x).abs().max())
    assert moved <= eps + 1e-6 and float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    with torch.no_grad():
        accuracies.append(float((teacher_model(x_adv).argmax(1) == y).float().mean()))
    print(
        f"eps {eps:.4f}: PGD_S-{protocol.steps} accuracy {100 * accuracies[-1]:.1f}%, largest pixel change {moved:.4f}"
    )
falls = all(a >= b for a, b in zip(accuracies, accuracies[1:]))
half = next((f"{e:.3g}" for e, a in zip(budgets, accuracies) if a < clean / 2), f"beyond {budgets[-1]:.3g}")
print(
    f"accuracy {'falls monotonically' if falls else 'does NOT fall monotonically'} with eps; it drops below half "
    f"the clean accuracy at eps {half}; every perturbation stayed within its eps-ball and [0, 1]"
)


# %% [markdown]
# **Exercise 4.** More steps. At the protocol's $\epsilon$ and step $\epsilon/4$, predict the PGD_S accuracy of the
# robust teacher and of the undefended student (section 1) with 1, 2, 5, 10, 20 and 50 steps. A step of
# $\epsilon/4$ needs four steps to cross from the centre of the ball to its edge: where do the curves flatten, does
# 50 steps find much more than the protocol's 20, and is the robust teacher above the undefended student at every
# step count?

# %% tags=["solution", "hide-cell"]
# Solution to exercise 4
undefended_model, _ = load_teacher(runs["undefended"][1], device=device)
models = {"robust teacher": teacher_model, "undefended student": undefended_model}
step_counts = (1, 2, 5, 10, 20, 50)
curves = {}
for name, model in models.items():
    curves[name] = []
    for steps in step_counts:
        x_adv = pgd_s(
            model,
            x,
            y,
            protocol.eps,
            steps,
            protocol.step_size,
            generator=torch.Generator(device=device).manual_seed(0),
        )
        with torch.no_grad():
            curves[name].append(float((model(x_adv).argmax(1) == y).float().mean()))
    print(
        f"{name}: PGD_S accuracy at eps {protocol.eps:.3g} with "
        + ", ".join(f"{s} step{'s' if s > 1 else ''} {100 * a:.1f}%" for s, a in zip(step_counts, curves[name]))
    )
for name, curve in curves.items():
    at_20, at_50 = curve[step_counts.index(20)], curve[-1]
    print(
        f"{name}: {100 * curve[0]:.1f}% after 1 step, {100 * at_20:.1f}% after 20, {100 * at_50:.1f}% after 50: the "
        f"last 30 steps change it by {100 * (at_50 - at_20):+.1f} points "
        f"({'a plateau' if abs(at_50 - at_20) <= 0.02 else 'still moving'})"
    )
above = [s for s, r, u in zip(step_counts, curves["robust teacher"], curves["undefended student"]) if r > u]
weak_first = curves["undefended student"][0] - curves["undefended student"][-1] > 0.1
print(
    f"the robust teacher is above the undefended student at {len(above)} of {len(step_counts)} step counts"
    + (f" ({', '.join(map(str, above))} steps)" if above else "")
    + (
        "; a one-step attack of eps/4 makes the undefended student look far more robust than it is"
        if weak_first
        else "; the undefended student loses little to more steps here"
    )
)

# %%
nb.cleanup()  # a smoke run's temporary run folder, removed now rather than at kernel exit
