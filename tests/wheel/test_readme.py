"""The README's pip quick start, run as written: its Python block is this
module's tests (the same fixtures a user gets from `pip install azemu`)."""

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start() -> str:
    text = README.read_text()
    section = text.split("### pip", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


exec(compile(quick_start(), f"{README} (pip quick start)", "exec"))
