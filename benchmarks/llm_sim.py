"""Simulated LLMs for benchmarks/llm.py, served over real HTTP by LocalChatServer.

- :class:`SimulatedTeacher`: answers labeling prompts with the document's true labels,
  corrupted with a known error rate that is higher on hard documents: those where a
  cross-fitted model's best label is not a true one (``hardness="disagree"``), or also
  those where its two best scores are closest (the lowest quarter of margins:
  ``hardness="ambiguous"``: ambiguous documents, where annotators disagree too). A
  wrong answer swaps one true label for the label the cross-fitted model found most
  plausible (a realistic confusion).
- :class:`ScriptedTaxonomist`: answers the taxonomy prompts (summaries, generate, update,
  review) from word counts of the data it is shown, breaking the limits on purpose now
  and then so the pipeline's checks and repairs run; and labels documents by the words
  of the label names, adding one label outside the taxonomy each time.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np

from tagsmith.labeling.prompts import read_data_section
from tagsmith.testing.llm_server import user_prompt

STOP = set("""a an the and or of to in on for with at by from is are was were be been it its
this that these those as not no but if then than so such he she they we you i me my our your
their his her them us said says will would can could should may might has have had do does
did about into over after before up down out more most mln pct dlrs vs year last new also
one two three which who what when where how all any some there here just like get got""".split())


def _table_shown(prompt: str) -> list[dict]:
    """The label set an update or review prompt shows: the labels in use (FIXED, under
    ``taxonomy --extend``) and the others (LABELS)."""
    fixed = read_data_section(prompt, "FIXED") if "<<<FIXED" in prompt else []
    return fixed + read_data_section(prompt, "LABELS")


class SimulatedTeacher:
    """Deterministic noisy teacher over a pool (texts -> answer JSON)."""

    def __init__(self, texts, Y, names, oof_topk, *, easy_error: float, hard_error: float,
                 hardness: str = "disagree", seed: int = 12345):
        rng = np.random.default_rng(seed)
        n = len(texts)
        truth = [Y.indices[Y.indptr[i]:Y.indptr[i + 1]] for i in range(n)]
        top = oof_topk.indices[:, 0]
        self.hard = np.array([top[i] not in set(truth[i].tolist()) for i in range(n)])
        if hardness == "ambiguous":  # also where the cross-fitted model is torn
            scores = np.where(oof_topk.valid, oof_topk.scores, 0.0)
            margin = scores[:, 0] - scores[:, 1]
            self.hard |= margin < np.quantile(margin, 0.25)
        elif hardness != "disagree":
            raise ValueError(f"hardness must be 'disagree' or 'ambiguous', got {hardness!r}")
        rates = np.where(self.hard, hard_error, easy_error)
        self.wrong = rng.random(n) < rates
        self.answers: dict[str, str] = {}
        for i in range(n):
            labels = list(truth[i].tolist())
            if self.wrong[i]:
                candidates = [int(j) for j in oof_topk.indices[i] if j >= 0 and j not in labels]
                confusion = candidates[0] if candidates else int(rng.integers(Y.shape[1]))
                if labels:
                    labels.pop(int(rng.integers(len(labels))))
                labels.append(confusion)
                confidences = rng.uniform(0.5, 0.95, len(labels))
            else:
                confidences = rng.uniform(0.6, 1.0, len(labels))
            items = [{"label": names[j], "confidence": round(float(c), 3)}
                     for j, c in zip(labels, confidences, strict=True)]
            self.answers.setdefault(self.key(texts[i]), json.dumps({"labels": items}))

    @staticmethod
    def key(text: str) -> str:
        """Prompts carry at most the first 4,000 characters of a document."""
        return text[:4000].strip()

    def __call__(self, body: dict) -> str:
        doc = self.key(read_data_section(user_prompt(body), "DOCUMENT"))
        answer = self.answers.get(doc)
        if answer is None:
            raise KeyError(f"the simulated teacher does not know this document: {doc[:80]!r}")
        return answer


def _words(texts) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in STOP)
    return counts


class ScriptedTaxonomist:
    """Plays the LLM for taxonomy generation and the labeling pass over it."""

    def __init__(self, max_labels: int):
        self.max_labels = max_labels
        self.calls: Counter = Counter()

    def _table(self, words, rating=None, broken=False):
        labels = [{"name": f"{w.capitalize()} topics",
                   "description": f"Documents mainly about {w} and closely related matters."}
                  for w in words]
        if broken:  # a duplicate and an over-long name: the pipeline must catch them
            labels += [labels[0], {"name": "A label name that is far too long to be allowed",
                                   "description": "x"}]
        body = {"labels": labels}
        if rating is not None:
            body = {"rating": rating, "edits": ["merged overlapping labels"], **body}
        return json.dumps(body)

    def __call__(self, body: dict) -> str:
        prompt = user_prompt(body)
        if prompt.startswith("Your answer broke"):
            self.calls["repair"] += 1
            first = body["messages"][1]["content"]
            data = read_data_section(first, "DATA") if "<<<DATA" in first else []
            current = _table_shown(first) if "<<<LABELS" in first else []
            words = [x["name"].split()[0].lower() for x in current]
            words += [w for w, _ in _words(data).most_common(self.max_labels) if w not in words]
            return self._table(words[:self.max_labels], rating=6)
        if "<<<DOCUMENTS" in prompt:
            self.calls["summarise"] += 1
            docs = read_data_section(prompt, "DOCUMENTS")
            return json.dumps({"summaries": [
                {"id": d["id"], "summary": " ".join(re.findall(r"\w+", d["text"])[:20])}
                for d in docs]})
        if "<<<DOCUMENT\n" in prompt:
            self.calls["label"] += 1
            doc = set(re.findall(r"[a-z]{4,}", read_data_section(prompt, "DOCUMENT").lower()))
            offered = [x["label"] for x in read_data_section(prompt, "LABELS")]
            chosen = [name for name in offered if name.split()[0].lower() in doc]
            chosen.append("Something else entirely")
            return json.dumps({"labels": [{"label": n, "confidence": 0.8} for n in chosen]})
        if prompt.startswith("# Context\nGoal: build"):
            self.calls["generate"] += 1
            words = [w for w, _ in _words(read_data_section(prompt, "DATA")).most_common(
                self.max_labels // 2)]
            return self._table(words, broken=True)
        if prompt.startswith("# Context\nGoal: improve"):
            self.calls["update"] += 1
            current = [x["name"].split()[0].lower() for x in _table_shown(prompt)]
            new = [w for w, _ in _words(read_data_section(prompt, "DATA")).most_common(
                self.max_labels) if w not in current]
            if self.calls["update"] % 3 == 0:
                return '{"rating": 4, "labels": [{"name": '  # broken JSON now and then
            return self._table((current + new)[:self.max_labels + 2], rating=7)
        if prompt.startswith("# Context\nReview"):
            self.calls["review"] += 1
            current = [x["name"].split()[0].lower() for x in _table_shown(prompt)]
            return self._table(current, rating=8)
        return "unexpected prompt"


if __name__ == "__main__":  # ran silently and printed nothing
    raise SystemExit("llm_sim.py is a part of benchmarks/llm.py, not a script: run "
                     "python benchmarks/llm.py --help")
