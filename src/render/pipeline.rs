//! The frame pipeline: frames rasterized in parallel (rayon), converted to Y'CbCr on the
//! same workers, handed in order through bounded channels to one encoder thread per
//! output; a decoder thread per clip and the image loader run ahead of the frame loop.

use super::options::{Output, Progress, RenderOptions, Written};
use crate::error::{Error, Result};
use crate::ffmpeg::input::MediaError;
use crate::media::{ClipDecoder, ClipPicture};
use crate::pixels::Yuv420;
use crate::plan::{ClipPlan, Plan};
use crate::raster::{paint_frame, render_frame, resize_planes, ClipFrames, Painted, Scratch};
use crate::timeline::clip_time;
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiny_skia::Pixmap;

/// Lowers the calling thread's scheduling priority (nice +10, Linux). Our raster
/// workers run ahead of the encoder through a bounded queue, so they have slack; libx264's
/// threads (the bottleneck) then get a core first whenever both want one.
pub(super) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; failure leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// What the workers produce for one output frame: YUV for every video output.
pub(super) struct FrameSet {
    pub(super) main: Yuv420,
    pub(super) web: Option<Yuv420>,
    pub(super) preview: Option<Yuv420>,
}

/// Per-worker buffers, reused from frame to frame.
pub(super) struct Worker {
    pub(super) canvas: Pixmap,
    pub(super) scratch: Scratch,
    pub(super) web: Option<Pixmap>,
    pub(super) preview: Option<Pixmap>,
    pub(super) resizer: fast_image_resize::Resizer,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// Output sizes of one render: main, and the web and preview copies when they differ.
#[derive(Clone, Copy)]
pub(super) struct Sizes {
    pub(super) web: Option<(u32, u32)>,
    pub(super) preview: Option<(u32, u32)>,
}

pub(super) fn resize_into(resizer: &mut fast_image_resize::Resizer, src: &Pixmap, dst: &mut Pixmap) {
    use fast_image_resize as fr;
    let (Ok(s), Ok(mut d)) = (
        fr::images::ImageRef::new(src.width(), src.height(), src.data(), fr::PixelType::U8x4),
        fr::images::Image::from_slice_u8(dst.width(), dst.height(), dst.data_mut(), fr::PixelType::U8x4),
    ) else {
        return;
    };
    // Opaque frames: no alpha handling needed. Bilinear-sized convolution is plenty for a
    // downscale of at most 3x and costs a third of Lanczos3.
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)).use_alpha(false);
    let _ = resizer.resize(&s, &mut d, &opts);
}

/// Renders frame `frame` on the calling thread into `set`, reusing that thread's buffers.
/// Returns (raster, convert) nanoseconds; makes the posters when asked (counted as raster).
pub(super) fn render_into(
    plan: &Plan,
    frame: u64,
    set: &mut FrameSet,
    sizes: Sizes,
    clips: ClipFrames,
    poster: Option<&Posters>,
    stop: Option<&Arc<AtomicBool>>,
) -> (u64, u64) {
    WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let fits = matches!(&*slot, Some(w) if w.canvas.width() == plan.width && w.canvas.height() == plan.height
            && w.web.as_ref().map(|p| (p.width(), p.height())) == sizes.web
            && w.preview.as_ref().map(|p| (p.width(), p.height())) == sizes.preview);
        if !fits {
            *slot = Pixmap::new(plan.width, plan.height).map(|canvas| Worker {
                canvas,
                scratch: Scratch::new(plan.width, plan.height),
                web: sizes.web.and_then(|(w, h)| Pixmap::new(w, h)),
                preview: sizes.preview.and_then(|(w, h)| Pixmap::new(w, h)),
                resizer: fast_image_resize::Resizer::new(),
            });
        }
        let Some(w) = slot.as_mut() else { return (0, 0) };
        w.scratch.stop_when(stop.cloned());
        let t0 = Instant::now();
        // Photo and clip frames are composed straight in 4:2:0 (the painter decides). The
        // poster frame too, so the videos are the same bytes with or without posters; the
        // poster is then drawn once more, in RGBA.
        let painted = paint_frame(plan, frame, &mut w.scratch, clips, &mut w.canvas.as_mut(), Some(&mut set.main));
        if painted == Painted::Planes {
            let t1 = Instant::now();
            let copies = [set.web.as_mut(), set.preview.as_mut()];
            if copies.into_iter().flatten().all(|yuv| resize_planes(&set.main, yuv)) {
                let t2 = Instant::now();
                if let Some(p) = poster {
                    render_frame(plan, frame, &mut w.canvas.as_mut(), &mut w.scratch, clips);
                    p.make(&w.canvas);
                }
                return ((t1 - t0 + t2.elapsed()).as_nanos() as u64, (t2 - t1).as_nanos() as u64);
            }
            // The resizer refused (sizes planning never makes): the copies come from RGBA.
            render_frame(plan, frame, &mut w.canvas.as_mut(), &mut w.scratch, clips);
        }
        let t1 = Instant::now();
        set.main.fill_from_rgba(w.canvas.data());
        if let (Some(px), Some(yuv)) = (w.web.as_mut(), set.web.as_mut()) {
            resize_into(&mut w.resizer, &w.canvas, px);
            yuv.fill_from_rgba(px.data());
        }
        if let (Some(px), Some(yuv)) = (w.preview.as_mut(), set.preview.as_mut()) {
            resize_into(&mut w.resizer, &w.canvas, px);
            yuv.fill_from_rgba(px.data());
        }
        let t2 = Instant::now();
        if let Some(p) = poster {
            p.make(&w.canvas);
        }
        ((t1 - t0 + t2.elapsed()).as_nanos() as u64, (t2 - t1).as_nanos() as u64)
    })
}

/// The render's posters, made from the poster frame by the worker that paints it.
pub(super) struct Posters {
    pub(super) quality: u8,
    /// The JPEGs and their sizes, or why they could not be made.
    pub(super) made: Mutex<Option<Result<crate::variants::PosterJpegs>>>,
}

impl Posters {
    fn make(&self, frame: &Pixmap) {
        let jpegs = crate::variants::poster_jpegs(frame, self.quality);
        if let Ok(mut g) = self.made.lock() {
            *g = Some(jpegs);
        }
    }
}

/// What the threads of one render share: the plan and options, the frame the workers have
/// reached, what went wrong, and the time spent per stage.
pub(super) struct Run<'a> {
    pub(super) plan: &'a Plan,
    pub(super) opts: &'a RenderOptions,
    pub(super) start: Instant,
    /// The frames to render: the whole video, or a segment's range.
    pub(super) frames: std::ops::Range<u64>,
    pub(super) sizes: Sizes,
    /// Frames rendered together, and the length of each encoder's queue.
    pub(super) batch: u64,
    pub(super) poster_frame: Option<u64>,
    pub(super) poster: Posters,
    /// The first clip that failed while rendering.
    pub(super) clip_fault: Mutex<Option<Error>>,
    /// The first frame of the batch being rendered.
    pub(super) reached: AtomicU64,
    /// Whether the frame loop is over.
    pub(super) frames_over: AtomicBool,
    /// Frame sets in existence: being painted, queued, being encoded or free.
    pub(super) frame_sets: AtomicUsize,
    pub(super) raster_ns: AtomicU64,
    pub(super) convert_ns: AtomicU64,
    pub(super) encode_ns: AtomicU64,
    pub(super) decode_ns: AtomicU64,
}

impl<'a> Run<'a> {
    pub(super) fn cancelled(&self) -> bool {
        self.opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Streams every frame to the writers: an encoder thread per output, a decoder thread
    /// per clip and the image loader, around the frame loop on this thread. Returns the
    /// writers with their frame counts, or the first encoder's error.
    pub(super) fn stream<'s>(
        &'s self,
        scope: &'s std::thread::Scope<'s, '_>,
        pool: &rayon::ThreadPool,
        writers: Vec<Output>,
    ) -> Result<Vec<Written>> {
        // Frame sets the encoders are done with come back through `free`.
        let (free_tx, free_rx) = crossbeam_channel::unbounded::<FrameSet>();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for output in writers {
            let (tx, rx) = crossbeam_channel::bounded::<Arc<FrameSet>>(self.batch as usize);
            senders.push(tx);
            let free_tx = free_tx.clone();
            handles.push(scope.spawn(move || self.encode(output, rx, free_tx)));
        }
        drop(free_tx);
        let clip_rx: Vec<_> = self
            .plan
            .clips
            .iter()
            .map(|c| {
                let (tx, rx) = crossbeam_channel::bounded(CLIP_QUEUE);
                scope.spawn(move || self.decode_clip(c, tx));
                rx
            })
            .collect();
        if !self.plan.images.is_empty() || !self.plan.texts.is_empty() || self.plan.captions.is_some() {
            scope.spawn(|| self.load());
        }
        self.frame_loop(pool, &senders, &clip_rx, &free_rx);
        self.frames_over.store(true, Ordering::Relaxed);
        drop(senders);
        drop(clip_rx);
        let mut out = Vec::new();
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(w)) => out.push(w),
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(_) => first_err = first_err.or(Some(Error::Encode("an encoder thread panicked".into()))),
            }
        }
        match first_err {
            Some(e) => Err(e), // dropping the writers removes their temporary files
            None => Ok(out),
        }
    }

    /// An encoder thread: takes each shared frame set in order, encodes its own picture, and
    /// returns the set's buffers to the free list when it is the last to let go.
    fn encode(
        &self,
        (kind, path, mut writer): Output,
        rx: crossbeam_channel::Receiver<Arc<FrameSet>>,
        free_tx: crossbeam_channel::Sender<FrameSet>,
    ) -> Result<Written> {
        let mut n = 0;
        let pick: fn(&FrameSet) -> &Yuv420 = match kind {
            "web" => |s| s.web.as_ref().unwrap_or(&s.main),
            "preview" => |s| s.preview.as_ref().unwrap_or(&s.main),
            _ => |s| &s.main,
        };
        for set in rx {
            let t = Instant::now();
            writer.write_shared(&set, pick)?;
            self.encode_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            n += 1;
            if let (Some(p), "main") = (&self.opts.progress, kind) {
                let frames_total = self.frames.end - self.frames.start;
                p(Progress { frames_done: n, frames_total, elapsed: self.start.elapsed() });
            }
            // Exactly one of the encoders letting go of a set at once gets it back. Two
            // batches' worth are kept for reuse: one painted while the one before is
            // queued. When the encoders lag, one more is made and let go when it comes
            // back, instead of being kept for the rest of the render (W1's peak 3 MB lower).
            if let Some(set) = Arc::into_inner(set) {
                if self.frame_sets.load(Ordering::Relaxed) > 2 * self.batch as usize {
                    self.frame_sets.fetch_sub(1, Ordering::Relaxed);
                } else {
                    let _ = free_tx.send(set);
                }
            }
        }
        Ok((kind, path, writer, n))
    }

    /// A clip's decoder thread, running ahead of the rasterizer: it sends the picture of
    /// every output frame where the clip is visible, in order.
    fn decode_clip(&self, c: &ClipPlan, tx: crossbeam_channel::Sender<Option<ClipPicture>>) {
        let (plan, range) = (self.plan, self.frames.clone());
        // A clip that fails mid-render stops the render with the asset and the time:
        // dropping `tx` ends the channel, the frame loop sees the fault.
        let fail = |file_t: Option<f64>, frame: u64, what: MediaError| {
            let at = file_t.map(|t| format!(" at {t:.3} s into the file")).unwrap_or_default();
            let found =
                format!("{at} (found while rendering output frame {frame}); the render stopped and wrote nothing");
            let e = what.followed_by(&found);
            if let Ok(mut g) = self.clip_fault.lock() {
                g.get_or_insert(e.into_error(format!("{}.asset", c.path_json), &format!("asset {:?}: ", c.key)));
            }
        };
        // Open the decoder shortly before the clip is first seen and drop it after its last
        // frame: only the clips around the current frame hold decoders and queued pictures
        // (W3 opened six 4K/60 fps decoders at once).
        let Some(first) = range.clone().find(|&f| clip_time(plan, c, f).is_some()) else { return };
        let last = (first..range.end).rev().find(|&f| clip_time(plan, c, f).is_some()).unwrap_or(first);
        let lead = plan.fps.frames_for_seconds(2.0) + 2 * self.batch;
        while self.reached.load(Ordering::Relaxed) + lead < first {
            if self.frames_over.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut dec = match ClipDecoder::open_yuv(&c.path, c.out.0, c.out.1) {
            Ok(d) => d,
            Err(why) => return fail(None, first, why),
        };
        for f in first..=last {
            if let Some(t) = clip_time(plan, c, f) {
                let t0 = Instant::now();
                let pic = dec.picture_at(t);
                self.decode_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                if let Some((at, what)) = dec.fault.take() {
                    return fail(Some(at), f, what);
                }
                if tx.send(pic).is_err() {
                    return; // the render stopped
                }
            }
        }
    }

    /// The loader: image pixels and the rasters of texts and caption lines are made a
    /// little before the first frame that shows them and released after the last, so a
    /// render holds the images and texts around the current frame only.
    fn load(&self) {
        let plan = self.plan;
        let lead = plan.fps.frames_for_seconds(1.0) + 2 * self.batch;
        let last = plan.timeline_end.saturating_sub(1);
        loop {
            let over = self.frames_over.load(Ordering::Relaxed);
            // Past the timeline's end the last frame holds (policy `pad`).
            let from = self.reached.load(Ordering::Relaxed).min(last);
            let to = (from + lead).min(last) + 1;
            let near = |spans: &[(u64, u64)]| !over && spans.iter().any(|&(a, b)| a < to && from < b);
            for u in &plan.images {
                keep(u.source.as_ref(), near(&u.spans));
            }
            for u in &plan.texts {
                keep(&u.text.raster, near(&u.spans));
            }
            for line in plan.captions.iter().flat_map(|c| &c.lines) {
                keep(&line.ink, near(&[(line.start, line.end)]));
            }
            if over {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Renders the frames a batch at a time on the workers and hands each batch, in order,
    /// to every encoder; stops early when cancelled, when a clip fails or an encoder stops.
    fn frame_loop(
        &self,
        pool: &rayon::ThreadPool,
        senders: &[crossbeam_channel::Sender<Arc<FrameSet>>],
        clip_rx: &[crossbeam_channel::Receiver<Option<ClipPicture>>],
        free_rx: &crossbeam_channel::Receiver<FrameSet>,
    ) {
        let (plan, sizes) = (self.plan, self.sizes);
        let new_set = || {
            self.frame_sets.fetch_add(1, Ordering::Relaxed);
            FrameSet {
                main: Yuv420::new(plan.width, plan.height),
                web: sizes.web.map(|(w, h)| Yuv420::new(w, h)),
                preview: sizes.preview.map(|(w, h)| Yuv420::new(w, h)),
            }
        };
        let mut next = self.frames.start;
        while next < self.frames.end && !self.cancelled() {
            let end = (next + self.batch).min(self.frames.end);
            self.reached.store(next, Ordering::Relaxed);
            let inputs: Vec<Vec<Option<ClipPicture>>> = (next..end)
                .map(|f| {
                    plan.clips
                        .iter()
                        .zip(clip_rx)
                        .map(|(c, rx)| clip_time(plan, c, f).and_then(|_| rx.recv().ok().flatten()))
                        .collect()
                })
                .collect();
            if self.clip_fault.lock().map(|g| g.is_some()).unwrap_or(true)
                || plan.images.iter().any(|u| u.source.fault().is_some())
            {
                return; // reported by `render`
            }
            let sets: Vec<FrameSet> = pool.install(|| {
                (next..end)
                    .into_par_iter()
                    .map(|i| {
                        let mut set = free_rx.try_recv().unwrap_or_else(|_| new_set());
                        let want_poster = (self.poster_frame == Some(i)).then_some(&self.poster);
                        let clips = &inputs[(i - next) as usize];
                        let stop = self.opts.cancel.as_ref();
                        let (r, c) = render_into(plan, i, &mut set, sizes, clips, want_poster, stop);
                        self.raster_ns.fetch_add(r, Ordering::Relaxed);
                        self.convert_ns.fetch_add(c, Ordering::Relaxed);
                        set
                    })
                    .collect()
            });
            // The last encoder is handed this loop's own reference, so the set's buffers
            // come back to the free list from whichever encoder lets go last (a reference
            // kept here until after the sends left some sets to be freed and made anew:
            // 66 sets made in 3,600 frames of W1 looped, where 5 are in use at most).
            let Some((last, others)) = senders.split_last() else { return };
            for set in sets {
                let set = Arc::new(set);
                for tx in others {
                    if tx.send(set.clone()).is_err() {
                        return; // an encoder stopped: its error is reported by `stream`
                    }
                }
                if last.send(set).is_err() {
                    return;
                }
            }
            next = end;
        }
    }
}

/// What the loader holds in memory only near the frames that show it.
trait Resident {
    fn is_loaded(&self) -> bool;
    fn load(&self);
    fn release(&self);
}

impl Resident for crate::plan::ImageSource {
    fn is_loaded(&self) -> bool {
        crate::plan::ImageSource::is_loaded(self)
    }

    fn load(&self) {
        // Opaque images are drawn from 4:2:0 planes where they cover the frame (photo
        // backgrounds): make those here, off the workers.
        if self.planes().is_none() {
            let _ = self.pixmap();
        }
    }

    fn release(&self) {
        crate::plan::ImageSource::release(self)
    }
}

impl Resident for crate::text::TextRasters {
    fn is_loaded(&self) -> bool {
        crate::text::TextRasters::is_loaded(self)
    }

    fn load(&self) {
        self.get();
    }

    fn release(&self) {
        crate::text::TextRasters::release(self)
    }
}

/// Loads `item` when it is wanted `soon`, lets it go when not.
fn keep(item: &dyn Resident, soon: bool) {
    if soon && !item.is_loaded() {
        item.load();
    } else if !soon && item.is_loaded() {
        item.release();
    }
}

/// Pictures a clip decoder may have ready beyond the batch being rendered. Each is a
/// decoded frame at its drawn size (8 MB at 1080p); the decoder's own frame threads keep
/// it ahead, so a short queue costs no speed (measured on W1 and W3).
pub(super) const CLIP_QUEUE: usize = 2;
