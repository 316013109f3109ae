"""The reply reader against real client shapes (issue 14): a labelled corpus, generated replies, the CLI.

Hypothesis keeps its caches in the temporary directory, as in tests/hostile, so a run leaves
nothing in the tree.
"""

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "inkless-hypothesis")
