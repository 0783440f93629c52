//! Assets: resolving storage keys to files safely, and decoding images; video clips are
//! decoded behind the FFmpeg boundary (`crate::ffmpeg`) and re-exported here.

mod clip;
mod image;
mod webp;

pub use self::image::{
    decode_image, decode_image_bytes, decode_image_rgb, decoded_bytes, image_dimensions, read_image_file,
    resize_premultiplied, resize_rgb, DecodedImage, ImageCache, ImageLimits, Original,
};
pub(crate) use self::image::{give_back, resize_rgb_rows, ImageFile};
pub(crate) use self::webp::is_webp;
pub(crate) use crate::ffmpeg::clip_audio::{ClipAudio, Pending};
// Clip decoding is the engine's own (public only for reel's tests: `internals`).
#[cfg(feature = "internals")]
pub use self::clip::{probe_video, ClipDecoder};
#[cfg(not(feature = "internals"))]
pub(crate) use self::clip::{probe_video, ClipDecoder};
#[cfg(feature = "internals")]
pub use crate::ffmpeg::decode::{ClipPicture, YuvPicture};
#[cfg(not(feature = "internals"))]
pub(crate) use crate::ffmpeg::decode::{ClipPicture, YuvPicture};
#[cfg(feature = "internals")]
pub use crate::ffmpeg::input::{container_duration, VideoInfo};
#[cfg(not(feature = "internals"))]
pub(crate) use crate::ffmpeg::input::{container_duration, VideoInfo};

use std::path::{Component, Path, PathBuf};

/// Turns an asset key (`"assets/scene-1/image.png"`) into a readable file.
///
/// Implement it to serve assets from elsewhere (a cache of object storage, say); the engine
/// calls it during planning, never while rendering frames.
///
/// ```
/// use std::{path::PathBuf, sync::Arc};
/// /// Keys are product ids; files live in one flat folder.
/// struct Products(PathBuf);
/// impl reel::AssetResolver for Products {
///     fn resolve(&self, key: &str) -> Result<PathBuf, String> {
///         let id = key.strip_prefix("product:").ok_or("expected product:ID")?;
///         if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
///             return Err("not a product id".into());
///         }
///         Ok(self.0.join(format!("{id}.png")))
///     }
/// }
/// let mut opts = reel::PlanOptions::new("unused");
/// opts.assets = Arc::new(Products("fixtures/demo".into()));
/// ```
pub trait AssetResolver: Send + Sync {
    /// The local file for `key`, or a sentence saying why there is none
    /// (`"not found"`, `"leaves the asset folder"`).
    fn resolve(&self, key: &str) -> Result<PathBuf, String>;
}

/// Serves assets from one folder. Keys are relative: absolute paths, `..` segments,
/// percent-encoded separators or dots, and links that lead out of the folder are refused.
///
/// ```
/// use reel::AssetResolver;
/// let assets = reel::FolderAssets::new("fixtures/demo");
/// assert!(assets.resolve("../../etc/passwd").is_err());
/// assert!(assets.resolve("/etc/passwd").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FolderAssets {
    root: PathBuf,
}

impl FolderAssets {
    /// Assets below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderAssets { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Whether `key` is written as a URL (`scheme://...`).
pub fn is_url(key: &str) -> bool {
    key.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// Why a key that is a URL is refused where URLs are not allowed.
pub(crate) const URL_KEY: &str =
    "an absolute URL: asset keys are relative to the asset source unless URLs are allowed (reel: --allow-remote)";

/// Checks a key's shape (no file system access): `Err` with the reason when it tries to
/// leave the asset folder or cannot name a file.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty asset key".into());
    }
    if is_url(key) {
        return Err(URL_KEY.into());
    }
    if key.contains('\0') {
        return Err("asset key contains a NUL character".into());
    }
    let lower = key.to_ascii_lowercase();
    if lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return Err("percent-encoded dots or separators are not allowed in asset keys".into());
    }
    if key.contains('\\') {
        return Err("backslashes are not allowed in asset keys; use '/'".into());
    }
    let p = Path::new(key);
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err("'..' segments are not allowed: keys stay inside the asset folder".into())
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed: keys are relative to the asset folder".into())
            }
        }
    }
    Ok(())
}

impl AssetResolver for FolderAssets {
    fn resolve(&self, key: &str) -> Result<PathBuf, String> {
        check_key(key)?;
        let path = self.root.join(key);
        let real = match path.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("not found".into()),
            Err(e) => return Err(e.to_string()),
        };
        let root = self.root.canonicalize().map_err(|e| format!("asset folder {}: {e}", self.root.display()))?;
        if !real.starts_with(&root) {
            return Err("resolves (through a link) to a file outside the asset folder".into());
        }
        if !real.is_file() {
            return Err("not a regular file".into());
        }
        Ok(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_leave_are_refused() {
        for bad in ["/etc/passwd", "../x.png", "a/../../x.png", "a/%2e%2e/x.png", "a\\..\\x", ""] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_key("assets/scene-1/image.png").is_ok());
        assert!(check_key("./a.png").is_ok());
    }
}
