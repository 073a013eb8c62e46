#!/usr/bin/env python3
"""Edge-case audio unlike RAVDESS, and what librosa and openSMILE compute on it.

Usage: python3 scripts/make_edge_references.py OUT_DIR
       (stages/extract/tests/edge_parity.rs runs it into its temp folder)

Makes, deterministically (fixed seeds; espeak-ng 1.51 for the voices), a few
16 kHz mono signals that RAVDESS does not cover -- other voices and languages,
other levels, hard clipping, float samples beyond full scale, long digital
silences, noise -- and writes into OUT_DIR:

  audio/<id>.wav                 the exact signal: 16-bit PCM WAV, or 32-bit
                                 float WAV for the one beyond full scale
  acoustic_functionals.parquet   librosa 0.11: mean/std/min/max/range over
                                 frames of every acoustic LLD (645)
  egemaps_functionals.parquet    openSMILE 2.6 eGeMAPSv02 functionals (88)
  gemaps_functionals.parquet     openSMILE 2.6 GeMAPSv01b functionals (62)
  egemaps_f0.parquet             openSMILE 2.6 eGeMAPSv02 LLD F0 per frame
                                 (openSMILE tables: files within full scale)

The functionals tables are long (`file, name, value`, float64) to stay small;
the frame-level acoustic LLDs are left out for size (their mean, std, min and
max are in the functionals). The librosa parameters are those of
../shared/tools/make_reference.py, whose functions this script imports.

Every signal is stored on the 16-bit grid (trunc(x * 32768) / 32768, not
clamped), the grid the openSMILE wrapper puts signals on, and openSMILE reads
the WAV with `Smile.process_file`; for signals within full scale that gives
the numbers of `process_signal` (checked here on every such file).

openSMILE 2.6 cannot analyse float samples beyond full scale: its wave
reader, like the wrapper's `process_signal` (`astype(np.int16)`), turns them
into 16-bit integers that wrap around (2.27 becomes 0.27 - 2 = -1.73...).
This script checks that: on the file at peak 2.27, `process_file` gives
exactly the functionals of `process_signal` on the wrapped signal. Those
numbers describe a corrupted signal, so such files get no openSMILE
reference; they are in the librosa table (librosa keeps float samples).

Needs: pip install librosa==0.11.0 opensmile==2.6.0 soundfile pandas pyarrow;
apt-get install espeak-ng.
"""
import os
import subprocess
import sys
import tempfile

import librosa
import numpy as np
import opensmile
import pandas as pd
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "tools"))
from make_reference import acoustic_lld, functionals  # noqa: E402

SR = 16000


def espeak(text, voice, pitch=50, speed=160):
    """espeak-ng speech, resampled to 16 kHz like librosa.load does."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "say.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", path, text],
            check=True,
        )
        y, _ = librosa.load(path, sr=SR, mono=True, res_type="soxr_hq")
    return y.astype(np.float64)


def peak_to(y, peak):
    return y * (peak / np.max(np.abs(y)))


def pink(n, rng):
    """Pink (1/f) noise by spectral shaping of white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


def signals():
    rng = np.random.default_rng(23)
    male = espeak("Kids are talking by the door.", "en-us", pitch=35)
    female = espeak("Dogs are sitting by the door.", "en-us+f3", pitch=70)
    german = espeak("Der Hund sitzt vor der Tür.", "de", pitch=50)
    out = {}
    # Other voices: a low synthetic male, a high female, another language.
    out["voice_male_low"] = peak_to(male, 0.5)
    out["voice_female_high"] = peak_to(female, 0.5)
    out["voice_german"] = peak_to(german, 0.3)
    # Other levels: quiet (-40 dBFS peak) and near full scale.
    out["level_quiet_-40dBFS"] = peak_to(female, 0.01)
    out["level_hot_-0.1dBFS"] = peak_to(male, 0.989)
    # Hard clipping: 12 dB of gain into 16-bit full scale.
    out["clipped_12dB"] = np.clip(peak_to(german, 4.0), -1.0, 32767 / 32768)
    # Float beyond full scale (peak 2.27, as a public corpus ships).
    out["float_peak_2.27"] = peak_to(female, 2.27)
    # Long digital silences around and inside speech.
    z = np.zeros
    out["long_silences"] = np.concatenate(
        [z(SR // 2), peak_to(male[: SR], 0.4), z(int(1.5 * SR)), peak_to(female[: SR], 0.4), z(SR // 2)]
    )
    # Noise: white alone, and pink under speech at 5 dB SNR.
    out["white_noise_-20dBFS"] = 0.1 * rng.standard_normal(2 * SR)
    speech = peak_to(male, 0.4)
    noise = pink(len(speech), rng)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (5 / 10))
    out["pink_noise_snr5dB"] = speech + noise
    # On the 16-bit grid, unclamped (see the module comment).
    return {k: (np.trunc(v * 32768.0) / 32768.0).astype(np.float32) for k, v in out.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_edge_references.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    smiles = [
        opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors),
        opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals),
        opensmile.Smile(opensmile.FeatureSet.GeMAPSv01b, opensmile.FeatureLevel.Functionals),
    ]
    acoustic, f0, tables = [], [], [[], []]
    for fid, y in signals().items():
        wav = os.path.join(out_dir, "audio", fid + ".wav")
        # Beyond what 16 bits hold: above 32767 or below -32768 steps.
        beyond = np.max(y) > 32767 / 32768 or np.min(y) < -1.0
        sf.write(wav, y, SR, subtype="FLOAT" if beyond else "PCM_16")
        y = sf.read(wav, dtype="float32")[0]
        lld = acoustic_lld(y)
        acoustic.append(long_table(fid, functionals(lld)))
        if beyond:
            wrapped = np.trunc(y.astype(np.float64) * 32768.0).astype(np.int64)
            wrapped = (((wrapped + 32768) % 65536) - 32768) / 32768.0
            a = smiles[1].process_file(wav).to_numpy()
            b = smiles[1].process_signal(wrapped.astype(np.float32), SR).to_numpy()
            assert np.array_equal(a, b, equal_nan=True), fid
            print(f"{fid}: openSMILE reads it wrapped around int16; no openSMILE reference")
        for i, smile in enumerate(smiles if not beyond else []):
            df = smile.process_file(wav).reset_index()
            # Same numbers through the wrapper's int16 path.
            via_signal = smile.process_signal(y, SR).reset_index()
            a = df.select_dtypes("floating").to_numpy()
            b = via_signal.select_dtypes("floating").to_numpy()
            assert np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True), fid
            features = df.drop(columns=["file", "start", "end"])
            if i == 0:
                f0.append(pd.DataFrame({
                    "file": fid,
                    "F0semitoneFrom27.5Hz_sma3nz": features["F0semitoneFrom27.5Hz_sma3nz"].astype(np.float64),
                }))
            else:
                tables[i - 1].append(long_table(fid, features.iloc[0].to_dict()))
        print(f"{fid}: {len(y) / SR:.2f} s, peak {np.max(np.abs(y)):.3f}, {len(lld)} frames", flush=True)
    pd.concat(acoustic).to_parquet(os.path.join(out_dir, "acoustic_functionals.parquet"), index=False)
    pd.concat(f0).to_parquet(os.path.join(out_dir, "egemaps_f0.parquet"), index=False)
    for name, acc in zip(["egemaps_functionals", "gemaps_functionals"], tables):
        pd.concat(acc).to_parquet(os.path.join(out_dir, name + ".parquet"), index=False)


def long_table(fid, values):
    """One row per (file, functional), in the functionals' own order."""
    return pd.DataFrame({
        "file": fid,
        "name": list(values.keys()),
        "value": np.asarray(list(values.values()), dtype=np.float64),
    })


if __name__ == "__main__":
    main()
