//! Reading a composition (a file or standard input), its merge data, and planning it.

use crate::args::InputArgs;
use crate::Failure;
use reel::fetch::{AssetCache, AssetSource, Fetched, Fetcher, HttpSource, NetPolicy, S3Source, Sources};
use reel::{MergeData, Plan, PlanOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A composition read from its file or standard input, not yet parsed.
pub struct Source {
    /// The text.
    pub text: String,
    /// The file stem outputs are named after (`None` for standard input).
    pub stem: Option<String>,
    /// The folder asset keys are resolved in (when they are not fetched).
    pub assets: PathBuf,
    /// Where assets are fetched from, when they are: before planning, into the cache.
    pub fetch: Option<(Sources, PathBuf, u64)>,
}

/// The cap of the tool's asset cache.
const CACHE_BYTES: u64 = 10 << 30;

impl Source {
    /// Reads the composition named by the arguments; its size is checked before reading.
    pub fn read(args: &InputArgs) -> Result<Source, Failure> {
        let from_stdin = args.composition.as_os_str() == "-";
        let text = if from_stdin {
            let mut bytes = Vec::new();
            let limit = reel::model::MAX_JSON_BYTES as u64 + 1;
            std::io::stdin()
                .lock()
                .take(limit)
                .read_to_end(&mut bytes)
                .map_err(|e| reel::Error::Io { path: "<stdin>".into(), source: e })?;
            reel::model::text_from_bytes(bytes)?
        } else {
            reel::model::read_text(&args.composition).map_err(|e| match e {
                reel::Error::Io { path, source } => {
                    Failure::Usage(format!("cannot read the composition {}: {source}", path.display()))
                }
                other => other.into(),
            })?
        };
        let stem =
            (!from_stdin).then(|| args.composition.file_stem().map(|s| s.to_string_lossy().into_owned())).flatten();
        let policy = NetPolicy { allow_private: args.allow_private };
        let given = args.assets.as_deref().unwrap_or("");
        let wait = std::time::Duration::from_secs(args.fetch_timeout);
        let timeouts = reel::fetch::Timeouts { connect: wait.min(std::time::Duration::from_secs(10)), idle: wait };
        let usage = |e: reel::Error| match e {
            reel::Error::Option { message, .. } => Failure::Usage(format!("--assets: {message}")),
            e => Failure::Usage(format!("--assets {given}: {e}")),
        };
        let remote: Option<Arc<dyn AssetSource>> = if given.starts_with("s3://") {
            Some(Arc::new(S3Source::new(given, policy).map_err(usage)?))
        } else if reel::fetch::is_url(given) {
            Some(Arc::new(HttpSource::new(given, policy).and_then(|h| h.with_timeouts(timeouts)).map_err(usage)?))
        } else {
            None
        };
        let assets = match &args.assets {
            _ if remote.is_some() => PathBuf::from("."),
            Some(dir) => PathBuf::from(dir),
            None if from_stdin => PathBuf::from("."),
            None => match args.composition.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        if remote.is_none() && !assets.is_dir() {
            return Err(Failure::Usage(format!("--assets: {} is not a folder", assets.display())));
        }
        let fetch = if remote.is_some() || args.allow_remote {
            let base = remote.unwrap_or_else(|| Arc::new(reel::FolderAssets::new(&assets)));
            let mut sources = Sources::new(base);
            if args.allow_remote {
                sources =
                    sources.allow_urls(policy, timeouts).map_err(|e| Failure::Usage(format!("--allow-remote: {e}")))?;
            }
            Some((sources, cache_dir(args)?, args.max_asset_bytes))
        } else {
            None
        };
        Ok(Source { text, stem, assets, fetch })
    }
}

/// The merge data of `--data` and `--set` (`--set` wins).
pub fn merge_data(args: &InputArgs) -> Result<MergeData, Failure> {
    let mut data = data_file(args)?;
    for (name, value) in &args.set {
        data.set(name.clone(), value.clone());
    }
    Ok(data)
}

/// The values of `--data` alone (none without it).
pub fn data_file(args: &InputArgs) -> Result<MergeData, Failure> {
    match &args.data {
        Some(path) => read_data_file(path),
        None => Ok(MergeData::new()),
    }
}

fn read_data_file(path: &Path) -> Result<MergeData, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--data: cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("--data: {} is not JSON: {e}", path.display())))?;
    let data = MergeData::from_json_object(&value).ok_or_else(|| {
        Failure::Usage(format!("--data: {} must hold a JSON object of field names to values", path.display()))
    })?;
    if let Some(obj) = value.as_object() {
        if let Some(bad) = obj.keys().find(|k| !reel::merge::is_field_name(k)) {
            return Err(Failure::Usage(format!(
                "--data: {bad:?} in {} is not a merge field name (letters, digits, '_', '-', '.')",
                path.display()
            )));
        }
    }
    Ok(data)
}

/// The plan options of the arguments: assets, fonts and duration policy.
pub fn plan_options(args: &InputArgs, assets: &Path) -> Result<PlanOptions, Failure> {
    let mut opts = PlanOptions::new(assets);
    opts.duration_policy = args.duration_policy.map(Into::into);
    // Ctrl-C, SIGTERM and SIGHUP stop planning too.
    opts.cancel = Some(crate::commands::cancel_flag());
    add_fonts(&opts.fonts, &args.fonts)?;
    Ok(opts)
}

/// Adds each `--fonts` folder to the library.
pub fn add_fonts(fonts: &reel::FontLibrary, dirs: &[PathBuf]) -> Result<(), Failure> {
    for dir in dirs {
        if !dir.is_dir() {
            return Err(Failure::Usage(format!("--fonts: {} is not a folder", dir.display())));
        }
        fonts.add_dir(dir);
    }
    Ok(())
}

/// The asset cache's folder: `--asset-cache`, else the user's cache folder.
fn cache_dir(args: &InputArgs) -> Result<PathBuf, Failure> {
    if let Some(dir) = &args.asset_cache {
        return Ok(dir.clone());
    }
    let base = match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".cache"),
        _ => return Err(Failure::Usage("--asset-cache: no HOME or XDG_CACHE_HOME to keep fetched assets in".into())),
    };
    Ok(base.join("reel").join("assets"))
}

/// A plan, and the fetched assets it reads while rendering (kept until it is dropped).
pub struct Planned {
    plan: Plan,
    fetched: Option<Arc<Fetched>>,
}

impl Planned {
    /// What fetching the assets did (nothing for a folder).
    pub fn fetch_stats(&self) -> Option<reel::fetch::FetchStats> {
        self.fetched.as_ref().map(|f| f.stats())
    }
}

impl std::ops::Deref for Planned {
    type Target = Plan;
    fn deref(&self) -> &Plan {
        &self.plan
    }
}

/// Parses the composition with its merge data, fetches its assets if they are remote, and
/// plans it.
pub fn plan(source: &Source, data: &MergeData, opts: &PlanOptions) -> Result<Planned, reel::Error> {
    let parsed = reel::parse_merged(&source.text, data)?;
    let Some((sources, dir, max_bytes)) = &source.fetch else {
        return Ok(Planned { plan: Plan::build(&parsed, opts)?, fetched: None });
    };
    let cache = AssetCache::new(dir, CACHE_BYTES)?;
    let mut fetcher = Fetcher::new(Some(cache));
    fetcher.cancel = opts.cancel.clone();
    fetcher.limits.max_bytes = *max_bytes;
    let fetched = Arc::new(fetcher.fetch(&parsed.composition, sources)?);
    let mut opts = opts.clone();
    opts.assets = fetched.clone();
    Ok(Planned { plan: Plan::build(&parsed, &opts)?, fetched: Some(fetched) })
}
