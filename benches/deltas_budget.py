"""Step 1 of benches/deltas_budget.sh's rule: deep_validated's pool as shipped against the pool
with its three acoustic members on librosa's descriptors and their deltas (`acoustic_deltas`),
today's MLPs (PyTorch's initial weights), on held-out halves of each fold's validation speakers.
Looks at no test UA.

    python3 benches/deltas_budget.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, after
`MODE=both bash benches/deltas_budget.sh --set 'ensembles={}' --validation`.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from rule_scripts import ACOUSTIC_MEMBERS, script_sets  # noqa: E402

SHIPPED = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta", ACOUSTIC_MEMBERS[1],
           "gemaps+noisy_pitch_stretch/none/mlp_tta", ACOUSTIC_MEMBERS[0], ACOUSTIC_MEMBERS[2],
           *classic_members.CLASSIC]
DELTAS = [m.replace("acoustic", "acoustic_deltas") if m in ACOUSTIC_MEMBERS else m
          for m in SHIPPED]


def main(argv):
    # No ensemble: deep_egemaps names members this script's matrices leave out.
    sets = script_sets("benches/deltas_budget.sh", {"MODE": "both"}) + ["--set", "ensembles={}"]
    difference = classic_members.main(argv, pools={"shipped": SHIPPED, "deltas": DELTAS},
                                      definitions={m: sets for m in SHIPPED + DELTAS})
    print(f"step 1: {'above zero' if difference > 0 else 'not above zero'}")


if __name__ == "__main__":
    main(sys.argv[1:])
