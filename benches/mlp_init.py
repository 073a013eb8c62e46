"""deep_validated's pool with its six MLPs as shipped (He's initial weights) and with PyTorch's
(`init: uniform`), judged on validation speakers only: each fold's validation speakers are split
in two halves; the shipped procedure (forward selection bagged 50 times) chooses members and
weights from each pool on one half and is scored on the other, both ways. Looks at no test UA.

    python3 benches/mlp_init.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, after the
twins' train nodes: `bash benches/mlp_init.sh --set 'ensembles={}' --validation`. Halves and bags as
benches/classic_members.py.

The rule this decides, declared in benches/mlp_init.sh's header before any run.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from rule_scripts import twin_pool_rule  # noqa: E402

SHIPPED = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta",
           "acoustic+noisy_pitch_stretch/none/mlp_tta", "gemaps+noisy_pitch_stretch/none/mlp_tta",
           "acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta", "acoustic_egemaps/none/mlp",
           *classic_members.CLASSIC]
TWINS = [m if m in classic_members.CLASSIC else m + "_u" for m in SHIPPED]


def main(argv):
    twin_pool_rule(argv, "benches/mlp_init.sh", SHIPPED, TWINS, "uniform twins")


if __name__ == "__main__":
    main(sys.argv[1:])
