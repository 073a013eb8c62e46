"""Step 1 of benches/ten_functionals.sh's rule: deep_validated's pool as shipped then (the five
functionals of librosa's descriptors) against the pool with its three acoustic members on all ten,
on held-out halves of each fold's validation speakers. Looks at no test UA.

    python3 benches/ten_functionals.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) after `ser run` and `bash
benches/ten_functionals.sh --set 'ensembles={}' --validation`. Since the rule shipped the ten,
pipeline.yaml's pool is the variant's: add `--set 'extract.functionals=[mean, std, min, max,
range]'` to read the shipped side as it was.
"""
import sys

sys.path.insert(0, "benches")
from rule_scripts import acoustic_pool_rule  # noqa: E402

if __name__ == "__main__":
    acoustic_pool_rule(sys.argv[1:], "benches/ten_functionals.sh", "ten")
