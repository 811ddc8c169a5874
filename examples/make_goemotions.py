"""Convert the shared GoEmotions files into the Annif-style TSV the demo uses.

    python examples/make_goemotions.py [--data-dir ../shared/datasets]

Writes examples/goemotions/{train,dev,test}.tsv.gz (``text<TAB><uri> <uri>``) and
vocab.tsv (``<uri><TAB>name``). Label URIs are ``urn:goemotions:<name>``. Tabs and
newlines inside texts become spaces. Deterministic: same input, same bytes.
"""

import argparse
import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent


def convert(data_dir: Path, out_dir: Path) -> None:
    source = data_dir / "goemotions"
    names = (source / "labels.txt").read_text(encoding="utf-8").split()
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "vocab.tsv", "w", encoding="utf-8") as vocab:
        for name in names:
            vocab.write(f"<urn:goemotions:{name}>\t{name}\n")
    for split in ("train", "dev", "test"):
        with gzip.open(source / f"{split}.tsv.gz", "rt", encoding="utf-8") as src, \
                gzip.GzipFile(out_dir / f"{split}.tsv.gz", "wb", mtime=0) as raw:
            for number, line in enumerate(src, start=1):
                text, ids, _comment_id = line.rstrip("\n").split("\t")
                uris = " ".join(f"<urn:goemotions:{names[int(i)]}>" for i in ids.split(","))
                text = " ".join(text.split())
                if not text:
                    raise SystemExit(f"{split}.tsv.gz:{number}: empty text")
                raw.write(f"{text}\t{uris}\n".encode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "datasets")
    args = parser.parse_args()
    convert(args.data_dir, HERE / "goemotions")
