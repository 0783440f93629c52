//! One soundtrack mixed once for several outputs: the main output, the web copy and the
//! preview encode the same samples, so the mix runs once and each output's stream reads
//! from a window of it.

use crate::encode::{SoundStream, Soundtrack};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// How far (values, interleaved stereo) the fastest stream may run ahead of the slowest
/// before it waits: 10 s at 48 kHz, 3.8 MB. The outputs of a render take frames in step
/// (a batch apart at most), so the window stays far smaller than that; the bound keeps it
/// so whatever the readers do.
const AHEAD: usize = 10 * 48_000 * 2;

/// Values pulled from the mix at a time.
const PULL: usize = 4800;

/// A soundtrack whose streams share one run of `inner`: samples are mixed once and kept
/// until every stream has read them. Each stream must be read on a thread of its own
/// (a stream [`AHEAD`] of the slowest waits for it). A stream asked for after the first
/// samples were let go runs `inner` on its own.
#[derive(Debug)]
pub struct SharedMix {
    inner: Arc<dyn Soundtrack>,
    state: Arc<(Mutex<State>, Condvar)>,
}

struct State {
    source: Option<Box<dyn SoundStream>>,
    /// The mixed values not yet read by every stream; `base` is the index of the first.
    buf: VecDeque<f32>,
    base: usize,
    /// Each stream's position (values); `None` once it is dropped.
    readers: Vec<Option<usize>>,
    ended: bool,
    error: Option<(PathBuf, String)>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("base", &self.base).field("held", &self.buf.len()).finish()
    }
}

impl SharedMix {
    /// Shares `inner` between the streams asked for.
    pub fn new(inner: Arc<dyn Soundtrack>) -> SharedMix {
        let state = State {
            source: None,
            buf: VecDeque::new(),
            base: 0,
            readers: Vec::new(),
            ended: false,
            error: None,
        };
        SharedMix { inner, state: Arc::new((Mutex::new(state), Condvar::new())) }
    }
}

impl Soundtrack for SharedMix {
    fn frames(&self) -> usize {
        self.inner.frames()
    }

    fn stream(&self) -> Box<dyn SoundStream> {
        let Ok(mut s) = self.state.0.lock() else { return self.inner.stream() };
        if s.base > 0 {
            return self.inner.stream();
        }
        if s.source.is_none() {
            s.source = Some(self.inner.stream());
        }
        s.readers.push(Some(0));
        Box::new(Reader { state: self.state.clone(), id: s.readers.len() - 1, error: None })
    }
}

struct Reader {
    state: Arc<(Mutex<State>, Condvar)>,
    id: usize,
    error: Option<(PathBuf, String)>,
}

impl State {
    fn slowest(&self) -> usize {
        self.readers.iter().flatten().copied().min().unwrap_or(self.base)
    }
}

impl SoundStream for Reader {
    fn read(&mut self, out: &mut [f32]) -> usize {
        let (lock, wake) = &*self.state;
        let Ok(mut s) = lock.lock() else { return 0 };
        let Some(pos) = s.readers.get(self.id).copied().flatten() else { return 0 };
        let want = pos + out.len();
        // Too far ahead of the slowest stream: wait for it to read on.
        while want > s.slowest() + AHEAD + out.len() && !s.ended {
            s = match wake.wait(s) {
                Ok(g) => g,
                Err(_) => return 0,
            };
        }
        let s_ref = &mut *s;
        while s_ref.base + s_ref.buf.len() < want && !s_ref.ended {
            let mut chunk = [0f32; PULL];
            let Some(source) = s_ref.source.as_mut() else { break };
            let n = source.read(&mut chunk);
            // A file that failed while streaming is told to every stream as soon as it is
            // seen (the mix goes on with silence; the writers stop on the error).
            if s_ref.error.is_none() {
                s_ref.error = source.error().map(|(p, why)| (p.to_path_buf(), why.to_string()));
            }
            if n < PULL {
                s_ref.ended = true;
            }
            s_ref.buf.extend(&chunk[..n]);
        }
        let start = pos - s.base;
        let n = out.len().min(s.buf.len().saturating_sub(start));
        for (o, v) in out[..n].iter_mut().zip(s.buf.range(start..start + n)) {
            *o = *v;
        }
        s.readers[self.id] = Some(pos + n);
        self.error = s.error.clone();
        // Let go of what every stream has read, and wake a stream waiting for this one.
        let slowest = s.slowest();
        let done = slowest.saturating_sub(s.base).min(s.buf.len());
        s.buf.drain(..done);
        s.base += done;
        wake.notify_all();
        n
    }

    fn error(&self) -> Option<(&Path, &str)> {
        self.error.as_ref().map(|(p, why)| (p.as_path(), why.as_str()))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        if let Ok(mut s) = lock.lock() {
            if let Some(r) = s.readers.get_mut(self.id) {
                *r = None;
            }
            let slowest = s.slowest();
            if slowest > s.base {
                let done = (slowest - s.base).min(s.buf.len());
                s.buf.drain(..done);
                s.base += done;
            }
        }
        wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A soundtrack of `n` values counting up, in a stream that counts its reads.
    #[derive(Debug)]
    struct Count(usize, Arc<std::sync::atomic::AtomicUsize>);
    struct CountStream(usize, usize, Arc<std::sync::atomic::AtomicUsize>);
    impl Soundtrack for Count {
        fn frames(&self) -> usize {
            self.0 / 2
        }
        fn stream(&self) -> Box<dyn SoundStream> {
            Box::new(CountStream(0, self.0, self.1.clone()))
        }
    }
    impl SoundStream for CountStream {
        fn read(&mut self, out: &mut [f32]) -> usize {
            let n = out.len().min(self.1 - self.0);
            for (i, o) in out[..n].iter_mut().enumerate() {
                *o = (self.0 + i) as f32;
            }
            self.0 += n;
            self.2.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            n
        }
        fn error(&self) -> Option<(&Path, &str)> {
            None
        }
    }

    #[test]
    fn three_streams_read_one_mix_on_their_own_threads() {
        let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let total = 3 * AHEAD + 1234;
        let shared = SharedMix::new(Arc::new(Count(total, pulled.clone())));
        let streams: Vec<_> = (0..3).map(|_| shared.stream()).collect();
        std::thread::scope(|scope| {
            for (k, mut s) in streams.into_iter().enumerate() {
                scope.spawn(move || {
                    let mut out = vec![0f32; 1000 + 700 * k];
                    let mut at = 0;
                    loop {
                        let n = s.read(&mut out);
                        for (i, v) in out[..n].iter().enumerate() {
                            assert_eq!(*v, (at + i) as f32, "stream {k}");
                        }
                        at += n;
                        if n < out.len() {
                            break;
                        }
                    }
                    assert_eq!(at, total, "stream {k} read everything");
                });
            }
        });
        // Mixed once (pulls are whole chunks, so at most one chunk past the end).
        assert!(pulled.load(std::sync::atomic::Ordering::Relaxed) == total);
        // A stream asked for now mixes on its own, from the start.
        let mut late = shared.stream();
        let mut first = [0f32; 4];
        assert_eq!(late.read(&mut first), 4);
        assert_eq!(first, [0.0, 1.0, 2.0, 3.0]);
    }
}
