""":class:`BatchedTrainer`: ``M`` runs of one method, dataset and architectures trained as one batched model.

Each member is the run of its own :class:`~advdist_lab.methods.TrainConfig` (the configs differ only in
:data:`MEMBER_FIELDS`: seeds, and the weights omega, nu, mu, DISTN's alpha and CODIS's weight of a grid), and
follows that run as :class:`~advdist_lab.methods.loop.Trainer` trains it alone:

* **initialisation**: a solo ``Trainer`` is built for each member (its players seeded by ``derive_seed(seed,
  "init-student")`` etc.) and the players are stacked (:func:`~advdist_lab.runs.ensemble.layers.stack_members`), so
  member ``m`` starts from the very weights of solo run ``m``;
* **randomness**: every epoch (and pretraining epoch) gives member ``m`` its own generator seeded as the solo run
  seeds that epoch (:func:`epoch_generators`); from it come the member's minibatch order (one ``randperm`` per
  pass) and its labels, Gumbel and NOISY noise, drawn member by member in the order the solo run draws them
  (``StepContext.generator`` is the tuple of generators: :func:`advdist_lab.gumbel.member_draw`). On multi-label
  data (the tags, TPAMI Sec. 5.2) each minibatch's labels are drawn from ``p_r`` per member with its generator
  (:func:`~advdist_lab.methods.loop.sample_labels`), before the step's noise, as the solo run draws them. Dropout
  (the tag student, the MNIST players) draws member ``m``'s masks from a second generator seeded as the solo run
  seeds torch's global generator (:func:`~advdist_lab.runs.ensemble.layers.set_dropout_generators`);
* **losses**: the methods' own losses on ``(M, B, K)`` logits return one value per member, shape ``(M,)``
  (:mod:`advdist_lab.losses`); the step descends their sum, whose gradient w.r.t. member ``m``'s parameters is
  member ``m``'s own gradient (no operation mixes members);
* **optimiser**: one Adam over the stacked parameters is ``M`` independent Adams (it is element-wise; the members
  share the step count, as they step together); the solo loop's own (:func:`advdist_lab.methods.adam.make_adam`,
  the fused kernel on CPU and CUDA);
* **frozen teacher** (MIMIC, DISTN, NOISY): where the solo loop computes the teacher's logits once per run
  (:meth:`~advdist_lab.methods.loop.Trainer.frozen_teacher_logits`), the batch computes every member's once per
  epoch (:meth:`BatchedTrainer.frozen_teacher_logits`) and hands each minibatch its rows;
* **evaluation**: the solo loop's metrics per member; on multi-label data each member's ranking metrics by the
  solo loop's function (:func:`advdist_lab.metrics.player_ranking_metrics`).

Not always bit-identical: a grouped convolution (the LeNet players) sums in another order than the solo kernel,
so there members agree with their solo runs to float rounding (the tests bound the histories by 1e-4). The tag
players' batched matmuls (forward and backward) and the losses (:mod:`advdist_lab.losses`; each member's
cross-entropy by the solo call) were measured bit-identical on the CPU: the tag members' histories are the solo
runs' bit for bit (``tests/test_ensemble_tags.py``). On the CPU the
dropout masks are the solo runs' bit for bit; on CUDA the solo run's fused dropout kernel draws other masks, so
there members with dropout are independent runs but not their solo runs' twins. The global generator is seeded
with member 0's epoch seed (nothing of the supported players draws from it).

A member whose loss goes non-finite is stopped alone (:attr:`BatchedTrainer.failed`, a
:class:`MemberNonFiniteError` naming the member and its seed): no operation mixes members, so its NaNs never
reach the others, which train on; its entries are ``None`` from then on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from ...data import TaskData
from ...gumbel import member_draw
from ...losses import cross_entropy, kl_loss
from ...methods.adam import make_adam
from ...methods.base import Batch, Players, StepContext
from ...methods.config import TrainConfig, bf16_autocast
from ...methods.kd import FrozenTeacherKD, TeacherBatch
from ...methods.loop import PLAYERS, NonFiniteLossError, Trainer, derive_seed, deterministic_forward, sample_labels
from ...metrics import player_ranking_metrics
from .layers import set_dropout_generators, stack_members

__all__ = [
    "MEMBER_FIELDS",
    "WEIGHT_FIELDS",
    "BatchedTrainer",
    "MemberConfig",
    "MemberNonFiniteError",
    "epoch_generators",
]

WEIGHT_FIELDS = ("omega_r", "omega_s", "omega_t", "nu", "mu", "distn_alpha", "codis_weight")
"""The methods' weights in which members may differ: each only multiplies a loss term, so the losses read them as
``(M,)`` tensors (:class:`MemberConfig`) and every member's term gets its own weight."""

MEMBER_FIELDS = frozenset({"seed", *WEIGHT_FIELDS})
"""The config fields in which the members of one batch may differ: their seeds and the weights of a grid."""


class MemberConfig:
    """The config that the losses of a batch read (``StepContext.config``): member 0's, except that a weight of
    :data:`WEIGHT_FIELDS` on which the members differ is an ``(M,)`` tensor of theirs (a shared one stays the
    number, as the solo runs read it)."""

    def __init__(self, configs: Sequence[TrainConfig], device: torch.device):
        self.shared = configs[0]
        self.per_member: dict[str, torch.Tensor] = {}
        for name in WEIGHT_FIELDS:
            values = [getattr(c, name) for c in configs]
            if len(set(values)) > 1:
                self.per_member[name] = torch.tensor(values, dtype=torch.float32, device=device)

    def __getattr__(self, name: str):
        per_member = self.__dict__.get("per_member", {})
        return per_member[name] if name in per_member else getattr(self.__dict__["shared"], name)


class MemberNonFiniteError(NonFiniteLossError):
    """A member's loss became NaN or infinite: that member stops; the message names it and its seed."""

    def __init__(self, member: int, seed: int, player: str, epoch: int, stage: str = "training", kept=None):
        self.member, self.seed = member, seed
        super().__init__(player, epoch, stage, kept)

    def _message(self) -> str:
        return f"member {self.member} (seed {self.seed}): {super()._message()}"

    def __reduce__(self):
        return type(self), (self.member, self.seed, self.player, self.epoch, self.stage, self.kept)


def epoch_generators(seeds: Sequence[int], stage: str, epoch: int, device: torch.device) -> tuple[torch.Generator, ...]:
    """One generator per member, seeded as the solo run of seed ``seeds[m]`` seeds ``stage``'s epoch ``epoch``.

    The global generator is seeded as member 0's solo run seeds it (the players' dropout draws from generators of
    its own: :func:`~advdist_lab.runs.ensemble.layers.set_dropout_generators`)."""
    generators = []
    for seed in seeds:
        generator = torch.Generator(device=device)
        generator.manual_seed(derive_seed(seed, stage, epoch))
        generators.append(generator)
    torch.manual_seed(derive_seed(seeds[0], stage, epoch))
    return tuple(generators)


def check_members(configs: Sequence[TrainConfig], data: TaskData) -> list[TrainConfig]:
    """The resolved configs, if they can train as one batch; ``ValueError`` naming the obstacle otherwise."""
    if len(configs) < 1 or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError("a batch needs at least one TrainConfig")
    resolved = [c.resolved() for c in configs]
    first = resolved[0].to_dict()
    for index, config in enumerate(resolved):
        differ = sorted(k for k, v in config.to_dict().items() if v != first[k] and k not in MEMBER_FIELDS)
        if differ:
            raise ValueError(
                f"members of a batch may differ only in {', '.join(sorted(MEMBER_FIELDS))}: member {index} differs "
                f"from member 0 in {', '.join(differ)}"
            )
    if resolved[0].probe_gradients:
        raise ValueError("probe_gradients is for single runs: a batch does not probe its members' gradients")
    if data.augment is not None:
        raise ValueError("a batch trains data without augmentation (digits, MNIST, synthetic, tags)")
    if data.multilabel and (data.train.p_r is None or data.test.p_r is None):
        raise ValueError("multi-label data need p_r (each item's tags) in both splits")
    return resolved


class BatchedTrainer:
    """The players, optimisers and loop of ``M`` runs (module docstring); methods return one entry per member."""

    def __init__(self, configs: Sequence[TrainConfig], data: TaskData, device: torch.device | str):
        self.configs = check_members(configs, data)
        self.config = self.configs[0]
        self.member_config = MemberConfig(self.configs, torch.device(device))
        self.seeds = [c.seed for c in self.configs]
        self.members = len(self.configs)
        self.data = data
        self.device = torch.device(device)
        solos = [Trainer(config, data, self.device) for config in self.configs]
        self.method = solos[0].method
        self.num_classes = data.num_classes
        self.multilabel = data.multilabel
        stacked = {
            name: stack_members([getattr(s.players, name) for s in solos]) for name, _ in solos[0].players.items()
        }
        self.players = Players(**stacked)
        cfg = self.config
        lrs = {"student": cfg.lr_student, "teacher": cfg.lr_teacher, "discriminator": cfg.lr_discriminator}
        self.optimizers = {name: make_adam(m.parameters(), lrs[name], self.device) for name, m in self.players.items()}
        self.autocast = bf16_autocast(cfg.precision, self.device)
        self.schedule = cfg.schedule
        self.failed: dict[int, MemberNonFiniteError] = {}

    # -- minibatches -------------------------------------------------------------------------------------------
    def _passes(self, count: int, generators: Sequence[torch.Generator]) -> Iterator[torch.Tensor]:
        """``(M, B)`` indices: member ``m``'s minibatches in the order its solo run takes them."""
        n = len(self.data.train)
        for _ in range(count):
            orders = torch.stack([torch.randperm(n, generator=g, device=self.device) for g in generators])
            yield from orders.split(self.config.batch_size, dim=1)

    def _batch(self, index: torch.Tensor, generators: Sequence[torch.Generator]) -> Batch:
        """The ``(M, B, ...)`` minibatch at ``index``; on multi-label data member ``m``'s labels are drawn from
        ``p_r`` with its generator, as :meth:`Trainer._batch` draws the solo run's."""
        split = self.data.train
        y = member_draw(sample_labels, split.p_r[index], generators) if self.multilabel else split.y[index]
        return Batch(x=split.x[index], xs=split.x_student[index], y=y)

    def _generators(self, stage: str, epoch: int) -> tuple[torch.Generator, ...]:
        """The members' generators of ``stage``'s epoch ``epoch`` (:func:`epoch_generators`); the players' dropout
        gets a second set seeded alike, standing for the global generator that each solo run seeds so."""
        dropout = epoch_generators(self.seeds, stage, epoch, self.device)
        for _, module in self.players.items():
            set_dropout_generators(module, dropout)
        return epoch_generators(self.seeds, stage, epoch, self.device)

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _step(self, player: str, loss: torch.Tensor) -> None:
        """One step of every member's ``player``: the sum of the members' losses has each member's own gradient."""
        optimizer = self.optimizers[player]
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()

    def _check_finite(self, player: str, means: torch.Tensor, epoch: int, stage: str) -> None:
        for member, value in enumerate(means.tolist()):
            if member not in self.failed and not math.isfinite(value):
                self.failed[member] = MemberNonFiniteError(member, self.seeds[member], player, epoch, stage)

    def _per_member(self, values: dict[str, list[float]]) -> list[dict[str, float] | None]:
        return [
            None if m in self.failed else {key: column[m] for key, column in values.items()}
            for m in range(self.members)
        ]

    # -- pretraining (KDGAN Algorithm 1, line 1) ---------------------------------------------------------------
    def pretrain(self, player: str, epochs: int) -> list[list[float] | None]:
        """Pretraining of every member's ``player`` (as :meth:`Trainer.pretrain`); each member's epoch losses."""
        module = getattr(self.players, player)
        if module is None:
            raise ValueError(f"{self.config.method} has no {player} to pretrain")
        losses: list[list[float]] = [[] for _ in range(self.members)]
        module.train()
        for epoch in range(epochs):
            generators = self._generators(f"pretrain-{player}", epoch)
            total, count = torch.zeros(self.members, device=self.device), 0
            for index in self._passes(1, generators):
                batch = self._batch(index, generators)
                with self._autocast():
                    if player == "discriminator":
                        ctx = StepContext(self.tau(0), generators, self.member_config, self.num_classes)
                        loss = self.method.discriminator_loss(self.players, batch, ctx)
                    else:
                        logits = module(batch.x if player == "teacher" else batch.xs)
                        loss = cross_entropy(logits.float(), batch.y)
                self._step(player, loss)
                total += loss.detach()
                count += 1
            means = total / count
            self._check_finite(player, means, epoch + 1, "pretraining")
            for member, value in enumerate(means.tolist()):
                losses[member].append(value)
        return [None if m in self.failed else losses[m] for m in range(self.members)]

    # -- one epoch of Algorithm 1 ------------------------------------------------------------------------------
    def tau(self, epoch: int) -> float:
        return self.schedule.at(epoch, self.config.epochs)

    def train_epoch(self, epoch: int) -> list[dict[str, float] | None]:
        """Epoch ``epoch`` (0-based) for every member: its mean losses as :meth:`Trainer.train_epoch` returns them
        (``None`` for a member stopped by a non-finite loss, now or before)."""
        cfg = self.config
        generators = self._generators("train", epoch)
        ctx = StepContext(self.tau(epoch), generators, self.member_config, self.num_classes)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for _, module in self.players.items():
            module.train()
        hoisted = self.frozen_teacher_logits()
        rows = torch.arange(self.members, device=self.device).unsqueeze(1)
        for player, count in (("discriminator", cfg.k_d), ("teacher", cfg.k_t), ("student", cfg.k_s)):
            for index in self._passes(count, generators):
                batch = self._batch(index, generators)
                if hoisted is not None:
                    batch = TeacherBatch(batch.x, batch.xs, batch.y, teacher_logits=hoisted[rows, index])
                with self._autocast():
                    if player == "discriminator":
                        loss = self.method.discriminator_loss(self.players, batch, ctx)
                        logged = {"loss": loss.detach()}
                    else:
                        terms = getattr(self.method, f"{player}_loss")(self.players, batch, ctx)
                        loss = terms.total
                        logged = terms.logged()
                self._step(player, loss)
                for part, value in logged.items():
                    key = f"{player}_{part}"
                    sums[key] = sums[key] + value if key in sums else value.float()
                counts[player] = counts.get(player, 0) + 1
        means: dict[str, torch.Tensor] = {}
        for key, value in sums.items():
            player = next(p for p in PLAYERS if key.startswith(p + "_"))
            means[key] = value / counts[player]
        for player in PLAYERS:
            if f"{player}_loss" in means:
                self._check_finite(player, means[f"{player}_loss"], epoch + 1, "training")
        return self._per_member({key: value.tolist() for key, value in means.items()})

    @torch.no_grad()
    def frozen_teacher_logits(self) -> torch.Tensor | None:
        """``(M, n, K)``: every member's frozen teacher on the training set, where the solo loop hoists it (the KD
        baselines with a deterministic teacher forward in training mode); ``None`` elsewhere."""
        teacher = self.players.teacher
        if not isinstance(self.method, FrozenTeacherKD) or not deterministic_forward(teacher):
            return None
        x = self.data.train.x
        chunk = max(1, 4096 // self.members)
        with self._autocast():
            parts = [teacher(part.expand(self.members, *part.shape)) for part in x.split(chunk)]
        return torch.cat(parts, dim=1)

    # -- evaluation --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``(M, N, K)``: every member's logits on the shared examples ``x``."""
        was_training = module.training
        module.eval()
        chunk = max(1, 4096 // self.members)
        with self._autocast():
            parts = [module(part.expand(self.members, *part.shape)).float() for part in x.split(chunk)]
        module.train(was_training)
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float] | None]:
        """Every member's test metrics, as :meth:`Trainer.evaluate` returns them (``None`` for a stopped member)."""
        test = self.data.test
        if self.multilabel:
            return self._evaluate_ranking()
        student = self._logits(self.players.student, test.x_student)
        out = {"student_test_accuracy": (student.argmax(-1) == test.y).float().mean(-1)}
        if self.players.teacher is not None:
            teacher = self._logits(self.players.teacher, test.x)
            out["teacher_test_accuracy"] = (teacher.argmax(-1) == test.y).float().mean(-1)
        if test.p_r is not None:
            target = test.p_r.clamp_min(1e-30).log().expand(self.members, *test.p_r.shape)
            out["student_kl_to_real"] = kl_loss(target, student)
        return self._per_member({key: value.tolist() for key, value in out.items()})

    def _evaluate_ranking(self) -> list[dict[str, float] | None]:
        """Every member's ranking metrics on multi-label data, by the solo loop's function
        (:func:`~advdist_lab.metrics.player_ranking_metrics`) on the member's scores."""
        test = self.data.test
        targets = test.p_r > 0  # each test item's tags
        players = [("student", self.players.student, test.x_student)]
        if self.players.teacher is not None:
            players.append(("teacher", self.players.teacher, test.x))
        out: list[dict[str, float] | None] = [None if m in self.failed else {} for m in range(self.members)]
        for name, module, x in players:
            scores = self._logits(module, x)
            for m, metrics in enumerate(out):
                if metrics is not None:  # a stopped member's scores may not be finite
                    metrics.update(player_ranking_metrics(name, scores[m], targets))
        return out
