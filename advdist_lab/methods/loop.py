"""The one training loop that every method shares (TPAMI Algorithm 1; KDGAN Algorithm 1).

Per epoch: ``k_d`` passes of discriminator steps, then ``k_t`` passes of teacher steps, then ``k_s`` passes of
student steps; a pass is a shuffled sweep over the training set in minibatches. Before the first epoch, the
players may be pretrained by supervised learning (KDGAN Algorithm 1, line 1).

Reproducibility: every player is initialised from its own seed derived from the run's seed, and every epoch
(and every pretraining epoch) reseeds torch and a generator on the training device from ``(seed, stage, epoch)``.
So an epoch's randomness (minibatch order, label samples, Gumbel noise, dropout) does not depend on what ran
before it, and a run resumed from the checkpoint of epoch ``k`` repeats epochs ``k+1, ...`` exactly.

Multi-label data (image tag recommendation, TPAMI Sec. 5.2, KDGAN Sec. 4.2): an item has a set of tags and
``p_r(y|x)`` is uniform over them (``Split.p_r``). Each minibatch draws one real label per item from its ``p_r``
row with the epoch's generator: a one-sample, unbiased estimate of every expectation over ``p_r`` (the
discriminator's real term of Eq. 3, 4, 6, the cross-entropy of Eq. 1, the ``upsilon`` term of Eq. 2). Evaluation
ranks the tags by the players' scores (:func:`advdist_lab.metrics.ranking_metrics`, TPAMI Table 4).

Speed: the training data already live on the device as tensors; losses are accumulated on the device and read
once per epoch, so the step loop has no host-device synchronisation. On CUDA the forward passes run under bf16
autocast (``precision="auto"``); softmax, log-sigmoid and the losses are computed in fp32 by autocast's rules. Each
player's Adam is one fused kernel per step (:mod:`.adam`). The frozen teacher of MIMIC, DISTN and NOISY is run once
over the training set, not on every minibatch, where that gives the same logits
(:meth:`Trainer.frozen_teacher_logits`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..data import TaskData
from ..losses import cross_entropy, kl_loss
from ..metrics import player_ranking_metrics
from ..models import BinaryDiscriminator, MulticlassDiscriminator, build_players
from ..probes import GradientProbe, split_backward
from . import get_method
from .adam import make_adam
from .base import Batch, Players, StepContext, Terms
from .config import TrainConfig, bf16_autocast
from .kd import FrozenTeacherKD, TeacherBatch

STAGES = {
    "init-student": 1,
    "init-teacher": 2,
    "init-discriminator": 3,
    "pretrain-teacher": 4,
    "pretrain-student": 5,
    "train": 6,
    "pretrain-discriminator": 7,
}
PLAYERS = ("discriminator", "teacher", "student")


class NonFiniteLossError(RuntimeError):
    """A player's loss became NaN or infinite; the run stops. ``kept`` says what of the run survives (the run
    folder knows: "the checkpoint of epoch 3 is kept in ...", "no checkpoint was written yet"); the loop raises it
    without, and the run that catches it records it (:meth:`record_kept`), so that the message never claims a
    checkpoint that does not exist."""

    def __init__(self, player: str, epoch: int, stage: str = "training", kept: str | None = None):
        self.player, self.epoch, self.stage, self.kept = player, epoch, stage, kept
        super().__init__(self._message())

    def _message(self) -> str:
        stopped = "the run stopped" if self.kept is None else f"the run stopped and {self.kept}"
        return (
            f"the {self.player}'s loss is not finite in {self.stage} epoch {self.epoch}: {stopped} (try a smaller "
            "learning rate)"
        )

    def record_kept(self, kept: str) -> None:
        """Say in the message what survives the run (``kept``: words such as "no checkpoint was written yet")."""
        self.kept = kept
        self.args = (self._message(),)

    def __reduce__(self):  # picklable with its fields, so that a worker process can hand it back
        return type(self), (self.player, self.epoch, self.stage, self.kept)


def derive_seed(seed: int, stage: str, epoch: int = 0) -> int:
    """A seed for one stage and epoch of a run, independent of every other stage and epoch."""
    return (seed * 1_000_003 + STAGES[stage] * 7_919_111 + epoch * 104_729) % (2**62)


def _seeded(seed: int, device: torch.device) -> torch.Generator:
    torch.manual_seed(seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def deterministic_forward(module: nn.Module) -> bool:
    """Whether ``module``'s forward pass, in the mode it is in now, gives each input row's output from that row
    alone and draws no random numbers: no dropout with ``p > 0`` in training mode and no batch normalisation in
    training mode (batch statistics; running averages that every call updates). Our models use dropout and batch
    normalisation only as these modules, never through ``torch.nn.functional``."""
    for m in module.modules():
        if m.training and isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            return False
        if m.training and isinstance(m, nn.modules.batchnorm._NormBase):
            return False
    return True


def sample_labels(p_r: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One label per row drawn from the distributions ``p_r`` (``(B, K)``, rows summing to 1), on their device.

    With ``p_r`` uniform over an item's tags (TPAMI Sec. 5.2) this is one of its tags, chosen uniformly: an unbiased
    one-sample estimate of ``E_{y ~ p_r(y|x)}`` in the value functions (Eq. 3, 4, 6) and the cross-entropy (Eq. 1).
    """
    return torch.multinomial(p_r, 1, generator=generator).squeeze(1)


class Trainer:
    """The players, their optimisers and the shared loop of one run. ``config`` must be resolved."""

    def __init__(self, config: TrainConfig, data: TaskData, device: torch.device | str):
        if config.k_d is None or config.batch_size is None:
            raise ValueError("Trainer needs a resolved config: call config.resolved() first")
        self.config = config
        self.data = data
        self.device = torch.device(device)
        self.method = get_method(config.method)
        self.num_classes = data.num_classes
        self.multilabel = data.multilabel
        if self.multilabel and (data.train.p_r is None or data.test.p_r is None):
            raise ValueError("multi-label data need p_r (each item's tags) in both splits")
        feature_dims = data.feature_dims
        arch = build_players(
            config.dataset,
            num_classes=data.num_classes,
            input_shape=data.input_shape,
            student_shape=data.student_shape,
            **({"feature_dims": feature_dims} if feature_dims is not None else {}),
        )
        torch.manual_seed(derive_seed(config.seed, "init-student"))
        student = arch.student()
        teacher = None
        if config.has_teacher:
            torch.manual_seed(derive_seed(config.seed, "init-teacher"))
            teacher = arch.teacher()
        discriminator = None
        if self.method.discriminator_kind is not None:
            torch.manual_seed(derive_seed(config.seed, "init-discriminator"))
            if self.method.discriminator_kind == "binary":
                discriminator = BinaryDiscriminator(arch.discriminator_backbone())
            else:
                discriminator = MulticlassDiscriminator(arch.discriminator_backbone(), arch.discriminator_backbone())
        self.players = Players(student, teacher, discriminator)
        for _, module in self.players.items():
            module.to(self.device)
        lrs = {"student": config.lr_student, "teacher": config.lr_teacher, "discriminator": config.lr_discriminator}
        self.optimizers = {name: make_adam(m.parameters(), lrs[name], self.device) for name, m in self.players.items()}
        self.autocast = bf16_autocast(config.precision, self.device)
        self.schedule = config.schedule
        self.step_hook: Callable[[str, StepContext, Batch], None] | None = None
        self.probe = GradientProbe() if config.probe_gradients else None
        self.hoist_teacher = True  # False: the frozen teacher runs on every minibatch (tests compare the two)
        self._hoisted: tuple[tuple, torch.Tensor] | None = None

    # -- minibatches -------------------------------------------------------------------------------------------
    def _passes(self, count: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        n = len(self.data.train)
        for _ in range(count):
            order = torch.randperm(n, generator=generator, device=self.device)
            yield from order.split(self.config.batch_size)

    def _batch(self, index: torch.Tensor, generator: torch.Generator) -> Batch:
        """The minibatch at ``index``; on multi-label data its labels are drawn from ``p_r`` (module docstring)."""
        split = self.data.train
        x, xs = split.x[index], split.x_student[index]
        if self.multilabel:
            y = sample_labels(split.p_r[index], generator)
        else:
            y = split.y[index]
        if self.data.augment is not None:
            aliased = split.x_student is split.x
            state = generator.get_state()
            x = self.data.augment_batch(x, generator)
            if aliased:
                xs = x
            else:
                generator.set_state(state)
                xs = self.data.augment_batch(xs, generator)
        return Batch(x=x, xs=xs, y=y)

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _step(self, player: str, loss: torch.Tensor, terms: Terms | None = None) -> None:
        """One optimiser step of ``player`` on ``loss``; with probes on, a generator's ``terms`` go to the probe.

        The probed backward (:func:`advdist_lab.probes.split_backward`) leaves the same gradient as
        ``loss.backward()``, so the update is the same either way.
        """
        optimizer = self.optimizers[player]
        optimizer.zero_grad(set_to_none=True)
        if self.probe is not None and terms is not None:
            self.probe.observe(player, split_backward(terms, list(getattr(self.players, player).parameters())))
        else:
            loss.backward()
        optimizer.step()

    # -- pretraining (KDGAN Algorithm 1, line 1) ---------------------------------------------------------------
    def pretrain(self, player: str, epochs: int, progress: Callable[[], None] | None = None) -> list[float]:
        """Pretraining before the main loop; the mean loss of each epoch.

        The teacher (on ``x``) and the student (on its view) learn by Eq. 1 (supervised); the discriminator learns
        by its own loss against the generators as they are (KDGAN Algorithm 1, line 1, pretrains all three).
        """
        module = getattr(self.players, player)
        if module is None:
            raise ValueError(f"{self.config.method} has no {player} to pretrain")
        losses = []
        module.train()
        for epoch in range(epochs):
            generator = _seeded(derive_seed(self.config.seed, f"pretrain-{player}", epoch), self.device)
            total, count = torch.zeros((), device=self.device), 0
            for index in self._passes(1, generator):
                batch = self._batch(index, generator)
                with self._autocast():
                    if player == "discriminator":
                        ctx = StepContext(self.tau(0), generator, self.config, self.num_classes)
                        loss = self.method.discriminator_loss(self.players, batch, ctx)
                    else:
                        logits = module(batch.x if player == "teacher" else batch.xs)
                        loss = cross_entropy(logits.float(), batch.y)
                self._step(player, loss)
                total += loss.detach()
                count += 1
            mean = (total / count).item()
            if not math.isfinite(mean):
                raise NonFiniteLossError(player, epoch + 1, stage="pretraining")
            losses.append(mean)
            if progress is not None:
                progress()
        return losses

    # -- one epoch of Algorithm 1 ------------------------------------------------------------------------------
    def tau(self, epoch: int) -> float:
        return self.schedule.at(epoch, self.config.epochs)

    @torch.no_grad()
    def frozen_teacher_logits(self, chunk: int = 4096) -> torch.Tensor | None:
        """The frozen teacher's logits on every training image, as its forward pass in the step loop gives them, or
        ``None`` where computing them once would not be exact.

        MIMIC, DISTN and NOISY (:class:`~advdist_lab.methods.kd.FrozenTeacherKD`) read the pretrained teacher on
        each minibatch and never train it. When its forward pass is deterministic in the mode the loop runs it in
        (training mode; :func:`deterministic_forward`: the digits, synthetic and tag teachers, not the MNIST
        teacher with dropout 0.5 nor the CIFAR-10 DenseNet with batch normalisation) and the data are not
        augmented (CIFAR-10's mirror flips change ``x`` per minibatch), its logits on an image are the same every
        time, so they are computed once, under the loop's autocast, and reused until the teacher's parameters
        change (a checkpoint loaded; the key is each tensor's version counter, which every in-place update bumps).
        On the CPU the rows are bit-identical to per-minibatch passes (``tests/test_overhead.py``).
        """
        teacher = self.players.teacher
        if not (self.hoist_teacher and isinstance(self.method, FrozenTeacherKD)) or self.data.augment is not None:
            return None
        if not deterministic_forward(teacher):
            return None
        key = tuple((id(t), t._version) for t in itertools.chain(teacher.parameters(), teacher.buffers()))
        if self._hoisted is None or self._hoisted[0] != key:
            with self._autocast():
                logits = torch.cat([teacher(part) for part in self.data.train.x.split(chunk)])
            self._hoisted = (key, logits)
        return self._hoisted[1]

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Epoch ``epoch`` (0-based) of the main loop; returns each player's mean losses, keyed ``player_part``.

        With ``config.probe_gradients`` the result also holds the epoch's gradient statistics of
        :mod:`advdist_lab.probes` (``grad_var_adversarial``, ``grad_cosine``, ``teacher_grad_var_adversarial``...).
        """
        cfg = self.config
        generator = _seeded(derive_seed(cfg.seed, "train", epoch), self.device)
        ctx = StepContext(tau=self.tau(epoch), generator=generator, config=cfg, num_classes=self.num_classes)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for _, module in self.players.items():
            module.train()
        if self.probe is not None:
            self.probe.reset()
        hoisted = self.frozen_teacher_logits()  # after train(): in the mode the losses run the teacher

        def record(player: str, values: dict[str, torch.Tensor]) -> None:
            for part, value in values.items():
                key = f"{player}_{part}"
                sums[key] = sums[key] + value if key in sums else value.float()
            counts[player] = counts.get(player, 0) + 1

        for player, count in (("discriminator", cfg.k_d), ("teacher", cfg.k_t), ("student", cfg.k_s)):
            for index in self._passes(count, generator):
                batch = self._batch(index, generator)
                if hoisted is not None:
                    batch = TeacherBatch(batch.x, batch.xs, batch.y, teacher_logits=hoisted[index])
                if self.step_hook is not None:
                    self.step_hook(player, ctx, batch)
                with self._autocast():
                    if player == "discriminator":
                        loss = self.method.discriminator_loss(self.players, batch, ctx)
                        logged = {"loss": loss.detach()}
                        terms = None
                    else:
                        terms = getattr(self.method, f"{player}_loss")(self.players, batch, ctx)
                        loss = terms.total
                        logged = terms.logged()
                self._step(player, loss, terms)
                record(player, logged)
        means = {}
        for key, value in sums.items():
            player = next(p for p in PLAYERS if key.startswith(p + "_"))
            means[key] = (value / counts[player]).item()
        for player in PLAYERS:
            value = means.get(f"{player}_loss")
            if value is not None and not math.isfinite(value):
                raise NonFiniteLossError(player, epoch + 1)
        if self.probe is not None:
            means.update(self.probe.summary())
        return means

    # -- evaluation --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, module: nn.Module, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        was_training = module.training
        module.eval()
        with self._autocast():
            out = torch.cat([module(part).float() for part in x.split(chunk)])
        module.train(was_training)
        return out

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Test accuracy of the student (and teacher); on synthetic data also the student's ``KL(p_r || p_s)``.

        On multi-label data, the ranking metrics of TPAMI Table 4 on the test split against each item's tags:
        ``student_p@3``, ``student_r@3``, ``student_f@3``, ``student_ndcg@3``, ``student_map``, ``student_mrr``
        (the teacher's with ``teacher_``); ``student_test_accuracy`` is then P@1, the fraction of items whose
        top-ranked tag is one of theirs.
        """
        test = self.data.test
        if self.multilabel:
            return self._evaluate_ranking()
        student = self._logits(self.players.student, test.x_student)
        out = {"student_test_accuracy": (student.argmax(-1) == test.y).float().mean()}
        if self.players.teacher is not None:
            teacher = self._logits(self.players.teacher, test.x)
            out["teacher_test_accuracy"] = (teacher.argmax(-1) == test.y).float().mean()
        if test.p_r is not None:
            out["student_kl_to_real"] = kl_loss(test.p_r.clamp_min(1e-30).log(), student)
        return {k: float(v) for k, v in out.items()}

    def _evaluate_ranking(self) -> dict[str, float]:
        test = self.data.test
        targets = test.p_r > 0  # each test item's tags
        players = [("student", self.players.student, test.x_student)]
        if self.players.teacher is not None:
            players.append(("teacher", self.players.teacher, test.x))
        out: dict[str, float] = {}
        for name, module, x in players:
            out.update(player_ranking_metrics(name, self._logits(module, x), targets))
        return out

    # -- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "players": {name: module.state_dict() for name, module in self.players.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        names = {name for name, _ in self.players.items()}
        if set(state["players"]) != names:
            raise ValueError(f"checkpoint holds players {sorted(state['players'])}, this run has {sorted(names)}")
        for name, module in self.players.items():
            module.load_state_dict(state["players"][name])
            self.optimizers[name].load_state_dict(state["optimizers"][name])

    def player_state(self, player: str) -> dict:
        return {"model": getattr(self.players, player).state_dict(), "optimizer": self.optimizers[player].state_dict()}

    def load_player_state(self, player: str, state: dict) -> None:
        getattr(self.players, player).load_state_dict(state["model"])
        self.optimizers[player].load_state_dict(state["optimizer"])
