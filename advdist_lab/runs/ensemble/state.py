"""A member's state in the solo format, and solo states stacked into a batch.

The checkpoint of a member (``checkpoint.pt`` of its run folder, the teacher cache) holds what
:meth:`~advdist_lab.methods.loop.Trainer.state_dict` gives a solo run: each player's state dict
(:func:`~advdist_lab.runs.ensemble.layers.member_state`: the solo keys, the member's slice) and each player's Adam
state in ``torch.optim.Adam``'s layout (:class:`~advdist_lab.methods.adam.FusedAdam`): parameter ``i`` of the stacked
player is the stack of parameter ``i`` of the solo players, so the member's ``exp_avg`` and ``exp_avg_sq`` are the
``m``-th slices and its ``step`` the batch's (the members step together). A member folder therefore resumes solo
(``advdist-lab train --resume``), and solo checkpoints of one epoch stack back into a batch (:func:`load_members`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from .layers import member_state

__all__ = ["load_member_player", "load_members", "member_adam_state", "member_player_state", "member_trainer_state"]


def member_adam_state(optimizer, member: int) -> dict:
    """Member ``member``'s Adam state (``torch.optim.Adam``'s layout) from the Adam of the stacked parameters."""
    stacked = optimizer.state_dict()
    state = {
        index: {
            "step": saved["step"].clone(),
            "exp_avg": saved["exp_avg"][member].clone(),
            "exp_avg_sq": saved["exp_avg_sq"][member].clone(),
        }
        for index, saved in stacked["state"].items()
    }
    return {"state": state, "param_groups": copy.deepcopy(stacked["param_groups"])}


def _stack_adam(states: Sequence[dict]) -> dict:
    first = states[0]
    for index, state in enumerate(states):
        if state["param_groups"] != first["param_groups"] or set(state["state"]) != set(first["state"]):
            raise ValueError(f"member {index}'s Adam state does not match member 0's (parameters or hyperparameters)")
    stacked = {}
    for key in first["state"]:
        steps = [torch.as_tensor(s["state"][key]["step"]) for s in states]
        if not all(torch.equal(step, steps[0]) for step in steps):
            raise ValueError("the members' Adam states are at different steps: they cannot step as one batch")
        stacked[key] = {
            "step": steps[0].clone(),
            "exp_avg": torch.stack([s["state"][key]["exp_avg"] for s in states]),
            "exp_avg_sq": torch.stack([s["state"][key]["exp_avg_sq"] for s in states]),
        }
    return {"state": stacked, "param_groups": copy.deepcopy(first["param_groups"])}


def member_player_state(trainer, player: str, member: int) -> dict:
    """``{"model", "optimizer"}`` of one member's ``player``, as :meth:`Trainer.player_state` gives a solo run's."""
    return {
        "model": member_state(getattr(trainer.players, player), member),
        "optimizer": member_adam_state(trainer.optimizers[player], member),
    }


def load_member_player(trainer, player: str, states: Sequence[dict]) -> None:
    """Load one solo ``{"model", "optimizer"}`` state per member into the batch's ``player``."""
    if len(states) != trainer.members:
        raise ValueError(f"{len(states)} {player} states for {trainer.members} members")
    module = getattr(trainer.players, player)
    keys = module.state_dict().keys()
    for index, state in enumerate(states):
        if state["model"].keys() != keys:
            raise ValueError(f"member {index}'s {player} state has other tensors than the batch's {player}")
    module.load_state_dict({key: torch.stack([s["model"][key] for s in states]) for key in keys})
    trainer.optimizers[player].load_state_dict(_stack_adam([s["optimizer"] for s in states]))


def member_trainer_state(trainer, member: int) -> dict:
    """Member ``member``'s players and optimisers in the format of :meth:`Trainer.state_dict`."""
    players = dict(trainer.players.items())
    return {
        "players": {name: member_state(module, member) for name, module in players.items()},
        "optimizers": {name: member_adam_state(trainer.optimizers[name], member) for name in players},
    }


def load_members(trainer, states: Sequence[dict]) -> None:
    """Load one solo :meth:`Trainer.state_dict` per member (the checkpoints of one epoch) into the batch."""
    names = {name for name, _ in trainer.players.items()}
    for index, state in enumerate(states):
        if set(state["players"]) != names:
            held = sorted(state["players"])
            raise ValueError(f"member {index}'s checkpoint holds players {held}, not {sorted(names)}")
    for name in names:
        load_member_player(
            trainer, name, [{"model": s["players"][name], "optimizer": s["optimizers"][name]} for s in states]
        )
