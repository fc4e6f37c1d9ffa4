"""Softmax, log-softmax and log-sigmoid for tiny tensors. Old import path, kept until every caller has moved to
advdist_lab.theory.small_ops."""

from .theory.small_ops import log_softmax, logsigmoid, softmax  # noqa: F401

__all__ = ["log_softmax", "logsigmoid", "softmax"]
