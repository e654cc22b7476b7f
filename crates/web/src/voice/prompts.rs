//! The IVR's recorded prompts: WAV files, encoded once at start in both
//! G.711 laws so that each call only shares them.
//!
//! Dasan ships Korean prompts made with espeak-ng (`scripts/make-prompts`
//! writes them to `crates/web/assets/prompts/`, 8 kHz 16-bit mono); a
//! center replaces any of them with its own recordings by putting
//! `greeting.wav`, `queue.wav`, `survey.wav` or `thanks.wav` in the folder
//! named by `[voice] prompts` (`DASAN_SIP_PROMPTS`). A WAV may be 16-bit PCM
//! at any rate, mono or stereo (mixed down and resampled to 8 kHz), or G.711
//! µ-law/A-law at 8 kHz.

use std::{path::Path, sync::Arc};

use super::media::{alaw, ulaw};

/// One prompt in both laws.
#[derive(Debug, Clone)]
pub struct Prompt {
    pcmu: Arc<[u8]>,
    pcma: Arc<[u8]>,
}

impl Prompt {
    pub fn from_samples(samples: &[i16]) -> Prompt {
        Prompt {
            pcmu: samples.iter().map(|s| ulaw(*s)).collect(),
            pcma: samples.iter().map(|s| alaw(*s)).collect(),
        }
    }

    /// The prompt for payload type 0 (PCMU) or 8 (PCMA).
    pub fn audio(&self, payload: u8) -> Arc<[u8]> {
        if payload == 0 {
            self.pcmu.clone()
        } else {
            self.pcma.clone()
        }
    }

    /// Its length in milliseconds.
    pub fn millis(&self) -> u64 {
        self.pcmu.len() as u64 / 8
    }
}

/// The four prompts of a call.
#[derive(Debug, Clone)]
pub struct Prompts {
    /// The welcome and the menu.
    pub greeting: Prompt,
    /// Played in a loop while the caller waits for an agent.
    pub queue: Prompt,
    /// The 1–5 question after the agent hangs up (phone survey).
    pub survey: Prompt,
    pub thanks: Prompt,
}

const SHIPPED: [(&str, &[u8]); 4] = [
    (
        "greeting",
        include_bytes!("../../assets/prompts/greeting.wav"),
    ),
    ("queue", include_bytes!("../../assets/prompts/queue.wav")),
    ("survey", include_bytes!("../../assets/prompts/survey.wav")),
    ("thanks", include_bytes!("../../assets/prompts/thanks.wav")),
];

/// Silence after each prompt before it repeats.
const PAUSE_SAMPLES: usize = 8_000;

fn with_pause(mut samples: Vec<i16>) -> Vec<i16> {
    samples.extend(std::iter::repeat_n(0, PAUSE_SAMPLES));
    samples
}

impl Default for Prompts {
    /// The shipped Korean prompts.
    fn default() -> Self {
        let load = |i: usize| {
            let samples = wav_samples(SHIPPED[i].1).unwrap_or_default();
            Prompt::from_samples(&with_pause(samples))
        };
        Prompts {
            greeting: load(0),
            queue: load(1),
            survey: load(2),
            thanks: load(3),
        }
    }
}

impl Prompts {
    /// The shipped prompts, each replaced by `DIR/NAME.wav` where that file
    /// exists. A file that is not a usable WAV is an error naming it.
    pub fn from_dir(dir: &Path) -> Result<Prompts, String> {
        if !dir.is_dir() {
            return Err(format!("{}: not a folder", dir.display()));
        }
        let mut prompts = Prompts::default();
        for (name, _) in SHIPPED {
            let path = dir.join(format!("{name}.wav"));
            if !path.exists() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let samples = wav_samples(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            let prompt = Prompt::from_samples(&with_pause(samples));
            match name {
                "greeting" => prompts.greeting = prompt,
                "queue" => prompts.queue = prompt,
                "survey" => prompts.survey = prompt,
                _ => prompts.thanks = prompt,
            }
        }
        Ok(prompts)
    }
}

/// The longest prompt read: five minutes.
const MAX_SECONDS: usize = 300;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// G.711 µ-law to a 16-bit sample.
fn from_ulaw(byte: u8) -> i16 {
    let byte = !byte;
    let exponent = (byte >> 4) & 0x07;
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if byte & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// G.711 A-law to a 16-bit sample.
fn from_alaw(byte: u8) -> i16 {
    let byte = byte ^ 0x55;
    let exponent = (byte >> 4) & 0x07;
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    if byte & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// A WAV file's audio as 8 kHz mono 16-bit samples.
pub fn wav_samples(bytes: &[u8]) -> Result<Vec<i16>, String> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err("not a RIFF WAVE file".into());
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).ok_or("truncated chunk")? as usize;
        let body = bytes
            .get(at + 8..(at + 8).saturating_add(size))
            .ok_or("a chunk runs past the end of the file")?;
        match id {
            b"fmt " => {
                let tag = u16_at(body, 0).ok_or("short fmt chunk")?;
                let channels = u16_at(body, 2).ok_or("short fmt chunk")?;
                let rate = u32_at(body, 4).ok_or("short fmt chunk")?;
                let bits = u16_at(body, 14).ok_or("short fmt chunk")?;
                format = Some((tag, channels, rate, bits));
            }
            b"data" => data = Some(body),
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    let (tag, channels, rate, bits) = format.ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    if channels == 0 || channels > 2 {
        return Err(format!("{channels} channels (1 or 2 are read)"));
    }
    if !(8_000..=96_000).contains(&rate) {
        return Err(format!(
            "a sample rate of {rate} Hz (8000 to 96000 are read)"
        ));
    }
    let channels = usize::from(channels);
    let frames: Vec<i16> = match (tag, bits) {
        (1, 16) => data
            .chunks_exact(2 * channels)
            .map(|frame| {
                let sum: i32 = frame
                    .chunks_exact(2)
                    .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                    .sum();
                (sum / channels as i32) as i16
            })
            .collect(),
        (6, 8) | (7, 8) if rate == 8_000 => {
            let decode = if tag == 7 { from_ulaw } else { from_alaw };
            data.chunks_exact(channels)
                .map(|frame| {
                    let sum: i32 = frame.iter().map(|b| i32::from(decode(*b))).sum();
                    (sum / channels as i32) as i16
                })
                .collect()
        }
        _ => {
            return Err(format!(
                "format {tag} with {bits} bits (16-bit PCM, or 8 kHz G.711, are read)"
            ));
        }
    };
    if frames.is_empty() {
        return Err("no audio".into());
    }
    if frames.len() / rate as usize > MAX_SECONDS {
        return Err(format!("longer than {MAX_SECONDS} seconds"));
    }
    Ok(resample(&frames, rate))
}

/// To 8 kHz: each output sample averages the input samples of its span (a
/// box filter against aliasing), interpolated at the span's edges.
fn resample(samples: &[i16], rate: u32) -> Vec<i16> {
    if rate == 8_000 {
        return samples.to_vec();
    }
    let step = f64::from(rate) / 8_000.0;
    let count = (samples.len() as f64 / step).floor() as usize;
    (0..count)
        .map(|n| {
            let start = n as f64 * step;
            let end = (start + step).min(samples.len() as f64);
            let (first, last) = (
                start.floor() as usize,
                (end.ceil() as usize).min(samples.len()),
            );
            let span = &samples[first..last.max(first + 1).min(samples.len())];
            let sum: i64 = span.iter().map(|s| i64::from(*s)).sum();
            (sum / span.len().max(1) as i64) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn pcm_at_any_rate_becomes_8_khz_mono() {
        // One second at 16 kHz, stereo: left 1000, right 3000.
        let mut data = Vec::new();
        for _ in 0..16_000 {
            data.extend_from_slice(&1000i16.to_le_bytes());
            data.extend_from_slice(&3000i16.to_le_bytes());
        }
        let samples = wav_samples(&wav(1, 2, 16_000, 16, &data)).expect("reads");
        assert_eq!(samples.len(), 8_000);
        assert!(samples.iter().all(|s| *s == 2000));
        // 22,050 Hz (espeak-ng's rate): 2.0 s stays 2.0 s.
        let data: Vec<u8> = (0..44_100).flat_map(|_| 500i16.to_le_bytes()).collect();
        let samples = wav_samples(&wav(1, 1, 22_050, 16, &data)).expect("reads");
        assert_eq!(samples.len(), 16_000);
    }

    #[test]
    fn g711_files_decode_and_round_trip() {
        let values = [0i16, 1000, -1000, 8000, -8000, 30_000];
        let data: Vec<u8> = values.iter().map(|v| ulaw(*v)).collect();
        let samples = wav_samples(&wav(7, 1, 8_000, 8, &data)).expect("µ-law");
        for (v, s) in values.iter().zip(&samples) {
            assert!(
                (i32::from(*v) - i32::from(*s)).abs() <= i32::from(*v).abs() / 16 + 8,
                "{v} {s}"
            );
        }
        let data: Vec<u8> = values.iter().map(|v| alaw(*v)).collect();
        let samples = wav_samples(&wav(6, 1, 8_000, 8, &data)).expect("A-law");
        for (v, s) in values.iter().zip(&samples) {
            assert!(
                (i32::from(*v) - i32::from(*s)).abs() <= i32::from(*v).abs() / 16 + 16,
                "{v} {s}"
            );
        }
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(wav_samples(b"").is_err());
        assert!(wav_samples(b"RIFF\x00\x00\x00\x00WAVE").is_err());
        assert!(wav_samples(&wav(1, 1, 8_000, 8, &[0; 10])).is_err());
        assert!(wav_samples(&wav(1, 3, 8_000, 16, &[0; 12])).is_err());
        assert!(wav_samples(&wav(7, 1, 16_000, 8, &[0; 12])).is_err());
        assert!(wav_samples(&wav(1, 1, 4_000, 16, &[0; 12])).is_err());
        let mut truncated = wav(1, 1, 8_000, 16, &[0; 100]);
        truncated.truncate(60);
        assert!(wav_samples(&truncated).is_err());
        assert!(wav_samples(&wav(1, 1, 8_000, 16, &[])).is_err());
    }

    #[test]
    fn the_shipped_prompts_are_speech_of_a_few_seconds() {
        let prompts = Prompts::default();
        for prompt in [
            &prompts.greeting,
            &prompts.queue,
            &prompts.survey,
            &prompts.thanks,
        ] {
            let millis = prompt.millis();
            assert!((1_500..=15_000).contains(&millis), "{millis} ms");
            // Not silence: a good share of the samples carry sound.
            let loud = prompt
                .audio(0)
                .iter()
                .filter(|b| **b & 0x70 != 0x70)
                .count();
            assert!(loud > prompt.audio(0).len() / 10, "{loud}");
        }
    }

    #[test]
    fn a_folder_replaces_only_the_prompts_it_has() {
        let dir = tempfile::tempdir().expect("dir");
        let data: Vec<u8> = (0..16_000).flat_map(|_| 700i16.to_le_bytes()).collect();
        std::fs::write(dir.path().join("queue.wav"), wav(1, 1, 8_000, 16, &data)).expect("write");
        let prompts = Prompts::from_dir(dir.path()).expect("loads");
        assert_eq!(prompts.queue.millis(), 3_000, "two seconds and the pause");
        assert_eq!(
            prompts.greeting.millis(),
            Prompts::default().greeting.millis()
        );
        std::fs::write(dir.path().join("thanks.wav"), b"not a wav").expect("write");
        let error = Prompts::from_dir(dir.path()).expect_err("refused");
        assert!(error.contains("thanks.wav"), "{error}");
        assert!(Prompts::from_dir(&dir.path().join("none")).is_err());
    }
}
