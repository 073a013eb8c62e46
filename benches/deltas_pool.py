"""Step 1 of benches/deltas_pool.sh's rule: deep_validated's pool as shipped (the ten functionals
of librosa's descriptors) against the pool with its three acoustic members on their deltas' too,
on held-out halves of each fold's validation speakers. Looks at no test UA.

    python3 benches/deltas_pool.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) after `ser run` and `bash
benches/deltas_pool.sh --set 'ensembles={}' --validation`.
"""
import sys

sys.path.insert(0, "benches")
from rule_scripts import acoustic_pool_rule  # noqa: E402

if __name__ == "__main__":
    acoustic_pool_rule(sys.argv[1:], "benches/deltas_pool.sh", "deltas")
