"""Validation UA per fold of deep_validated's acoustic and union copy MLPs (`mlp_tta` on
noisy_pitch_stretch) with the acoustic set's shipped functionals, all ten, or deltas, from `ser
metrics --validation --json` (the rows of the speakers each fold's networks hold out, recorded
utterances); looks at no test UA.

    python3 benches/acoustic_functionals.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs numpy) after `bash benches/acoustic_functionals.sh
--validation`. What it decides is declared in benches/acoustic_functionals.sh's header (run when
the five were shipped).
"""
import sys

sys.path.insert(0, "benches")
from rule_scripts import extraction_study  # noqa: E402

if __name__ == "__main__":
    extraction_study(sys.argv[1:], "benches/acoustic_functionals.sh", ["shipped", "ten", "deltas"])
