"""deep_validated's pool with its four copy MLPs (`mlp_tta`) on noisy_pitch and on
noisy_pitch_stretch (two time_stretch copies more), judged on validation speakers only: each
fold's validation speakers are split in two halves; the shipped procedure (forward selection
bagged 50 times) chooses members and weights from each pool on one half and is scored on the
other, both ways. Looks at no test UA.

    python3 benches/stretch_copies.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, after the
twins' train nodes: `bash benches/stretch_copies.sh --set 'ensembles={}' --validation` (prints
validation UAs, no test UA). Halves and bags as benches/classic_members.py.

The rule this decides, declared in benches/stretch_copies.sh's header before any run.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from rule_scripts import twin_pool_rule  # noqa: E402

SHIPPED = ["egemaps/none/mlp", "egemaps+noisy_pitch/none/mlp_tta",
           "acoustic+noisy_pitch/none/mlp_tta", "gemaps+noisy_pitch/none/mlp_tta",
           "acoustic_egemaps+noisy_pitch/none/mlp_tta", "acoustic_egemaps/none/mlp",
           *classic_members.CLASSIC]
TWINS = [m.replace("+noisy_pitch/", "+noisy_pitch_stretch/") for m in SHIPPED]


def main(argv):
    twin_pool_rule(argv, "benches/stretch_copies.sh", SHIPPED, TWINS, "stretch twins")


if __name__ == "__main__":
    main(sys.argv[1:])
