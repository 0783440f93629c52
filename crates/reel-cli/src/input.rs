//! Reading a composition (a file or standard input), its merge data, and planning it.

use crate::args::InputArgs;
use crate::Failure;
use reel::{MergeData, Plan, PlanOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A composition read from its file or standard input, not yet parsed.
pub struct Source {
    /// The text.
    pub text: String,
    /// The file stem outputs are named after (`None` for standard input).
    pub stem: Option<String>,
    /// The folder asset keys are resolved in.
    pub assets: PathBuf,
}

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
        let assets = match &args.assets {
            Some(dir) => dir.clone(),
            None if from_stdin => PathBuf::from("."),
            None => match args.composition.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        if !assets.is_dir() {
            return Err(Failure::Usage(format!("--assets: {} is not a folder", assets.display())));
        }
        Ok(Source { text, stem, assets })
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

/// Parses the composition with its merge data and plans it.
pub fn plan(source: &Source, data: &MergeData, opts: &PlanOptions) -> Result<Plan, reel::Error> {
    let parsed = reel::parse_merged(&source.text, data)?;
    Plan::build(&parsed, opts)
}
