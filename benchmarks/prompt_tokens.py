"""The LLM client's estimate of a label call's prompt tokens against the count the
simulated LLM server reports, on a dataset's first test documents.

    python benchmarks/prompt_tokens.py [--dataset goemotions] [--data-dir DIR] [--docs 200]

Runs ``tagsmith label`` over the first ``--docs`` test documents, with the dataset's
label names as the vocabulary, against the local test server
(``tagsmith.testing.llm_server``, which counts a request's JSON body at 4 bytes a
token), and prints one JSON line: the mean prompt tokens a call as the client
estimates them (``estimate``) and as the server counted them (``server``), and the
server's count split into the JSON body's own syntax (``json_syntax``: keys, braces
and quotes, and the chat template the estimate counts), the escapes of the messages'
text in it (``json_escapes``: ``\\n``, ``\\"``), its bytes beyond one a character
(``utf8_extra``) and the text (``text``). No work folder: the run's files are in a
temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

HERE = Path(__file__).resolve().parent
TEST = {"goemotions": "test.tsv.gz", "reuters21578": "modapte-test.jsonl.gz"}


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="goemotions", choices=sorted(TEST),
                        help="whose test split is labelled (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared"
                        / "datasets",
                        help="folder holding the datasets' folders (default: %(default)s)")
    parser.add_argument("--docs", type=positive, default=200,
                        help="how many of the first test documents are labelled "
                        "(default: %(default)s)")
    return parser


def _documents(folder: Path, dataset: str, n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` test texts of ``dataset`` and its label names."""
    names = (folder / "labels.txt").read_text(encoding="utf-8").split()
    with gzip.open(folder / TEST[dataset], "rt", encoding="utf-8") as f:
        if dataset == "goemotions":
            texts = [line.split("\t")[0] for _, line in zip(range(n), f, strict=False)]
        else:
            texts = [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]
    return texts, names


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = args.data_dir / args.dataset
    if not (folder / TEST[args.dataset]).exists():
        print(f"error: {folder / TEST[args.dataset]} not found (see --data-dir)",
              file=sys.stderr)
        return 2
    from tagsmith.labeling.client import ChatRequest, _prompt_estimate
    from tagsmith.testing.llm_server import LocalChatServer

    texts, names = _documents(folder, args.dataset, args.docs)
    answer = json.dumps({"labels": [{"label": names[0], "confidence": 0.8}]})
    with tempfile.TemporaryDirectory() as work, LocalChatServer(lambda body: answer) as server:
        corpus, vocab = Path(work) / "docs.jsonl", Path(work) / "vocab.tsv"
        corpus.write_text("".join(json.dumps({"id": str(i), "text": text}) + "\n"
                                  for i, text in enumerate(texts)), encoding="utf-8")
        vocab.write_text("".join(f"<u:{name}>\t{name}\n" for name in names), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(HERE.parent / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
        done = subprocess.run(
            [sys.executable, "-m", "tagsmith", "-q", "label", str(corpus), "--vocab",
             str(vocab), "--llm", "t", "--base-url", server.base_url, "-o",
             str(Path(work) / "out.jsonl"), "--cache", str(Path(work) / "cache.sqlite")],
            capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        bodies = list(server.requests)
    rows = []
    for body in bodies:
        raw = len(json.dumps(body, ensure_ascii=False).encode("utf-8"))
        contents = [str(m["content"]) for m in body["messages"]]
        escaped = sum(len(json.dumps(c, ensure_ascii=False).encode("utf-8")) - 2
                      for c in contents)
        utf8 = sum(len(c.encode("utf-8")) for c in contents)
        chars = sum(map(len, contents))
        rows.append({"server": raw // 4,
                     "estimate": _prompt_estimate(ChatRequest("t", tuple(body["messages"]))),
                     "json_syntax": (raw - escaped) / 4, "json_escapes": (escaped - utf8) / 4,
                     "utf8_extra": (utf8 - chars) / 4, "text": chars / 4})
    print(json.dumps({"dataset": args.dataset, "calls": len(rows),
                      **{key: round(mean(row[key] for row in rows), 1) for key in rows[0]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
