"""What the rule scripts' Python halves share: the `--set` options a bench's shell script gives
`ser`, read from the script itself (so a definition is written once), and validation UAs per
fold from `ser metrics --validation --json`."""
import json
import os
import subprocess


def script_sets(script, env=None):
    """The options `script` passes to `ser` after its command (`run`), one per element; `env`:
    variables the script reads (e.g. which variant)."""
    out = subprocess.run(["bash", "-c", 'ser() { shift; printf "%s\\n" "$@"; }; export -f ser; '
                          f'bash {script}'], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    return out.splitlines()


def validation_uas(ser, argv):
    """experiment -> fold -> validation UA, from `ser metrics --validation --json`."""
    out = subprocess.run([ser, "metrics", "--validation", "--json", *argv],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["experiment"]: {f["fold"]: f["ua"] for f in r.get("folds", [])} for r in rows}


# deep_validated's members on librosa's acoustic set: the acoustic and union copy MLPs, then the
# union's MLP without copies; the first two are what the extraction studies measure.
ACOUSTIC_MEMBERS = ["acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta",
                    "acoustic+noisy_pitch_stretch/none/mlp_tta", "acoustic_egemaps/none/mlp"]


def extraction_study(argv, script, variants):
    """Validation UA per fold of the two acoustic copy MLPs for each extraction variant of
    `script` (`VARIANT=<name>`; the first, `shipped`, is pipeline.yaml's), and the decision: the
    variant whose union cell has the highest mean, if above the shipped cell's."""
    import numpy as np

    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    cells = ACOUSTIC_MEMBERS[:2]
    rows = {}
    for variant in variants:
        scores = validation_uas(ser, argv + script_sets(script, {"VARIANT": variant}))
        for cell in cells:
            rows[(cell, variant)] = scores[cell]
    folds = sorted(rows[(cells[0], variants[0])])
    print(f"{'cell / acoustic columns':62s} " + " ".join(f"{f:>6s}" for f in folds) + "   mean")
    for (cell, variant), per_fold in rows.items():
        values = [per_fold[f] for f in folds]
        print(f"{cell + ' / ' + variant:62s} " + " ".join(f"{v:6.3f}" for v in values)
              + f"  {np.mean(values):.4f}")
    base = np.array([rows[(cells[0], variants[0])][f] for f in folds])
    best, best_mean = None, base.mean()
    for variant in variants[1:]:
        values = np.array([rows[(cells[0], variant)][f] for f in folds])
        d = values - base
        print(f"union / {variant} minus {variants[0]}: {d.mean():+.4f} (higher in {(d > 0).sum()} "
              f"of {len(d)} folds)")
        if values.mean() > best_mean:
            best, best_mean = variant, values.mean()
    print(f"decision: {best or 'none'}" + ("" if best else " (no variant above the shipped cell)"))


def acoustic_pool_rule(argv, script, variant):
    """deep_validated's pool as pipeline.yaml ships it against the same pool with its acoustic
    members under `script`'s definitions (`experiment#variant`), judged on held-out halves of
    each fold's validation speakers (benches/classic_members.py)."""
    import classic_members

    shipped = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta",
               ACOUSTIC_MEMBERS[1], "gemaps+noisy_pitch_stretch/none/mlp_tta",
               ACOUSTIC_MEMBERS[0], ACOUSTIC_MEMBERS[2], *classic_members.CLASSIC]
    other = [f"{m}#{variant}" if m in ACOUSTIC_MEMBERS else m for m in shipped]
    sets = script_sets(script)
    classic_members.main(argv, pools={"shipped": shipped, variant: other},
                         definitions={m: sets for m in other if "#" in m})


def twin_pool_rule(argv, script, shipped, twins, label):
    """deep_validated's pool as shipped against `twins` (the same pool, some members replaced),
    every member under `script`'s definitions, judged on held-out halves of each fold's
    validation speakers (benches/classic_members.py); `label` names the twins' pool."""
    import classic_members

    sets = script_sets(script)
    return classic_members.main(argv, pools={"shipped": shipped, label: twins},
                                definitions={m: sets for m in shipped + twins})
