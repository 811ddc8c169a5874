#!/usr/bin/env bash
# The main job on bundled data: train on GoEmotions, evaluate on its test split,
# show suggestions for a few sentences. Sets up .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data=examples/goemotions
.venv/bin/tagsmith train "$data/train.tsv.gz" --vocab "$data/vocab.tsv" \
  --dev "$data/dev.tsv.gz" --calibration-fraction 0.1 --output runs/goemotions
echo
echo "== evaluation on the GoEmotions test split (with calibration and conformal sets) =="
.venv/bin/tagsmith eval runs/goemotions "$data/test.tsv.gz" --calibration
echo
echo "== top 3 suggestions with scores =="
.venv/bin/tagsmith suggest runs/goemotions "$data/sentences.txt" --k 3 --threshold 0 --format tsv
echo
echo "== the same, only labels passing the tuned thresholds (JSON) =="
.venv/bin/tagsmith suggest runs/goemotions "$data/sentences.txt" --format json
echo
echo "== conformal sets: >= 80% of each text's emotions on average, size, abstain flag =="
.venv/bin/tagsmith suggest runs/goemotions "$data/sentences.txt" --sets --alpha 0.2 --format tsv
