"""deep_validated replicated under other seeds (benches/seed_replicates.sh): each replicate's test
UA with its interval over speakers, the mean and range over replicates, and each against
svm_speaker (seedless) by `ser compare`. Looked at once, after every replicate has trained.

    python3 benches/seed_replicates.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root on the pipeline's cache, after `bash benches/seed_replicates.sh`.
SER_SEEDS and SER_PIPELINE as the script's.
"""
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, "benches")
from rule_scripts import script_sets  # noqa: E402

SCRIPT = "benches/seed_replicates.sh"
BASELINE = "egemaps/none/svm_speaker"


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    sets = script_sets(SCRIPT) + argv
    seeds = os.environ.get("SER_SEEDS", "0 5 10 15").split()
    out = subprocess.run([ser, "metrics", "--json", *sets], capture_output=True, text=True,
                         check=True).stdout
    rows = {r["experiment"]: r for r in map(json.loads, filter(None, out.splitlines()))
            if r.get("protocol") == "emobox_6fold"}
    uas = []
    print(f"{'replicate':<12} {'UA':>6}  {'95% CI (speakers)':<18} {'vs ' + BASELINE}")
    for seed in seeds:
        name = f"ensemble/mean/deep_validated_s{seed}"
        row = rows[name]
        compared = json.loads(subprocess.run(
            [ser, "compare", "--json", name, BASELINE, *sets], capture_output=True, text=True,
            check=True).stdout)
        diff = compared["paired_bootstrap"]["difference"]
        uas.append(row["ua"])
        lo, hi = row["ua_ci"]
        print(f"seeds {seed}-{int(seed) + 4:<4} {row['ua']:.3f}  [{lo:.3f}, {hi:.3f}]     "
              f"{diff['estimate']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]")
    sd = statistics.stdev(uas) if len(uas) > 1 else 0.0
    print(f"over {len(uas)} replicates: mean {statistics.mean(uas):.3f}, sd {sd:.3f}, "
          f"range {min(uas):.3f} to {max(uas):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
