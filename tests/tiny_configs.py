"""The tiny digits run that the training tests share (30 images, 2 epochs, one pretraining epoch per player): every
run takes well under a second; the tiny robust teacher and tag data file, and the member-vs-solo comparison, that
several test modules share. Test modules import it directly (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

from advdist_lab.methods import TrainConfig

TINY = {
    "dataset": "digits",
    "n_train": 30,
    "epochs": 2,
    "teacher_pretrain_epochs": 1,
    "student_pretrain_epochs": 1,
    "device": "cpu",
}


def tiny(**changes) -> TrainConfig:
    """:data:`TINY` with ``changes`` applied."""
    return TrainConfig(**{**TINY, **changes})


ROBUST_TEACHER_TINY = {
    "dataset": "digits",
    "optimizer": "adam",
    "lr": 1e-3,
    "n_train": 200,
    "epochs": 2,
    "eval_size": 40,
    "test_size": 80,
    "final_attacks": ("fgsm", "pgd_s"),
    "device": "cpu",
}
"""A robust teacher (``RobustTeacherConfig`` fields) trained in seconds: 200 digits, 2 epochs, cheap final attacks."""

D_IMAGE, D_TEXT, TAGS = 16, 12, 20
"""Feature sizes and tag count of :func:`write_tag_file`'s generated tag data."""


def write_tag_file(folder: Path) -> str:
    """A small generated tag data file (300 training and 100 test items) in ``folder``; its path."""
    from advdist_lab.data.tags_features import save_tag_features
    from advdist_lab.data.tags_generator import TagGeneratorConfig, generate_tag_features

    features = generate_tag_features(
        "popular",
        num_train=300,
        num_test=100,
        num_labels=TAGS,
        config=TagGeneratorConfig(vocab_size=60, num_topics=6, image_dim=D_IMAGE, text_dim=D_TEXT),
    )
    return str(save_tag_features(folder / "tags.npz", features))


def worst_member_difference(solo: dict, member: dict) -> float:
    """The largest difference of a batch member's history and pretraining from its solo run's; equal lengths and
    keys asserted."""
    assert len(solo["history"]) == len(member["history"])
    worst = 0.0
    for a, b in zip(solo["history"], member["history"]):
        assert a.keys() == b.keys()
        worst = max([worst] + [abs(a[k] - b[k]) for k in a])
    assert solo["pretraining"].keys() == member["pretraining"].keys()
    for player, summary in solo["pretraining"].items():
        assert summary.keys() == member["pretraining"][player].keys()
        worst = max([worst] + [abs(v - member["pretraining"][player][k]) for k, v in summary.items()])
    return worst
