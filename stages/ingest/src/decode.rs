//! Audio decoding with symphonia.
//!
//! The container is found by probing the bytes (symphonia's probe matches
//! each format's markers), never from the file extension, so a FLAC named
//! `.wav` or a WAV without an extension decodes all the same. WAV (PCM 8-32
//! bit, float, WAVE_FORMAT_EXTENSIBLE, unknown chunks skipped), AIFF, FLAC,
//! MP3 and Ogg/Vorbis are enabled.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::IngestError;

/// A decoded file, channels kept apart.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    pub sample_rate: u32,
    pub channels: u16,
    /// One vector per channel, all of the same length.
    pub planes: Vec<Vec<f32>>,
}

impl DecodedAudio {
    pub fn frames(&self) -> usize {
        self.planes.first().map_or(0, Vec::len)
    }

    /// Downmix to mono by the mean of the channels (as librosa's `to_mono`).
    pub fn into_mono(mut self) -> Vec<f32> {
        match self.planes.len() {
            0 => Vec::new(),
            1 => self.planes.pop().unwrap_or_default(),
            n => {
                let scale = 1.0 / n as f32;
                let mut mono = vec![0f32; self.frames()];
                for plane in &self.planes {
                    for (m, &x) in mono.iter_mut().zip(plane) {
                        *m += x;
                    }
                }
                mono.iter_mut().for_each(|m| *m *= scale);
                mono
            }
        }
    }
}

/// Decode a whole file held in memory.
pub fn decode_bytes(bytes: &[u8]) -> Result<DecodedAudio, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    let source = Cursor::new(bytes.to_vec());
    let stream = MediaSourceStream::new(Box::new(source), Default::default());
    // An empty hint: the probe decides by content alone.
    let mut format = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) | SymphoniaError::IoError(_) => {
                IngestError::NotAudio("no supported container format matches its bytes".into())
            }
            other => IngestError::NotAudio(other.to_string()),
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| IngestError::NotAudio("the container has no audio track".into()))?;
    let track_id = track.id;
    let expected_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| IngestError::NotAudio("the audio track has no codec parameters".into()))?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| IngestError::UnsupportedCodec(format!("{} ({e})", params.codec)))?;

    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut decode_errors = 0usize;
    let mut decoded_packets = 0usize;
    let mut hit_eof_early = false;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A stream that ends inside a packet is a truncated file; what
            // was decoded so far is judged against the header below.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                hit_eof_early = true;
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(IngestError::Corrupt(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                decoded_packets += 1;
                sample_rate = buf.spec().rate();
                if planes.is_empty() {
                    // The declared length, when there is one, saves the
                    // copies of growing each plane packet by packet.
                    let capacity = expected_frames.map_or(0, |n| n.min(1 << 28) as usize);
                    planes.resize_with(buf.num_planes(), || Vec::with_capacity(capacity));
                }
                if planes.len() != buf.num_planes() {
                    return Err(IngestError::Corrupt(
                        "channel count changes mid-stream".into(),
                    ));
                }
                // Converted straight into the end of each plane: no
                // per-packet buffer to copy from.
                let (start, frames) = (planes.first().map_or(0, Vec::len), buf.frames());
                let mut tails: Vec<&mut [f32]> = planes
                    .iter_mut()
                    .map(|plane| {
                        plane.resize(start + frames, 0.0);
                        &mut plane[start..]
                    })
                    .collect();
                buf.copy_to_slice_planar::<f32, _>(&mut tails);
            }
            // Lossy decoders report damaged packets and continue; a file
            // where nothing decodes is rejected below.
            Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => {
                decode_errors += 1;
            }
            Err(e) => return Err(IngestError::Corrupt(e.to_string())),
        }
    }
    if decoded_packets == 0 {
        return Err(if decode_errors > 0 {
            IngestError::Corrupt(format!("none of {decode_errors} packets could be decoded"))
        } else if hit_eof_early {
            IngestError::Truncated {
                decoded: 0,
                expected: expected_frames.unwrap_or(0),
            }
        } else {
            IngestError::NoFrames
        });
    }
    let decoded = planes.first().map_or(0, Vec::len) as u64;
    if let Some(expected) = expected_frames {
        // Codec padding can leave a few frames either way; a missing tail of
        // more than 1% (or any early EOF) is a truncated file.
        if decoded < expected && (hit_eof_early || expected - decoded > expected / 100) {
            return Err(IngestError::Truncated { decoded, expected });
        }
    } else if hit_eof_early {
        return Err(IngestError::Truncated {
            decoded,
            expected: decoded + 1,
        });
    }
    if sample_rate == 0 {
        return Err(IngestError::NotAudio(
            "the stream declares no sample rate".into(),
        ));
    }
    let channels = planes.len() as u16;
    Ok(DecodedAudio {
        sample_rate,
        channels,
        planes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A RIFF/WAVE file with the given format chunk body and sample bytes,
    /// optionally with an unknown chunk before `data`.
    pub(crate) fn wav_bytes(fmt: &[u8], data: &[u8], extra_chunk: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"WAVE");
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(fmt);
        if extra_chunk {
            let junk = b"ser test chunk that no decoder knows";
            body.extend_from_slice(b"zzzz");
            body.extend_from_slice(&(junk.len() as u32).to_le_bytes());
            body.extend_from_slice(junk);
            if junk.len() % 2 == 1 {
                body.push(0);
            }
        }
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend(body);
        out
    }

    /// A `fmt ` chunk body: `tag` 1 = PCM, 3 = IEEE float, 0xFFFE = extensible.
    pub(crate) fn fmt_chunk(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let block_align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
        f.extend_from_slice(&block_align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        if tag == 0xFFFE {
            f.extend_from_slice(&22u16.to_le_bytes());
            f.extend_from_slice(&bits.to_le_bytes()); // valid bits
            let mask: u32 = if channels == 1 { 0x4 } else { 0x3 };
            f.extend_from_slice(&mask.to_le_bytes());
            // KSDATAFORMAT_SUBTYPE_PCM GUID
            f.extend_from_slice(&[
                0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
                0x9B, 0x71,
            ]);
        }
        f
    }

    /// A 440 Hz sine at half scale.
    pub(crate) fn sine(rate: u32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
            .collect()
    }

    fn encode(samples: &[f32], bits: u16, float: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in samples {
            match (bits, float) {
                (8, false) => out.push(((s * 127.0) as i16 + 128) as u8),
                (16, false) => out.extend_from_slice(&((s * 32767.0) as i16).to_le_bytes()),
                (24, false) => out.extend_from_slice(&((s * 8388607.0) as i32).to_le_bytes()[..3]),
                (32, false) => {
                    out.extend_from_slice(&((s as f64 * 2147483647.0) as i32).to_le_bytes())
                }
                (32, true) => out.extend_from_slice(&s.to_le_bytes()),
                _ => unreachable!("test encoder covers the formats above"),
            }
        }
        out
    }

    fn assert_close(decoded: &[f32], want: &[f32], tol: f32) {
        assert_eq!(decoded.len(), want.len());
        let err = decoded
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err <= tol, "max error {err} > {tol}");
    }

    #[test]
    fn decodes_every_wav_sample_format() {
        let want = sine(16000, 1600);
        for (tag, bits, float, tol) in [
            (1u16, 8u16, false, 1.0 / 64.0),
            (1, 16, false, 1e-4),
            (1, 24, false, 1e-6),
            (1, 32, false, 1e-6),
            (3, 32, true, 0.0),
            (0xFFFE, 16, false, 1e-4),
            (0xFFFE, 24, false, 1e-6),
        ] {
            for extra in [false, true] {
                let bytes = wav_bytes(
                    &fmt_chunk(tag, 1, 16000, bits),
                    &encode(&want, bits, float),
                    extra,
                );
                let audio = decode_bytes(&bytes)
                    .unwrap_or_else(|e| panic!("tag {tag:#x} {bits} bit extra={extra}: {e}"));
                assert_eq!((audio.sample_rate, audio.channels), (16000, 1));
                assert_close(&audio.planes[0], &want, tol);
            }
        }
    }

    #[test]
    fn stereo_downmix_is_the_channel_mean() {
        let left = sine(8000, 800);
        let mut interleaved = Vec::new();
        for &l in &left {
            interleaved.push(l);
            interleaved.push(0.0);
        }
        let bytes = wav_bytes(
            &fmt_chunk(3, 2, 8000, 32),
            &encode(&interleaved, 32, true),
            false,
        );
        let audio = decode_bytes(&bytes).unwrap();
        assert_eq!(audio.channels, 2);
        let mono = audio.into_mono();
        let want: Vec<f32> = left.iter().map(|x| x / 2.0).collect();
        assert_close(&mono, &want, 1e-7);
    }

    #[test]
    fn rejects_empty_garbage_and_truncated() {
        assert_eq!(decode_bytes(&[]).unwrap_err(), IngestError::Empty);
        let garbage: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(matches!(
            decode_bytes(&garbage),
            Err(IngestError::NotAudio(_))
        ));
        let text = b"path,label,speaker\nthis is a csv, not audio\n".repeat(20);
        assert!(matches!(decode_bytes(&text), Err(IngestError::NotAudio(_))));

        let full = wav_bytes(
            &fmt_chunk(1, 1, 16000, 16),
            &encode(&sine(16000, 16000), 16, false),
            false,
        );
        let cut = &full[..full.len() / 2];
        match decode_bytes(cut) {
            Err(IngestError::Truncated { decoded, expected }) => {
                assert_eq!(expected, 16000);
                assert!(decoded < expected);
            }
            other => panic!("expected a truncation reject, got {other:?}"),
        }
    }
}
