"""The executed smoke copies of the notebooks (``build/smoke/``, written by ``make test`` before pytest), for the
tests that read them (``tests/test_notebooks.py``, ``tests/test_site.py``)."""

from __future__ import annotations

from pathlib import Path

from advdist_lab import course

ROOT = Path(__file__).resolve().parent.parent


class SmokeCopies:
    """The smoke copies' folder: ``smoke_dir / "NN_topic.ipynb"`` first (re)executes that notebook alone when its
    copy is missing or older than its source."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.checked: dict[str, str | None] = {}  # stem -> the failure of its run, None when its copy is fresh

    def _ensure(self, stem: str) -> None:
        if stem not in self.checked:
            source = ROOT / "notebooks" / f"{stem}.py"
            copy, html = self.folder / f"{stem}.ipynb", self.folder / f"{stem}.html"
            failure = None
            if source.exists() and (
                not html.exists() or not copy.exists() or copy.stat().st_mtime < source.stat().st_mtime
            ):
                (run,) = course.run_course(self.folder, smoke=True, only=[stem])
                failure = None if run.ok else run.line()
            self.checked[stem] = failure
        assert self.checked[stem] is None, self.checked[stem]

    def __truediv__(self, name: str) -> Path:
        self._ensure(name.split(".", 1)[0])
        return self.folder / name
