//! Writing a bundle: the manifest (with every other file's digest) first,
//! then the files, as one tar archive written to a temporary name and
//! renamed, so a reader never sees half a bundle.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::Manifest;

/// Write `files` (name -> bytes) and `manifest` (its `files` digests
/// filled in here) to `path`.
pub fn write(
    path: &Path,
    mut manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<Manifest> {
    manifest.files = files
        .iter()
        .map(|(name, bytes)| (name.clone(), blake3::hash(bytes).to_hex().to_string()))
        .collect();
    let tmp = path.with_extension("sermodel.tmp");
    let out = std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
    let mut append = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    append("manifest.json", &serde_json::to_vec_pretty(&manifest)?)?;
    for (name, bytes) in &files {
        append(name, bytes)?;
    }
    let mut out = tar.into_inner()?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(manifest)
}
