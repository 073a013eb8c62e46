#!/usr/bin/env bash
# Install the system packages ser needs on a Debian machine.
#
#   cmake, ninja-build, libclang-dev,  building native dependencies (XGBoost 3.4
#   pkg-config                       is built from source with cmake and Ninja,
#                                    its bindings by bindgen, which needs libclang)
#   libsoxr-dev                      libsoxr, ingest's resampler (librosa's
#                                    soxr_hq); found through pkg-config
#   lame                             MP3 encoder   \
#   vorbis-tools (oggenc)            Ogg Vorbis     } the ingest format tests
#   sox                              AIFF writer   /  encode fixtures at test time
#   espeak-ng                        voices for the edge-case parity audio,
#                                    made at test time (edge_parity.rs)
#   chromium                         headless browser: the report's page is
#                                    tested by loading it (ser-report tests)
#   slurmctld, slurmd, slurm-client, a real one-node Slurm cluster (22.05) the
#   munge                            Slurm executor's tests start and stop
#                                    (scripts/slurm-cluster.sh, tests/e2e/slurm.rs)
#
# and one Python package, with pip:
#
#   moto[server]                     a real S3-compatible server the remote
#                                    tests start on 127.0.0.1 (tests/e2e/remote.rs)
#   librosa 0.11, opensmile 2.6,     the reference tools the edge-case parity
#   soundfile, pandas, pyarrow       test runs on the audio it makes
#
# Idempotent: only packages whose command (or, for libraries, whose dpkg
# entry) is missing are installed, and `apt-get update` runs once, only when
# something is to be installed. With everything present it needs no root and
# changes nothing.
set -euo pipefail

# Each entry: "debian-package:check", where check is `cmd:NAME` (a command on
# PATH) or `pkg` (the Debian package itself is installed).
REQUIREMENTS=(
    "cmake:cmd:cmake"
    "ninja-build:cmd:ninja"
    "pkg-config:cmd:pkg-config"
    "libclang-dev:pkg"
    "libsoxr-dev:pkg"
    "lame:cmd:lame"
    "vorbis-tools:cmd:oggenc"
    "sox:cmd:sox"
    "chromium:cmd:chromium"
    "espeak-ng:cmd:espeak-ng"
    "slurmctld:pkg"
    "slurmd:pkg"
    "slurm-client:cmd:sbatch"
    "munge:cmd:munged"
)

# The S3 server of the remote tests (PyPI), for the machine's python3.
install_python() {
    if python3 -c "import moto.server, flask, flask_cors, librosa, opensmile, soundfile, pandas, pyarrow" >/dev/null 2>&1; then
        return 0
    fi
    echo "setup.sh: installing moto[server], librosa, opensmile (test servers and reference tools)"
    python3 -m pip install --quiet "moto[server]>=5,<6" "librosa==0.11.0" "opensmile==2.6.0" soundfile pandas pyarrow
    python3 -c "import moto.server, librosa, opensmile" || { echo "setup.sh: Python packages installed, but an import fails" >&2; exit 1; }
}

dpkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for req in "${REQUIREMENTS[@]}"; do
    package=${req%%:*}
    check=${req#*:}
    case $check in
        cmd:*)
            command -v "${check#cmd:}" >/dev/null 2>&1 || missing+=("$package")
            ;;
        pkg)
            dpkg_installed "$package" || missing+=("$package")
            ;;
        *)
            echo "setup.sh: bad requirement '$req'" >&2
            exit 2
            ;;
    esac
done

install_python

if ((${#missing[@]} == 0)); then
    echo "setup.sh: all system packages are present (cmake, pkg-config, libclang-dev, libsoxr-dev, lame, oggenc, sox, chromium, espeak-ng, slurm, munge); nothing to do"
    exit 0
fi

echo "setup.sh: installing ${missing[*]}"

if ((EUID == 0)); then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "setup.sh: missing packages ${missing[*]}, and installing them needs root (run this script as root or with sudo)" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: apt-get not found; install these packages by hand: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
${SUDO[@]+"${SUDO[@]}"} apt-get update -q
${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

# Check that the install gave us what the checks above look for.
command -v cmake >/dev/null && command -v pkg-config >/dev/null && command -v lame >/dev/null \
    && command -v oggenc >/dev/null && command -v sox >/dev/null && dpkg_installed libclang-dev \
    && command -v chromium >/dev/null && command -v espeak-ng >/dev/null \
    && command -v sbatch >/dev/null && dpkg_installed slurmctld && dpkg_installed slurmd \
    || { echo "setup.sh: packages installed, but a required tool is still missing" >&2; exit 1; }
echo "setup.sh: done"
