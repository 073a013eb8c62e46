//! Unpacking a downloaded archive (zip, tar, tar.gz) into the target
//! folder.
//!
//! The format is read from the file's first bytes, not its name: a
//! Dataverse "download all" URL names nothing. Every entry's path is
//! checked before anything is written, and the whole archive is refused if
//! one entry would land outside the folder (an absolute path or `..`), is a
//! link (a link followed by a later entry is the other way out of the
//! folder) or would overwrite the fetch's own bookkeeping (the marker, the
//! partial download). Files are written with the process's default
//! permissions rather than the archive's, so a read-only entry cannot stop
//! a later unpack into the same folder.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use super::{MARKER_NAME, PARTIAL_DIR};

/// What an unpack wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    Tar,
    TarGz,
}

/// Unpack `archive` into `into` (created if missing).
pub fn unpack(archive: &Path, into: &Path) -> anyhow::Result<Unpacked> {
    let format = sniff(archive)?;
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {}", into.display()))?;
    match format {
        Format::Zip => unpack_zip(archive, into),
        Format::Tar => unpack_tar(archive, into, false),
        Format::TarGz => unpack_tar(archive, into, true),
    }
}

fn sniff(archive: &Path) -> anyhow::Result<Format> {
    let mut head = Vec::with_capacity(512);
    File::open(archive)
        .with_context(|| format!("cannot open {}", archive.display()))?
        .take(512)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", archive.display()))?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok(Format::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Format::TarGz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Ok(Format::Tar)
    } else {
        let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        bail!(
            "{} is not a zip, tar or tar.gz archive (it starts with bytes {})",
            archive.display(),
            shown.join(" ")
        )
    }
}

/// `name` as a path relative to the target folder, or why it may not be
/// unpacked.
fn checked_relative(name: &str, path: &Path) -> anyhow::Result<PathBuf> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => bail!(
                "archive entry '{name}' would be written outside the target folder; refusing the archive"
            ),
        }
    }
    if rel.as_os_str().is_empty() {
        bail!("archive entry '{name}' has no file name; refusing the archive");
    }
    let first = rel.components().next().map(|c| c.as_os_str().to_owned());
    if rel == Path::new(MARKER_NAME) || first.as_deref() == Some(PARTIAL_DIR.as_ref()) {
        bail!("archive entry '{name}' would overwrite ser's own fetch files; refusing the archive");
    }
    Ok(rel)
}

fn write_file(reader: &mut impl Read, into: &Path, rel: &Path) -> anyhow::Result<u64> {
    let dest = into.join(rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut out =
        File::create(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    io::copy(reader, &mut out).with_context(|| format!("cannot write {}", dest.display()))
}

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

fn unpack_zip(archive: &Path, into: &Path) -> anyhow::Result<Unpacked> {
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a readable zip archive", archive.display()))?;
    // Every name first, from the central directory: nothing is written
    // when one entry is refused.
    let mut plan = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .with_context(|| format!("{}: cannot read entry {i}", archive.display()))?;
        let name = entry.name().to_string();
        if entry.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK) {
            bail!("archive entry '{name}' is a symbolic link; ser does not unpack links");
        }
        // Zips made on Windows may separate folders with backslashes.
        let rel = checked_relative(&name, Path::new(&name.replace('\\', "/")))?;
        plan.push((rel, entry.is_dir()));
    }
    let mut done = Unpacked::default();
    for (i, (rel, is_dir)) in plan.into_iter().enumerate() {
        if is_dir {
            let dir = into.join(&rel);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            continue;
        }
        let mut entry = zip.by_index(i).with_context(|| {
            format!("{}: cannot read entry {}", archive.display(), rel.display())
        })?;
        done.bytes += write_file(&mut entry, into, &rel)
            .with_context(|| format!("unpacking {}", archive.display()))?;
        done.files += 1;
    }
    Ok(done)
}

fn tar_reader(archive: &Path, gzip: bool) -> anyhow::Result<tar::Archive<Box<dyn Read>>> {
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    Ok(tar::Archive::new(reader))
}

fn unpack_tar(archive: &Path, into: &Path, gzip: bool) -> anyhow::Result<Unpacked> {
    // A tar has no index: a first pass reads every header (decompressing
    // once more for .tar.gz) so that nothing is written when one entry is
    // refused.
    let mut entries = Vec::new();
    let mut first = tar_reader(archive, gzip)?;
    for entry in first
        .entries()
        .with_context(|| format!("{} is not a readable tar archive", archive.display()))?
    {
        let entry =
            entry.with_context(|| format!("{}: cannot read an entry", archive.display()))?;
        let raw = entry
            .path()
            .with_context(|| format!("{}: an entry's path is not valid", archive.display()))?;
        let name = raw.display().to_string();
        use tar::EntryType as T;
        let is_dir = match entry.header().entry_type() {
            T::Regular | T::Continuous => false,
            T::Directory => true,
            // pax global headers carry metadata for the entries, no file.
            T::XGlobalHeader => continue,
            T::Symlink | T::Link => {
                bail!("archive entry '{name}' is a link; ser does not unpack links")
            }
            other => bail!(
                "archive entry '{name}' is of tar type {other:?}, not a file or folder; refusing the archive"
            ),
        };
        entries.push((checked_relative(&name, &raw)?, is_dir));
    }
    let mut done = Unpacked::default();
    let mut second = tar_reader(archive, gzip)?;
    let mut planned = entries.into_iter();
    for entry in second.entries()? {
        let mut entry =
            entry.with_context(|| format!("{}: cannot read an entry", archive.display()))?;
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        let Some((rel, is_dir)) = planned.next() else {
            bail!("{} changed while it was being unpacked", archive.display());
        };
        if is_dir {
            let dir = into.join(&rel);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        } else {
            done.bytes += write_file(&mut entry, into, &rel)
                .with_context(|| format!("unpacking {}", archive.display()))?;
            done.files += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(path: &Path, entries: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data) in entries {
            zip.start_file(*name, zip::write::FileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }

    /// A tar whose one entry is named `name` as given: the tar crate's own
    /// path setter refuses `..`, so the name is written into the header.
    fn tar_with_raw_name(path: &Path, name: &str, data: &[u8], gzip: bool) {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let file = File::create(path).unwrap();
        let out: Box<dyn Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(file)
        };
        let mut builder = tar::Builder::new(out);
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap().flush().unwrap();
    }

    fn files_under(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    found.push(p.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn a_zip_unpacks_into_the_folder_with_its_subfolders() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.zip");
        zip_with(
            &archive,
            &[("Actor_01/a.wav", b"one"), ("Actor_02/b.wav", b"two!")],
        );
        let into = tmp.path().join("out");
        let done = unpack(&archive, &into).unwrap();
        assert_eq!(done, Unpacked { files: 2, bytes: 7 });
        assert_eq!(files_under(&into), ["Actor_01/a.wav", "Actor_02/b.wav"]);
        assert_eq!(std::fs::read(into.join("Actor_02/b.wav")).unwrap(), b"two!");
    }

    #[test]
    fn a_tar_gz_unpacks_into_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.tar.gz");
        tar_with_raw_name(&archive, "wav/03a01Fa.wav", b"RIFF", true);
        let into = tmp.path().join("out");
        assert_eq!(
            unpack(&archive, &into).unwrap(),
            Unpacked { files: 1, bytes: 4 }
        );
        assert_eq!(files_under(&into), ["wav/03a01Fa.wav"]);
    }

    #[test]
    fn zip_entries_escaping_the_folder_refuse_the_whole_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("evil.zip");
        // The good entry comes first: it must not be written either.
        zip_with(&archive, &[("good.wav", b"ok"), ("../evil.txt", b"gotcha")]);
        let into = tmp.path().join("out");
        let err = unpack(&archive, &into).unwrap_err().to_string();
        assert!(
            err.contains("'../evil.txt'") && err.contains("outside"),
            "{err}"
        );
        assert!(!tmp.path().join("evil.txt").exists());
        assert!(
            files_under(&into).is_empty(),
            "nothing is written when an entry is refused"
        );

        let absolute = tmp.path().join("abs.zip");
        zip_with(&absolute, &[("/tmp/ser-fetch-evil.txt", b"gotcha")]);
        let err = unpack(&absolute, &into).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
        assert!(!Path::new("/tmp/ser-fetch-evil.txt").exists());
    }

    #[test]
    fn tar_entries_escaping_the_folder_refuse_the_whole_archive() {
        for gzip in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let archive = tmp.path().join("evil.tar");
            tar_with_raw_name(&archive, "../evil.txt", b"gotcha", gzip);
            let into = tmp.path().join("out");
            let err = unpack(&archive, &into).unwrap_err().to_string();
            assert!(
                err.contains("'../evil.txt'") && err.contains("outside"),
                "{err}"
            );
            assert!(!tmp.path().join("evil.txt").exists());
            assert!(files_under(&into).is_empty());
        }
    }

    #[test]
    fn links_and_ser_own_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("link.tar");
        {
            let mut builder = tar::Builder::new(File::create(&archive).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, "Actor_01", "/etc")
                .unwrap();
            builder.finish().unwrap();
        }
        let err = unpack(&archive, &tmp.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("link"), "{err}");

        let marker = tmp.path().join("marker.zip");
        zip_with(&marker, &[(MARKER_NAME, b"{}")]);
        let err = unpack(&marker, &tmp.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ser's own fetch files"), "{err}");
    }

    #[test]
    fn a_file_that_is_no_archive_is_named_with_its_first_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let html = tmp.path().join("download");
        std::fs::write(&html, b"<html>login required</html>").unwrap();
        let err = unpack(&html, &tmp.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a zip, tar or tar.gz") && err.contains("3c 68 74 6d"),
            "{err}"
        );
    }
}
