//! Decoding real files in every supported container and codec.
//!
//! - Lossy and AIFF fixtures are made at test time: a 1 s test tone (a
//!   440 Hz sine plus a chirp, different in each channel, so that a channel
//!   swap or a shift in time shows) is written as a 16-bit WAV and encoded
//!   with the command-line encoders `lame` (MP3), `oggenc` (Ogg Vorbis) and
//!   `sox` (AIFF). `scripts/setup.sh` installs them; a missing encoder fails
//!   the test with that hint rather than skipping it.
//! - The format is sniffed from the bytes: files saved under a misleading
//!   extension, or none, decode all the same.
//! - The original RAVDESS WAVs in `../shared/corpora/ravdess-wav` (stereo
//!   and mono, with `FLLR`, `LIST`, `bext` and `_PMX` chunks around `data`)
//!   decode to exactly the PCM in their `data` chunk, and the FLACs of the
//!   same names in `../shared/corpora/ravdess` decode to the same samples.
//! - `load_signal` resamples to the requested rate with the expected length
//!   and downmixes stereo by the channel mean.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ser_ingest::decode::{DecodedAudio, decode_bytes};
use ser_ingest::{load_signal, resample::resample};

const SETUP_HINT: &str = "run scripts/setup.sh (as root) to install the encoders the tests use: lame, vorbis-tools (oggenc), sox";

/// One step of a 16-bit sample in f32.
const LSB16: f32 = 1.0 / 32768.0;

// ---------------------------------------------------------------------------
// Test tone and WAV writing

/// A 16-bit PCM test signal, one vector per channel.
#[derive(Clone)]
struct Tone {
    rate: u32,
    planes: Vec<Vec<i16>>,
}

/// Amplitude of the 440 Hz component.
const TONE_AMP: f64 = 0.4;

impl Tone {
    /// One second of `0.4 sin(2π 440 t) + 0.25 chirp(t)` with 10 ms fades;
    /// the chirp rises 300 -> 3000 Hz in channel 0 and falls 3000 -> 300 Hz
    /// in channel 1.
    fn new(rate: u32, channels: usize) -> Tone {
        let n = rate as usize;
        let fade = (rate / 100) as usize;
        let planes = (0..channels)
            .map(|ch| {
                let (f0, f1) = if ch % 2 == 0 {
                    (300.0, 3000.0)
                } else {
                    (3000.0, 300.0)
                };
                (0..n)
                    .map(|i| {
                        let t = i as f64 / rate as f64;
                        let tau = std::f64::consts::TAU;
                        let sine = TONE_AMP * (tau * 440.0 * t).sin();
                        // Linear chirp over the 1 s: phase = 2π (f0 t + (f1 - f0) t² / 2).
                        let chirp = 0.25 * (tau * (f0 * t + (f1 - f0) * t * t / 2.0)).sin();
                        let edge = i.min(n - 1 - i);
                        let gain = if edge < fade {
                            edge as f64 / fade as f64
                        } else {
                            1.0
                        };
                        ((sine + chirp) * gain * 32767.0).round() as i16
                    })
                    .collect()
            })
            .collect();
        Tone { rate, planes }
    }

    fn frames(&self) -> usize {
        self.planes[0].len()
    }

    fn plane_f32(&self, ch: usize) -> Vec<f32> {
        self.planes[ch].iter().map(|&s| s as f32 * LSB16).collect()
    }

    /// A canonical 44-byte-header RIFF/WAVE file, 16-bit PCM.
    fn wav_bytes(&self) -> Vec<u8> {
        let channels = self.planes.len() as u16;
        let block_align = channels * 2;
        let data_len = (self.frames() * block_align as usize) as u32;
        let mut out = Vec::with_capacity(44 + data_len as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&self.rate.to_le_bytes());
        out.extend_from_slice(&(self.rate * block_align as u32).to_le_bytes());
        out.extend_from_slice(&block_align.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..self.frames() {
            for plane in &self.planes {
                out.extend_from_slice(&plane[i].to_le_bytes());
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Encoders

/// Run a command-line encoder; a missing tool fails with the setup hint.
fn run_tool<S: AsRef<OsStr>>(tool: &str, args: &[S]) {
    let output = match Command::new(tool).args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("the encoder `{tool}` is not installed: {SETUP_HINT}")
        }
        Err(e) => panic!("cannot run `{tool}` ({e}): {SETUP_HINT}"),
    };
    assert!(
        output.status.success(),
        "`{tool} {}` failed ({}):\n{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A tone and its encodes, made once per test binary.
struct Fixture {
    tone: Tone,
    wav: Vec<u8>,
    mp3: Vec<u8>,
    /// The same MP3 with an ID3v2 tag in front, as most MP3s in the wild.
    mp3_id3: Vec<u8>,
    /// `mp3` as LAME's own decoder (`lame --decode`) reads it, 16-bit.
    mp3_by_lame: Vec<Vec<f32>>,
    ogg: Vec<u8>,
    aiff: Vec<u8>,
}

impl Fixture {
    fn encode(tone: Tone, mp3_kbps: u32) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |name: &str| dir.path().join(name);
        let wav = tone.wav_bytes();
        std::fs::write(path("tone.wav"), &wav).unwrap();
        let kbps = mp3_kbps.to_string();
        run_tool(
            "lame",
            &[
                OsStr::new("--quiet"),
                OsStr::new("-b"),
                OsStr::new(&kbps),
                path("tone.wav").as_os_str(),
                path("tone.mp3").as_os_str(),
            ],
        );
        run_tool(
            "lame",
            &[
                OsStr::new("--quiet"),
                OsStr::new("-b"),
                OsStr::new(&kbps),
                OsStr::new("--add-id3v2"),
                OsStr::new("--tt"),
                OsStr::new("ser format test"),
                path("tone.wav").as_os_str(),
                path("tone-id3.mp3").as_os_str(),
            ],
        );
        run_tool(
            "lame",
            &[
                OsStr::new("--quiet"),
                OsStr::new("--decode"),
                path("tone.mp3").as_os_str(),
                path("tone-lame.wav").as_os_str(),
            ],
        );
        run_tool(
            "oggenc",
            &[
                OsStr::new("-Q"),
                OsStr::new("-q"),
                OsStr::new("5"),
                OsStr::new("-o"),
                path("tone.ogg").as_os_str(),
                path("tone.wav").as_os_str(),
            ],
        );
        run_tool(
            "sox",
            &[path("tone.wav").as_os_str(), path("tone.aiff").as_os_str()],
        );
        let read = |name: &str| {
            std::fs::read(path(name)).unwrap_or_else(|e| panic!("reading the encoded {name}: {e}"))
        };
        let fixture = Fixture {
            wav,
            mp3: read("tone.mp3"),
            mp3_id3: read("tone-id3.mp3"),
            mp3_by_lame: wav_layout(&read("tone-lame.wav")).planes(),
            ogg: read("tone.ogg"),
            aiff: read("tone.aiff"),
            tone,
        };
        assert!(
            fixture.mp3_id3.starts_with(b"ID3"),
            "lame wrote no ID3v2 tag"
        );
        assert_eq!(&fixture.aiff[..4], b"FORM", "sox wrote no AIFF");
        assert_eq!(&fixture.ogg[..4], b"OggS", "oggenc wrote no Ogg");
        fixture
    }
}

/// 22.05 kHz mono (MPEG-2 layer III at 64 kbit/s).
fn mono_fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture::encode(Tone::new(22050, 1), 64))
}

/// 44.1 kHz stereo (MPEG-1 layer III at 192 kbit/s, joint stereo).
fn stereo_fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture::encode(Tone::new(44100, 2), 192))
}

// ---------------------------------------------------------------------------
// Signal comparison

/// The lag (decoded index minus reference index) in `-max_lag..=max_lag`
/// that maximises the normalised cross-correlation over the middle of the
/// reference, and that correlation.
fn best_alignment(decoded: &[f32], reference: &[f32], max_lag: usize) -> (isize, f64) {
    let start = max_lag;
    let end = reference.len().min(decoded.len()).saturating_sub(max_lag);
    assert!(end > start + 1000, "signals too short to align");
    let ref_win = &reference[start..end];
    let ref_energy: f64 = ref_win.iter().map(|&x| x as f64 * x as f64).sum();
    let mut best = (0isize, f64::NEG_INFINITY);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let dec_win = &decoded[(start as isize + lag) as usize..(end as isize + lag) as usize];
        let (mut dot, mut dec_energy) = (0f64, 0f64);
        for (&a, &b) in dec_win.iter().zip(ref_win) {
            dot += a as f64 * b as f64;
            dec_energy += a as f64 * a as f64;
        }
        let corr = dot / (ref_energy * dec_energy).sqrt().max(1e-30);
        if corr > best.1 {
            best = (lag, corr);
        }
    }
    best
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// The amplitude of the `hz` component over the first whole second (the
/// tone has an integer number of 440 Hz cycles in it, so no leakage).
fn amplitude_at(x: &[f32], rate: u32, hz: f64) -> f64 {
    let n = (rate as usize).min(x.len());
    let w = std::f64::consts::TAU * hz / rate as f64;
    let (mut re, mut im) = (0f64, 0f64);
    for (i, &v) in x[..n].iter().enumerate() {
        re += v as f64 * (w * i as f64).cos();
        im -= v as f64 * (w * i as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / n as f64
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// Check a lossy decode of `tone` against the original: rate, channels,
/// length within `len_tol` frames, each channel aligned within `lag_tol`
/// frames, correlating above `min_corr`, at a level (least-squares gain
/// against the original) in `gain`, with the 440 Hz component scaled alike.
fn check_lossy(
    what: &str,
    audio: &DecodedAudio,
    tone: &Tone,
    gain: std::ops::RangeInclusive<f64>,
    len_tol: usize,
    lag_tol: isize,
    min_corr: f64,
) {
    assert_eq!(audio.sample_rate, tone.rate, "{what}: sample rate");
    assert_eq!(
        audio.channels as usize,
        tone.planes.len(),
        "{what}: channels"
    );
    assert_eq!(audio.planes.len(), tone.planes.len(), "{what}: planes");
    assert!(
        audio.planes.iter().all(|p| p.len() == audio.frames()),
        "{what}: planes differ in length"
    );
    let frames = audio.frames();
    assert!(
        frames.abs_diff(tone.frames()) <= len_tol,
        "{what}: decoded {frames} frames of {}, more than {len_tol} off",
        tone.frames()
    );
    for ch in 0..tone.planes.len() {
        let want = tone.plane_f32(ch);
        let got = &audio.planes[ch];
        let (lag, corr) = best_alignment(got, &want, 2400);
        // Least-squares gain of the decoded signal against the original.
        let n = got.len().min(want.len());
        let fitted = got[..n]
            .iter()
            .zip(&want[..n])
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum::<f64>()
            / want[..n].iter().map(|&b| b as f64 * b as f64).sum::<f64>();
        let a440 = amplitude_at(got, audio.sample_rate, 440.0);
        let a440_want = fitted * amplitude_at(&want, tone.rate, 440.0);
        eprintln!(
            "{what} ch{ch}: {frames} frames (original {}), lag {lag}, correlation {corr:.5}, gain {fitted:.4}, 440 Hz amplitude {a440:.4} (want {a440_want:.4})",
            tone.frames()
        );
        assert!(
            lag.abs() <= lag_tol,
            "{what} ch{ch}: decoded signal is shifted by {lag} frames"
        );
        assert!(
            corr > min_corr,
            "{what} ch{ch}: correlation {corr:.4} with the original <= {min_corr}"
        );
        assert!(
            gain.contains(&fitted),
            "{what} ch{ch}: level is {fitted:.4} of the original, want {gain:?}"
        );
        assert!(
            (a440 / a440_want - 1.0).abs() < 0.03,
            "{what} ch{ch}: 440 Hz amplitude {a440:.4}, want {a440_want:.4}"
        );
    }
}

// ---------------------------------------------------------------------------
// (a) Encoded tones

#[test]
fn wav_tone_round_trips_exactly() {
    for tone in [Tone::new(22050, 1), Tone::new(44100, 2)] {
        let audio = decode_bytes(&tone.wav_bytes()).unwrap();
        assert_eq!(
            (audio.sample_rate, audio.channels as usize),
            (tone.rate, tone.planes.len())
        );
        for ch in 0..tone.planes.len() {
            assert_eq!(audio.planes[ch], tone.plane_f32(ch), "wav ch{ch}");
        }
    }
}

#[test]
fn aiff_decodes_losslessly() {
    for fixture in [mono_fixture(), stereo_fixture()] {
        let what = format!(
            "aiff {} Hz {} ch",
            fixture.tone.rate,
            fixture.tone.planes.len()
        );
        let audio = decode_bytes(&fixture.aiff).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(audio.sample_rate, fixture.tone.rate, "{what}: sample rate");
        assert_eq!(
            audio.channels as usize,
            fixture.tone.planes.len(),
            "{what}: channels"
        );
        for ch in 0..fixture.tone.planes.len() {
            let want = fixture.tone.plane_f32(ch);
            assert_eq!(audio.planes[ch].len(), want.len(), "{what} ch{ch}: length");
            let err = max_abs_diff(&audio.planes[ch], &want);
            assert!(
                err <= LSB16,
                "{what} ch{ch}: max difference {err} is more than one 16-bit step"
            );
        }
    }
}

/// The level of LAME's MP3s against their input: LAME 3.100's quantisation
/// loses a few percent of a pure tone's level at moderate bit rates (0.95
/// at 64 kbit/s mono 22.05 kHz, 0.97 at 192 kbit/s stereo 44.1 kHz, 1.00 at
/// 320 kbit/s). `lame --decode` reads the same level back, so it is in the
/// stream; `mp3_matches_lames_own_decoder` checks symphonia sample by sample.
const LAME_GAIN: std::ops::RangeInclusive<f64> = 0.92..=1.02;

#[test]
fn mp3_decodes_gapless_and_close_to_the_original() {
    for fixture in [mono_fixture(), stereo_fixture()] {
        for (tag, bytes) in [("mp3", &fixture.mp3), ("mp3+id3v2", &fixture.mp3_id3)] {
            let what = format!(
                "{tag} {} Hz {} ch",
                fixture.tone.rate,
                fixture.tone.planes.len()
            );
            let audio = decode_bytes(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            // With the LAME tag's delay and padding, symphonia trims the
            // encoder delay and the last frame's padding (gapless is the
            // default in 0.6); without it the stream would be 1105 frames
            // late and up to a frame longer.
            check_lossy(&what, &audio, &fixture.tone, LAME_GAIN, 0, 0, 0.98);
        }
    }
}

#[test]
fn mp3_matches_lames_own_decoder() {
    for fixture in [mono_fixture(), stereo_fixture()] {
        let what = format!(
            "mp3 {} Hz {} ch",
            fixture.tone.rate,
            fixture.tone.planes.len()
        );
        let audio = decode_bytes(&fixture.mp3).unwrap_or_else(|e| panic!("{what}: {e}"));
        let lame = &fixture.mp3_by_lame;
        assert_eq!(
            audio.planes.len(),
            lame.len(),
            "{what}: channels, symphonia vs lame --decode"
        );
        for (ch, (ours, theirs)) in audio.planes.iter().zip(lame).enumerate() {
            assert_eq!(
                ours.len(),
                theirs.len(),
                "{what} ch{ch}: frames, symphonia vs lame --decode"
            );
            let err = max_abs_diff(ours, theirs);
            eprintln!(
                "{what} ch{ch}: symphonia vs lame --decode: max difference {:.2} 16-bit steps",
                err / LSB16
            );
            assert!(
                err <= 2.0 * LSB16,
                "{what} ch{ch}: symphonia differs from lame --decode by {:.1} 16-bit steps",
                err / LSB16
            );
        }
    }
}

#[test]
fn ogg_vorbis_decodes_close_to_the_original() {
    for fixture in [mono_fixture(), stereo_fixture()] {
        let what = format!(
            "ogg/vorbis {} Hz {} ch",
            fixture.tone.rate,
            fixture.tone.planes.len()
        );
        let audio = decode_bytes(&fixture.ogg).unwrap_or_else(|e| panic!("{what}: {e}"));
        // The last page's granule position gives the exact length, and
        // Vorbis has no encoder delay.
        check_lossy(&what, &audio, &fixture.tone, 0.97..=1.03, 0, 0, 0.98);
    }
}

// ---------------------------------------------------------------------------
// (b) Content sniffing

fn shared_corpora() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    assert!(
        dir.is_dir(),
        "{} is missing: the RAVDESS corpora live in ../shared/corpora beside the workspace",
        dir.display()
    );
    dir
}

/// The original WAVs, each with the path of its FLAC.
fn ravdess_pairs() -> Vec<(PathBuf, PathBuf)> {
    let root = shared_corpora();
    let mut pairs = Vec::new();
    let wav_root = root.join("ravdess-wav");
    let mut actors: Vec<_> = std::fs::read_dir(&wav_root)
        .unwrap_or_else(|e| panic!("{}: {e}", wav_root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    actors.sort();
    for actor in actors {
        let mut wavs: Vec<_> = std::fs::read_dir(&actor)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("wav")))
            .collect();
        wavs.sort();
        for wav in wavs {
            let flac = root
                .join("ravdess")
                .join(actor.file_name().unwrap())
                .join(wav.with_extension("flac").file_name().unwrap());
            pairs.push((wav, flac));
        }
    }
    assert!(!pairs.is_empty(), "no WAVs under {}", wav_root.display());
    pairs
}

/// A stereo RAVDESS FLAC.
fn a_ravdess_flac() -> Vec<u8> {
    let (_, flac) = ravdess_pairs()
        .into_iter()
        .find(|(wav, _)| wav_layout(&std::fs::read(wav).unwrap()).channels == 2)
        .expect("a stereo RAVDESS original");
    std::fs::read(flac).unwrap()
}

fn assert_same_audio(what: &str, got: &DecodedAudio, want: &DecodedAudio) {
    assert_eq!(got.sample_rate, want.sample_rate, "{what}: sample rate");
    assert_eq!(got.channels, want.channels, "{what}: channels");
    assert!(got.planes == want.planes, "{what}: samples differ");
}

#[test]
fn format_is_sniffed_from_the_bytes_not_the_file_name() {
    let mono = mono_fixture();
    let stereo = stereo_fixture();
    let flac = a_ravdess_flac();
    let cases: [(&str, &[u8], &[&str]); 6] = [
        ("flac", &flac, &["clip.wav", "clip.mp3", "clip"]),
        ("mp3", &stereo.mp3, &["clip.wav", "clip.flac", "clip"]),
        (
            "mp3+id3v2",
            &mono.mp3_id3,
            &["clip.wav", "clip.ogg", "clip"],
        ),
        ("ogg", &stereo.ogg, &["clip.wav", "clip.mp3", "clip"]),
        ("aiff", &mono.aiff, &["clip.wav", "clip.flac", "clip"]),
        ("wav", &stereo.wav, &["clip.mp3", "clip.aiff", "clip"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (format, bytes, names) in cases {
        let reference = decode_bytes(bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(reference.frames() > 0, "{format}: no frames");
        for name in names {
            let path = dir.path().join(format!("{format}-{name}"));
            std::fs::write(&path, bytes).unwrap();
            let from_disk = std::fs::read(&path).unwrap();
            let audio = decode_bytes(&from_disk)
                .unwrap_or_else(|e| panic!("{format} saved as {}: {e}", path.display()));
            assert_same_audio(&format!("{format} saved as {name}"), &audio, &reference);
        }
    }
}

// ---------------------------------------------------------------------------
// (c) RAVDESS originals and their FLACs

/// What a WAV's own `fmt ` and `data` chunks say, read by hand.
struct WavLayout {
    channels: usize,
    rate: u32,
    bits: u16,
    /// Interleaved 16-bit samples of the `data` chunk.
    samples: Vec<i16>,
    chunk_ids: Vec<String>,
}

impl WavLayout {
    fn planes(&self) -> Vec<Vec<f32>> {
        (0..self.channels)
            .map(|ch| {
                self.samples
                    .iter()
                    .skip(ch)
                    .step_by(self.channels)
                    .map(|&s| s as f32 * LSB16)
                    .collect()
            })
            .collect()
    }
}

fn wav_layout(bytes: &[u8]) -> WavLayout {
    assert!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a RIFF/WAVE file"
    );
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let mut layout = WavLayout {
        channels: 0,
        rate: 0,
        bits: 0,
        samples: Vec::new(),
        chunk_ids: Vec::new(),
    };
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size = u32_at(i + 4) as usize;
        let body = &bytes[i + 8..(i + 8 + size).min(bytes.len())];
        layout
            .chunk_ids
            .push(String::from_utf8_lossy(id).into_owned());
        match id {
            b"fmt " => {
                assert_eq!(u16_at(i + 8), 1, "expected a plain PCM WAV");
                layout.channels = u16_at(i + 10) as usize;
                layout.rate = u32_at(i + 12);
                layout.bits = u16_at(i + 22);
            }
            b"data" => {
                layout.samples = body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
            }
            _ => {}
        }
        i += 8 + size + (size & 1);
    }
    layout
}

#[test]
fn ravdess_originals_decode_to_their_pcm_and_match_their_flacs() {
    let pairs = ravdess_pairs();
    let mut seen_channels = [0usize; 3];
    for (wav_path, flac_path) in &pairs {
        let name = wav_path.file_name().unwrap().to_string_lossy();
        let wav_bytes = std::fs::read(wav_path).unwrap();
        let layout = wav_layout(&wav_bytes);
        assert_eq!(layout.bits, 16, "{name}: the originals are 16-bit");

        let wav = decode_bytes(&wav_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(wav.sample_rate, 48000, "{name}: sample rate");
        assert_eq!(layout.rate, 48000, "{name}: header rate");
        assert!(
            matches!(wav.channels, 1 | 2),
            "{name}: {} channels",
            wav.channels
        );
        assert_eq!(wav.channels as usize, layout.channels, "{name}: channels");
        seen_channels[layout.channels] += 1;
        let frames = layout.samples.len() / layout.channels;
        assert!(frames >= 48000, "{name}: only {frames} frames");
        assert_eq!(
            wav.frames(),
            frames,
            "{name}: frames decoded vs in the data chunk (chunks {:?})",
            layout.chunk_ids
        );
        // Exactly the data chunk's PCM: the chunks around it (FLLR before,
        // LIST/bext/_PMX after) are neither decoded nor dropping samples.
        for ch in 0..layout.channels {
            let want = layout
                .samples
                .iter()
                .skip(ch)
                .step_by(layout.channels)
                .map(|&s| s as f32 * LSB16);
            assert!(
                wav.planes[ch].iter().copied().eq(want),
                "{name} ch{ch}: samples differ from the data chunk"
            );
        }

        let flac_bytes =
            std::fs::read(flac_path).unwrap_or_else(|e| panic!("{}: {e}", flac_path.display()));
        assert_eq!(
            &flac_bytes[..4],
            b"fLaC",
            "{}: not a FLAC",
            flac_path.display()
        );
        let flac = decode_bytes(&flac_bytes).unwrap_or_else(|e| panic!("{name} (flac): {e}"));
        assert_eq!(
            (flac.sample_rate, flac.channels, flac.frames()),
            (wav.sample_rate, wav.channels, wav.frames()),
            "{name}: flac vs wav"
        );
        for ch in 0..layout.channels {
            let err = max_abs_diff(&flac.planes[ch], &wav.planes[ch]);
            assert!(
                err <= LSB16,
                "{name} ch{ch}: flac differs from the original by {err} (> one 16-bit step)"
            );
        }
    }
    eprintln!(
        "{} RAVDESS originals: {} mono, {} stereo",
        pairs.len(),
        seen_channels[1],
        seen_channels[2]
    );
    assert!(
        seen_channels[1] > 0 && seen_channels[2] > 0,
        "expected both mono and stereo originals"
    );
}

// ---------------------------------------------------------------------------
// (d) load_signal

#[test]
fn load_signal_resamples_ravdess_flacs_to_16k() {
    for (wav_path, flac_path) in ravdess_pairs() {
        let name = flac_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&flac_path).unwrap();
        let decoded = decode_bytes(&bytes).unwrap();
        let frames = decoded.frames();
        let signal = load_signal(&bytes, 16000).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(signal.sample_rate, 16000, "{name}");
        assert_eq!(signal.source_rate, 48000, "{name}");
        assert_eq!(signal.source_channels, decoded.channels, "{name}");
        assert_eq!(
            signal.source_channels as usize,
            wav_layout(&std::fs::read(&wav_path).unwrap()).channels,
            "{name}"
        );
        assert_eq!(
            signal.samples.len(),
            (frames * 16000).div_ceil(48000),
            "{name}: resampled length"
        );
        assert!(
            signal.samples.iter().all(|x| x.is_finite()),
            "{name}: non-finite samples"
        );
        // Downmix first, then resample: the signal is the resampled channel
        // mean (RAVDESS stereo files carry the same signal in both channels,
        // so this is also each channel's own resample).
        let mean: Vec<f32> = (0..frames)
            .map(|i| decoded.planes.iter().map(|p| p[i]).sum::<f32>() / decoded.channels as f32)
            .collect();
        let want = resample(&mean, 48000, 16000).unwrap();
        let err = max_abs_diff(&signal.samples, &want);
        assert!(
            err < 1e-6,
            "{name}: differs from the resampled channel mean by {err}"
        );
        let ratio = rms(&signal.samples) / rms(&mean);
        assert!(
            (0.8..1.2).contains(&ratio),
            "{name}: resampling changed the level by {ratio:.3}"
        );
    }
}

#[test]
fn load_signal_downmixes_distinct_channels_by_their_mean() {
    // The tone's channels differ (rising vs falling chirp), so a downmix that
    // kept one channel, or summed without scaling, would show here.
    let tone = Tone::new(44100, 2);
    let signal = load_signal(&tone.wav_bytes(), 16000).unwrap();
    assert_eq!(
        (
            signal.source_rate,
            signal.source_channels,
            signal.sample_rate
        ),
        (44100, 2, 16000)
    );
    assert_eq!(signal.samples.len(), (44100usize * 16000).div_ceil(44100));
    let left = resample(&tone.plane_f32(0), 44100, 16000).unwrap();
    let right = resample(&tone.plane_f32(1), 44100, 16000).unwrap();
    let mean: Vec<f32> = left
        .iter()
        .zip(&right)
        .map(|(l, r)| 0.5 * (l + r))
        .collect();
    let err = max_abs_diff(&signal.samples, &mean);
    assert!(
        err < 1e-4,
        "stereo downmix differs from the mean of the channels by {err}"
    );
    assert!(
        max_abs_diff(&signal.samples, &left) > 0.05,
        "the downmix is just the left channel"
    );
    // Both channels carry the 440 Hz sine in phase, so it survives at full
    // amplitude; the chirps are uncorrelated and are halved.
    let a440 = amplitude_at(&signal.samples, 16000, 440.0);
    assert!(
        (a440 - TONE_AMP).abs() < 0.02,
        "440 Hz amplitude {a440:.4} after downmix, want {TONE_AMP}"
    );
}
