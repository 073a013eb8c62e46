"""deep_validated's pool with its four noisy_pitch MLPs as they are and as their test_copies twins
(each utterance predicted with its three copies), judged on validation speakers only: each fold's
validation speakers are split in two halves; the shipped procedure (forward selection bagged 50
times) chooses members and weights from each pool on one half and is scored on the other, both
ways. Looks at no test UA.

    python3 benches/test_copies.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache. The twins'
train nodes run first, without ensembles: `bash benches/test_copies.sh --set 'ensembles={}'`
(inference only: their networks are the MLPs' cached trainings). Halves and bags as
benches/classic_members.py.

The rule this decides, declared in benches/test_copies.sh's header before any run.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from choice_stability import MLPS  # noqa: E402

TWINS = [m.replace("/none/mlp", "/none/mlp_tta") if "+noisy_pitch" in m else m for m in MLPS]
TTA = ("{kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, networks: 5, "
       "normalize: speaker, aux_gender: 0.5, test_copies: true}")
DEFINITIONS = [
    "--set", f"models.mlp_tta={TTA}",
    "--set", "experiments=[{features: [egemaps, acoustic, gemaps, acoustic_egemaps], "
    "augment: [noisy_pitch], models: [mlp_tta], protocols: [emobox_6fold]}]",
    "--set", "ensembles={}",
]


def main(argv):
    pools = {"shipped": MLPS + classic_members.CLASSIC,
             "test_copies twins": TWINS + classic_members.CLASSIC}
    classic_members.main(argv, pools=pools, definitions={m: DEFINITIONS for m in TWINS
                                                         if m not in MLPS})


if __name__ == "__main__":
    main(sys.argv[1:])
