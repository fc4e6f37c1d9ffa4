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
# Parameters (papermill overrides these; `make course` runs the defaults, `make test` sets SMOKE = True).
SMOKE = False  # small sizes for CI; nothing in this notebook is expensive either way
DEVICE = "auto"  # "auto", "cpu", "cuda" or "mps"
INTERACTIVE = False  # this notebook has no widgets; kept for a uniform interface
SEED = 0

# %% [markdown]
# # 00 · Welcome: learning with privileged provisions
#
# This course is an executable companion to two papers on **adversarial distillation**:
#
# * *KDGAN: Knowledge Distillation with Generative Adversarial Networks* (NeurIPS 2018), and
# * its journal extension, *Adversarial Distillation for Learning with Privileged Provisions* (TPAMI), which we
#   cite as "TPAMI" with its equation, lemma and table numbers.
#
# Later parts add two papers on data-free adversarial *robustness* distillation (DFARD, AAAI 2024, and DERD).
# Every theorem is checked numerically, every figure is computed by the library `advdist_lab`, and every
# notebook runs headless in CI.
#
# ## The problem
#
# Some resources are available when a model is **trained** but not when it is **used**. TPAMI calls them
# *privileged provisions* and gives two examples:
#
# * **Image tag recommendation.** A photo-sharing site wants to suggest tags the moment an image is uploaded.
#   Titles and descriptions, which say a lot about the right tags, arrive only later. At training time we have
#   them; at inference we do not. The text is *privileged information*: extra input features.
# * **Face unlock.** A phone must recognise its owner on the device, fast and offline. A large face-recognition
#   model can be trained on powerful servers, but it cannot run on the phone. The server's computation is the
#   privileged provision: model capacity.
#
# The goal is a **student** $S$ with distribution $p_s(y\mid x)$ that needs no privileged provision at
# inference and still fits the real distribution $p_r(y\mid x)$ as well as possible.
#
# ## The players
#
# | player | sees privileged provisions? | role |
# |---|---|---|
# | student $S$, $p_s(y\mid x)$ | no | the model we deploy |
# | teacher $T$, $p_t(y\mid x)$ | yes (more capacity or more features) | teaches the student by *distillation* |
# | discriminator $D$ | yes | tells real labels from the labels the student (and teacher) produce: *adversarial* training |
#
# Knowledge distillation (KD, TPAMI Eq. 2) uses $S$ and $T$; the naive GAN (NGAN, Eq. 3) uses $S$ and $D$;
# ADIB (= KDGAN, Eq. 4) and ADIM (Eq. 6) use all three. The next notebooks show why three players are better
# than two, first on exact distributions where everything can be computed in closed form.
#
# ## Map of the course
#
# | notebook | what it shows |
# |---|---|
# | `00_welcome` | this page: the problem, the players, an environment check |
# | `01_kd_vs_ngan` | TPAMI Eq. 1-3 on exact distributions: where a teacher's error comes from; a KD student inherits it; NGAN reaches $p_r$ but slowly, oscillating |
# | `02_adib_equilibrium` | Lemma 4.1, Theorem 4.2 and KDGAN Eq. 4-5 checked numerically; ADIB's paths on the simplex, and why $\nu=\mu=0$ is not enough |
# | `03_adim_equilibrium` | Lemma 4.3, Theorem 4.4, Lemmas 4.6-4.7 (stated precisely); ADIM drives both players to $p_r$ on its own |
# | `04_model_compression` | deep model compression trained on digits: Table 1 beside the paper's, Fig. 4 training curves |
# | `05_gradient_variance` | the gradient estimators against the exact gradient, Lemma 4.5, and gradient probes in training (Figs. 5, 7) |
# | `06_explorer` | sliders over omega, nu, mu, upsilon and tau: the exact game and a training run, live; Figs. 3 and 6 swept |
# | `07_tag_recommendation` | image tag recommendation with privileged text: Table 4, Figs. 9 and 11 |
# | `08_data_free_robust_distillation` | a robust student from a robust teacher without its data (DFARD): ITA and AGB, generated images, DFARD Tables 1, 3 and 4 |
# | `09_derd` | two experts, a natural and a robust teacher, in two stages (DERD), its variants, the supplement's Tables 2 and 3 |

# %% [markdown]
# ## Environment check
#
# The library's core needs only `torch`, `torchvision`, `numpy` and `tqdm`; the notebooks add the Jupyter stack
# and `plotly`. The report below is what this kernel runs on.

# %%
import torch

from advdist_lab import __version__, course, theory, viz
from advdist_lab.environment import environment_report

nb = course.setup_notebook("00_welcome", smoke=SMOKE, device=DEVICE, seed=SEED)

report = environment_report(DEVICE)
print(f"advdist_lab {__version__}")
for key, value in report.items():
    print(f"{key:>20}: {value}")

# %%
device = nb.device
x = torch.randn(256, 256, device=device)
check = (x @ x.T - (x @ x.T).T).abs().max().item()
print(f"a 256x256 matrix product on {device}: symmetric to {check:.1e}")
assert check < 1e-3

# %% [markdown]
# ## A first look: what a KD student learns
#
# Take one input $x$ with three labels. The real distribution is $p_r$; a teacher trained on finite data is off,
# $p_t \neq p_r$. A student trained by KD minimises $L_{KD}(p_t \| p_s) = KL(p_t\|p_s) + \upsilon\, KL(p_r\|p_s)$
# (TPAMI Eq. 2), whose minimiser is $(p_t + \upsilon p_r)/(1+\upsilon)$: somewhere between the teacher and the
# truth. Notebook 01 derives this and shows how the adversarial alternative behaves.

# %%
p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
p_t = torch.tensor([0.35, 0.5, 0.15], dtype=torch.float64)
upsilon = 0.5
student = theory.kd_optimal_student(p_r, p_t, upsilon)
print("KD student:", [round(v, 4) for v in student.tolist()], f" KL(p_r || p_s) = {theory.kl(p_r, student).item():.4f}")
viz.distribution_bars(
    {"real p_r": p_r, "teacher p_t": p_t, "student (KD optimum)": student},
    title=f"A KD student sits between its teacher and the truth (upsilon = {upsilon})",
)
