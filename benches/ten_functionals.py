"""deep_validated's pool with its three members on the acoustic set (the acoustic and union
copy MLPs, the union's MLP without copies) on the five functionals of librosa's descriptors
(shipped) and on all ten, judged on validation speakers only: each fold's validation speakers are
split in two halves; the shipped procedure (forward selection bagged 50 times) chooses members
and weights from each pool on one half and is scored on the other, both ways. Looks at no test UA.

    python3 benches/ten_functionals.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, after the
members' train nodes: `bash benches/ten_functionals.sh --set 'ensembles={}' --validation` (prints
validation UAs, no test UA) and `ser run` of pipeline.yaml. Halves and bags as
benches/classic_members.py.

The rule this decides, declared in benches/ten_functionals.sh's header before any run.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from rule_scripts import script_sets  # noqa: E402

SHIPPED = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta",
           "acoustic+noisy_pitch_stretch/none/mlp_tta", "gemaps+noisy_pitch_stretch/none/mlp_tta",
           "acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta", "acoustic_egemaps/none/mlp",
           *classic_members.CLASSIC]
ON_ACOUSTIC = ("acoustic+", "acoustic_egemaps")
TEN = [f"{m}#ten" if m.startswith(ON_ACOUSTIC) else m for m in SHIPPED]


def main(argv):
    sets = script_sets("benches/ten_functionals.sh")
    classic_members.main(argv, pools={"shipped": SHIPPED, "ten functionals": TEN},
                         definitions={m: sets for m in TEN if m.endswith("#ten")})


if __name__ == "__main__":
    main(sys.argv[1:])
