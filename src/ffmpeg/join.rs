//! Joining segments: the H.264 packets of MP4 segments (each a range of a video's frames,
//! encoded with the same settings, starting with a keyframe) copied into one MP4 without
//! re-encoding, every packet restamped from its frame number, and the soundtrack encoded
//! once beside them, interleaved as a single render interleaves it.

use super::encode::{temp_path, write_error, AudioOut, AudioSettings, PendingFile, SAMPLE_RATE};
use super::input::{open_input, Probe};
use crate::error::{Error, Result};
use crate::time::Fps;
use ffmpeg_next as ff;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Joins segments, in order, into one MP4 under a temporary name.
pub(crate) struct Joiner {
    octx: ff::format::context::Output,
    /// The first segment's codec parameters (SPS/PPS): every segment must match them.
    extradata: Vec<u8>,
    size: (u32, u32),
    st_tb: ff::Rational,
    fps: Fps,
    audio: Option<AudioOut>,
    /// The frame the next segment must start at.
    next_frame: u64,
    /// Packets written (decoding order).
    packets: i64,
    /// How many frames decoding runs ahead of presentation: the largest of any segment's
    /// (a segment of one frame has none, libx264's B-frames give two).
    delay: i64,
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

fn bad(segment: &Path, why: impl std::fmt::Display) -> Error {
    Error::Encode(format!("segment {}: {why}; nothing was stitched", segment.display()))
}

/// A segment's video stream: its input, stream index, time base and parameters.
fn open_segment(path: &Path) -> Result<(ff::format::context::Input, usize)> {
    open_input(path, Probe::Whole).map_err(|e| bad(path, e.to_string()))
}

fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: reading the parameters' own extradata pointer and size.
    unsafe {
        let p = params.as_ptr();
        if (*p).extradata.is_null() || (*p).extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
        }
    }
}

impl Joiner {
    /// Opens the muxer for `target`, its video stream described by `first` (the first
    /// segment), and the soundtrack's encoder when there is one.
    /// `delay` is the largest [`decode_delay`] of the segments.
    pub(crate) fn create(
        target: &Path,
        first: &Path,
        fps: Fps,
        delay: i64,
        audio: Option<&AudioSettings>,
    ) -> Result<Joiner> {
        super::init()?;
        let (ictx, index) = open_segment(first)?;
        let stream = ictx.stream(index).ok_or_else(|| bad(first, "no video stream"))?;
        let params = stream.parameters();
        if params.id() != ff::codec::Id::H264 {
            return Err(bad(first, format!("expected H.264, found {:?}", params.id())));
        }
        // SAFETY: plain fields of the stream's parameters.
        let size = unsafe { ((*params.as_ptr()).width as u32, (*params.as_ptr()).height as u32) };
        let tmp = temp_path(target);
        let mut octx = ff::format::output_as(&tmp, "mp4").map_err(|e| match std::fs::File::create(&tmp) {
            Err(io) => Error::io(&tmp, io),
            Ok(_) => {
                let _ = std::fs::remove_file(&tmp);
                Error::Encode(format!("opening the MP4 muxer: {e}"))
            }
        })?;
        let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
        let mut ost = octx
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| Error::Encode(format!("adding the video stream: {e}")))?;
        ost.set_parameters(params.clone());
        ost.set_avg_frame_rate(ff::Rational(fps.num as i32, fps.den as i32));
        // SAFETY: a plain field of the new stream's parameters: let the muxer pick the tag.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        }
        let extradata = extradata(&params);
        drop(ictx);
        let mut audio = match audio {
            Some(a) => Some(super::encode::Mp4Writer::add_audio(&mut octx, a, global_header)?),
            None => None,
        };
        let mut mux_opts = ff::Dictionary::new();
        mux_opts.set("movflags", "+faststart");
        octx.write_header_with(mux_opts).map_err(|e| Error::Encode(format!("writing the MP4 header: {e}")))?;
        let st_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(ff::Rational(fps.den as i32, fps.num as i32));
        if let Some(a) = audio.as_mut() {
            a.set_stream_time_base(octx.stream(1).map(|s| s.time_base()));
        }
        Ok(Joiner {
            octx,
            extradata,
            size,
            st_tb,
            fps,
            audio,
            next_frame: 0,
            packets: 0,
            delay,
            tmp,
            target: target.to_path_buf(),
            done: false,
        })
    }

    /// The picture size of the segments.
    pub(crate) fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Copies `segment`, which must hold exactly the frames `frames` (the next ones), each
    /// packet stamped with its frame's time; the soundtrack is encoded up to the same time.
    /// `tag` is what the segment must say of itself (its `comment`).
    pub(crate) fn append(&mut self, segment: &Path, frames: Range<u64>, tag: &str) -> Result<()> {
        if frames.start != self.next_frame {
            return Err(bad(segment, format!("starts at frame {}, expected {}", frames.start, self.next_frame)));
        }
        let (mut ictx, index) = open_segment(segment)?;
        let says = ictx.metadata().get("comment").unwrap_or("nothing").to_string();
        if says != tag {
            return Err(bad(segment, format!("expected {tag:?}; the file says {says:?}")));
        }
        let (tb, start) = {
            let stream = ictx.stream(index).ok_or_else(|| bad(segment, "no video stream"))?;
            let params = stream.parameters();
            if extradata(&params) != self.extradata {
                return Err(bad(segment, "encoded with other settings than the first segment (its SPS/PPS differ)"));
            }
            // SAFETY: plain fields of the stream's parameters.
            let size = unsafe { ((*params.as_ptr()).width as u32, (*params.as_ptr()).height as u32) };
            if size != self.size {
                return Err(bad(segment, format!("is {}x{}, expected {}x{}", size.0, size.1, self.size.0, self.size.1)));
            }
            let st = stream.start_time();
            (f64::from(stream.time_base()), if st == ff::ffi::AV_NOPTS_VALUE { 0 } else { st })
        };
        let len = (frames.end - frames.start) as i64;
        let fps = self.fps.as_f64();
        // A time in the segment's stream, as a frame number counted from its first frame.
        let frame_of = |t: i64| ((t - start) as f64 * tb * fps).round() as i64;
        let mut seen = vec![false; len as usize];
        let mut count = 0i64;
        let enc_tb = ff::Rational(self.fps.den as i32, self.fps.num as i32);
        let mut first = true;
        for (stream, mut pkt) in ictx.packets() {
            if stream.index() != index {
                continue;
            }
            let Some(pts) = pkt.pts() else { return Err(bad(segment, "a packet without a time")) };
            let i = frame_of(pts);
            if !(0..len).contains(&i) || std::mem::replace(&mut seen[i as usize], true) {
                return Err(bad(segment, format!("holds frame {i} outside 0..{len} or twice")));
            }
            if first && !pkt.is_key() {
                return Err(bad(segment, "does not start with a keyframe"));
            }
            first = false;
            // Decoding times run on through the seams: one frame apart, `delay` frames
            // before the presentation times. A packet shown before it could be decoded is
            // a segment with more delay than measured.
            let pts = frames.start as i64 + i;
            let dts = self.packets - self.delay;
            if dts > pts {
                return Err(bad(segment, "its frames are reordered further than the other segments'"));
            }
            self.packets += 1;
            pkt.set_stream(0);
            pkt.set_pts(Some(pts));
            pkt.set_dts(Some(dts));
            pkt.set_duration(1);
            pkt.set_position(-1);
            pkt.rescale_ts(enc_tb, self.st_tb);
            pkt.write_interleaved(&mut self.octx).map_err(|e| write_error(&self.target, "writing a packet", e))?;
            count += 1;
            // Keep the audio level with the video so the muxer interleaves closely.
            if let Some(a) = self.audio.as_mut() {
                let until = self.fps.sample_at((pts + 1).max(0) as u64, SAMPLE_RATE) as usize;
                a.encode(&mut self.octx, &self.target, until, false)?;
            }
        }
        if count != len {
            return Err(bad(segment, format!("holds {count} frames, expected {len}")));
        }
        self.next_frame = frames.end;
        Ok(())
    }

    /// The frames joined so far.
    pub(crate) fn frames(&self) -> u64 {
        self.next_frame
    }

    /// Encodes the rest of the soundtrack and writes the trailer, under the temporary name.
    pub(crate) fn finish_pending(mut self) -> Result<PendingFile> {
        if let Some(a) = self.audio.as_mut() {
            a.finish(&mut self.octx, &self.target)?;
        }
        self.octx.write_trailer().map_err(|e| write_error(&self.target, "writing the MP4 trailer", e))?;
        self.done = true;
        Ok(PendingFile::adopt(self.tmp.clone(), self.target.clone()))
    }
}

/// What a segment says of itself (its MP4 `comment`; empty when it says nothing).
pub(crate) fn segment_comment(segment: &Path) -> Result<String> {
    let (ictx, _) = open_segment(segment)?;
    Ok(ictx.metadata().get("comment").unwrap_or_default().to_string())
}

/// How many frames a segment's decoding runs ahead of its presentation: minus its first
/// packet's decoding time, in frames (libx264's B-frames give 2; a segment of one frame 0).
pub(crate) fn decode_delay(segment: &Path, fps: Fps) -> Result<i64> {
    let (mut ictx, index) = open_segment(segment)?;
    let stream = ictx.stream(index).ok_or_else(|| bad(segment, "no video stream"))?;
    let tb = f64::from(stream.time_base());
    let start = match stream.start_time() {
        ff::ffi::AV_NOPTS_VALUE => 0,
        t => t,
    };
    for (stream, pkt) in ictx.packets() {
        if stream.index() == index {
            let dts = pkt.dts().unwrap_or(start);
            return Ok((-((dts - start) as f64 * tb * fps.as_f64()).round() as i64).max(0));
        }
    }
    Err(bad(segment, "holds no frame"))
}

impl Drop for Joiner {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
