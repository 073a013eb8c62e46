"""deep_validated's pool with its three members on the acoustic set (the acoustic and union
copy MLPs, the union's MLP without copies) on the ten functionals of librosa's descriptors
(shipped) and with their deltas' too, judged on validation speakers only: each fold's validation
speakers are split in two halves; the shipped procedure (forward selection bagged 50 times)
chooses members and weights from each pool on one half and is scored on the other, both ways.
Looks at no test UA.

    python3 benches/deltas_pool.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, after the
members' train nodes: `bash benches/deltas_pool.sh --set 'ensembles={}' --validation` (prints
validation UAs, no test UA) and `ser run` of pipeline.yaml. Halves and bags as
benches/classic_members.py.

The rule this decides, declared in benches/deltas_pool.sh's header before any run.
"""
import sys

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from rule_scripts import script_sets  # noqa: E402
from ten_functionals import ON_ACOUSTIC, SHIPPED  # noqa: E402

DELTAS = [f"{m}#deltas" if m.startswith(ON_ACOUSTIC) else m for m in SHIPPED]


def main(argv):
    sets = script_sets("benches/deltas_pool.sh")
    classic_members.main(argv, pools={"shipped": SHIPPED, "deltas": DELTAS},
                         definitions={m: sets for m in DELTAS if m.endswith("#deltas")})


if __name__ == "__main__":
    main(sys.argv[1:])
