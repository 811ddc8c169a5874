import gzip
from itertools import islice
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOEMOTIONS = ROOT / "examples" / "goemotions"
SHARED = ROOT.parent / "shared" / "datasets"


def _slice(src: Path, dst: Path, n: int) -> Path:
    with gzip.open(src, "rt", encoding="utf-8") as handle:
        dst.write_text("".join(islice(handle, n)), encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def goemotions_small(tmp_path_factory):
    """Small real slices of the bundled GoEmotions data: train, dev, test TSV + vocab."""
    base = tmp_path_factory.mktemp("goemotions")
    return {
        "train": _slice(GOEMOTIONS / "train.tsv.gz", base / "train.tsv", 3000),
        "dev": _slice(GOEMOTIONS / "dev.tsv.gz", base / "dev.tsv", 600),
        "test": _slice(GOEMOTIONS / "test.tsv.gz", base / "test.tsv", 600),
        "vocab": GOEMOTIONS / "vocab.tsv",
    }


#: word features only, so tests train in about a second
FAST_FEATURES = {"char_ngrams": None, "min_df": 1}
