//! Reading a bundle, checked: the manifest's format must be one this ser
//! reads, and every file it lists must be there with its digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::{Bundle, FORMAT_VERSION, Manifest};

/// Read and check the bundle at `path`.
pub fn read(path: &Path) -> anyhow::Result<Bundle> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let not_a_bundle = |e: std::io::Error| anyhow::anyhow!("{name}: not a ser model bundle ({e})");
    for entry in archive.entries().map_err(not_a_bundle)? {
        let mut entry = entry.map_err(not_a_bundle)?;
        let entry_name = entry
            .path()
            .map_err(not_a_bundle)?
            .to_string_lossy()
            .into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(not_a_bundle)?;
        entries.insert(entry_name, bytes);
    }
    let manifest_bytes = entries
        .remove("manifest.json")
        .ok_or_else(|| anyhow::anyhow!("{name}: not a ser model bundle (no manifest.json)"))?;
    let raw: serde_json::Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| anyhow::anyhow!("{name}: manifest.json is not JSON: {e}"))?;
    // The version first, so a newer format is refused for what it is.
    let version = raw["format_version"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        version >= 1 && version <= u64::from(FORMAT_VERSION),
        "{name}: bundle format {version}, but this ser ({}) reads formats 1 to {FORMAT_VERSION}; \
         use a newer ser",
        env!("CARGO_PKG_VERSION")
    );
    let manifest: Manifest =
        serde_json::from_value(raw).map_err(|e| anyhow::anyhow!("{name}: manifest.json: {e}"))?;
    for (file, digest) in &manifest.files {
        let bytes = entries
            .get(file)
            .ok_or_else(|| anyhow::anyhow!("{name}: corrupted: {file} is missing"))?;
        let actual = blake3::hash(bytes).to_hex().to_string();
        anyhow::ensure!(
            &actual == digest,
            "{name}: corrupted: {file} does not match its checksum in manifest.json"
        );
    }
    Ok(Bundle {
        manifest,
        files: entries,
    })
}
