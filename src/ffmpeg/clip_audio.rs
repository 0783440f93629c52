//! A clip's own sound, decoded in order by FFmpeg as stereo f32 at its own rate.

use super::input::*;
use ffmpeg_next as ff;
use std::path::Path;

/// A clip's sound decoded in order by FFmpeg (which applies the container's priming and
/// edit lists), as stereo f32 at its own rate: `lead` frames of silence first when the
/// sound starts after the picture.
pub(crate) struct ClipAudio {
    ictx: ff::format::context::Input,
    index: usize,
    dec: ff::decoder::Audio,
    swr: Option<ff::software::resampling::Context>,
    frame: ff::frame::Audio,
    converted: ff::frame::Audio,
    /// The first frame's time in the stream, seconds.
    first_pts: Option<f64>,
    tb: f64,
    lead: usize,
    pending: Pending,
    eof: bool,
}

/// What planning learned of a clip's sound by decoding it once.
pub(crate) struct ClipAudioInfo {
    /// Its sample rate.
    pub rate: u32,
    /// Frames in all at that rate, the lead included.
    pub frames: usize,
    /// Frames of silence before it (it starts after the picture).
    pub lead: usize,
}

impl ClipAudio {
    /// The clip's audio track, None when it has none.
    pub(crate) fn open(path: &Path, lead: usize) -> Result<Option<ClipAudio>, MediaError> {
        // A WebP clip (read by reel, not FFmpeg) has no sound.
        if crate::media::is_webp(path) {
            return Ok(None);
        }
        let mut ictx = open_file(path).map_err(|e| e.in_context("not a readable media file"))?;
        find_stream_info(&mut ictx)?;
        let Some(stream) = ictx.streams().best(ff::media::Type::Audio) else { return Ok(None) };
        let index = stream.index();
        let tb = f64::from(stream.time_base());
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| media_error("reading the clip's audio parameters", e))?;
        let dec = ctx.decoder().audio().map_err(|e| media_error("unsupported audio codec in the clip", e))?;
        if dec.rate() == 0 {
            return Err("the clip's audio has no sample rate".into());
        }
        Ok(Some(ClipAudio {
            ictx,
            index,
            dec,
            swr: None,
            frame: ff::frame::Audio::empty(),
            converted: ff::frame::Audio::empty(),
            first_pts: None,
            tb,
            lead,
            pending: Pending::default(),
            eof: false,
        }))
    }

    /// Decodes the clip's sound once to check it: None when it has none (or none decodes).
    pub(crate) fn probe(path: &Path) -> Result<Option<ClipAudioInfo>, MediaError> {
        let Some(mut a) = Self::open(path, 0)? else { return Ok(None) };
        let rate = a.dec.rate();
        let mut frames = 0usize;
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            let n = a.pull(1 << 16, &mut scratch)?;
            if n == 0 {
                break;
            }
            frames += n;
            if frames as u64 > 4 * 3600 * u64::from(rate) {
                return Err("the clip's audio is longer than 4 h".into());
            }
        }
        if frames == 0 {
            return Ok(None);
        }
        // Clip time 0 is the picture's first frame (see `ClipDecoder::picture_at`): a track
        // that starts after the picture starts late in the mix too.
        let video_start = a.ictx.streams().best(ff::media::Type::Video).map_or(0.0, |v| stream_start(&v));
        let lead = ((a.first_pts.unwrap_or(0.0) - video_start).max(0.0) * rate as f64).round() as usize;
        Ok(Some(ClipAudioInfo { rate, frames: frames + lead, lead }))
    }

    /// Converts the frames the decoder has ready onto `pending`.
    fn receive(&mut self) -> Result<(), String> {
        while self.dec.receive_frame(&mut self.frame).is_ok() {
            if self.first_pts.is_none() {
                self.first_pts = Some(self.frame.pts().unwrap_or(0) as f64 * self.tb);
            }
            let layout = if self.frame.channel_layout().is_empty() {
                ff::ChannelLayout::default(self.frame.channels() as i32)
            } else {
                self.frame.channel_layout()
            };
            if self.swr.is_none() {
                self.swr = Some(
                    ff::software::resampling::Context::get(
                        self.frame.format(),
                        layout,
                        self.frame.rate(),
                        ff::format::Sample::F32(ff::format::sample::Type::Packed),
                        ff::ChannelLayout::STEREO,
                        self.frame.rate(),
                    )
                    .map_err(|e| format!("audio conversion: {e}"))?,
                );
            }
            if let Some(s) = self.swr.as_mut() {
                self.frame.set_channel_layout(layout);
                s.run(&self.frame, &mut self.converted).map_err(|e| format!("audio conversion: {e}"))?;
                let n = self.converted.samples() * 2;
                let bytes = self.converted.data(0);
                let samples = bytes.chunks_exact(4).take(n).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                self.pending.data.extend(samples);
            }
        }
        Ok(())
    }
}

impl ClipAudio {
    /// Appends up to `want` stereo frames to `out` and returns how many; 0 only at the end.
    pub(crate) fn pull(&mut self, want: usize, out: &mut Vec<f32>) -> Result<usize, String> {
        if self.lead > 0 {
            let n = want.min(self.lead);
            out.resize(out.len() + n * 2, 0.0);
            self.lead -= n;
            return Ok(n);
        }
        while self.pending.frames(2) == 0 && !self.eof {
            let next = self.ictx.packets().next().map(|(s, p)| (s.index(), p));
            match next {
                Some((i, packet)) if i == self.index => {
                    let _ = self.dec.send_packet(&packet); // a damaged packet is skipped
                    self.receive()?;
                }
                Some(_) => {}
                None => {
                    let _ = self.dec.send_eof();
                    self.receive()?;
                    self.eof = true;
                }
            }
        }
        Ok(self.pending.give(want, 2, out))
    }
}

/// Samples handed out from the front.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) data: Vec<f32>,
    at: usize,
}

impl Pending {
    /// Frames of `ch` channels left.
    pub(crate) fn frames(&self, ch: usize) -> usize {
        (self.data.len() - self.at) / ch
    }

    /// Moves up to `want` frames to `out`; returns how many.
    pub(crate) fn give(&mut self, want: usize, ch: usize, out: &mut Vec<f32>) -> usize {
        let n = want.min(self.frames(ch));
        out.extend_from_slice(&self.data[self.at..self.at + n * ch]);
        self.at += n * ch;
        if self.at == self.data.len() {
            self.data.clear();
            self.at = 0;
        }
        n
    }
}
