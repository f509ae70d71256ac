"""The README's "Getting started" section, run as a script, as a newcomer would type it.

The section's bash blocks run in order in one shell, and its Python block headed by a file name
is written to that file first. The home directory is a fresh one (so `~/myproject` and the
default store are the test's own), `/path/to/zerog` is this checkout, and the wheel installed is
the one `make build` made. Installing it into a fresh virtualenv fetches its dependencies from
PyPI, as a user's install does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
README = CHECKOUT / "README.md"
SECTION = "## Getting started"


def section(text: str) -> str:
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def script_of(markdown: str) -> str:
    """The section's blocks as one bash script: bash blocks as they are, a Python block whose
    first line is ``# path`` written to that path (in the project directory)."""
    lines = ["set -euo pipefail"]
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", markdown, flags=re.S):
        if lang == "bash":
            lines.append(body)
        elif lang == "python":
            first = body.splitlines()[0]
            assert first.startswith("# "), f"a Python block in {SECTION} names its file first: {first!r}"
            lines.append(f"cat > ~/myproject/{first[2:].strip()} <<'ZEROG_README_EOF'\n{body}ZEROG_README_EOF")
    return "\n".join(lines)


def test_the_readme_getting_started_steps_work_from_a_clean_home(tmp_path: Path) -> None:
    wheels = sorted((CHECKOUT / "target" / "dist").glob("zerog-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        pytest.fail("no wheel in target/dist: `make build` (which `make test` runs first) makes it")
    script = script_of(section(README.read_text())).replace("/path/to/zerog", str(CHECKOUT))
    assert "zerog-worker --module myapp.jobs" in script and "get_base_job" in script
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        # pip's cache and config from the real home would do no harm, but the point is a clean one.
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    # The README says python3: the interpreter the tests run on.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    last = done.stdout.strip().splitlines()[-1]
    # The watcher never imported myapp.jobs, and still read the job's progress and events.
    assert last.startswith("done {'completeness': 1.0, 'result': 200}"), out
    assert "['step 1 for Ada', 'step 2 for Ada', 'step 3 for Ada']" in last, out
    # The worker (in ~/myproject) and the producer (in /tmp) shared the one default store.
    assert (home / ".local" / "share" / "zerog" / "zerog.db").exists()
    assert not (home / "myproject" / "zerog.db").exists()
    # The worker said where its store is.
    assert f"store and queue sqlite:///{home}/.local/share/zerog/zerog.db" in out, out
