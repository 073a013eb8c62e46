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
