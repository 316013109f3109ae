"""Hostile input suite (SPEC §7, issue 9): generated mail, mutated tokens, API fuzzing.

Hypothesis keeps caches (Unicode tables, constants found in the source) in `.hypothesis/`
under the working directory; these tests keep them in the temporary directory instead, so a
run leaves nothing in the tree. (Every test here also runs with `database=None`: no example
database either.)
"""

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "inkless-hypothesis")
