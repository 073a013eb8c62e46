"""Validation UA per fold of deep_validated's acoustic and union copy MLPs with the ten
functionals of librosa's descriptors (shipped) and with their deltas' too; looks at no test UA.

    python3 benches/ten_deltas.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs numpy) after `bash benches/ten_deltas.sh --validation`. What it
decides is declared in benches/ten_deltas.sh's header.
"""
import sys

sys.path.insert(0, "benches")
from rule_scripts import extraction_study  # noqa: E402

if __name__ == "__main__":
    extraction_study(sys.argv[1:], "benches/ten_deltas.sh", ["shipped", "deltas"])
