//! Reading a small file that a user named (a config, a token, a secret, a certificate) without
//! hanging on a FIFO or a device and without reading more than a cap.
//!
//! `std::fs::read` opens a FIFO and waits for a writer forever, and reads `/dev/zero` until
//! memory runs out. Here the file is opened with `O_NONBLOCK` (opening a FIFO then returns at
//! once; for a regular file the flag changes nothing), then `fstat` on the open descriptor
//! says what it is: anything but a regular file is refused by name, and a regular file is read
//! up to `limit` bytes — a file that is (or grows) larger is refused. No crate does this small
//! thing; it is std only.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The cap for a token, secret, key or certificate file: far above any real one (a system CA
/// bundle is about 200 KiB), far below what would hurt.
pub const SMALL_FILE_LIMIT: u64 = 4 << 20;

/// Why a file could not be read by [`read_regular`]. Shown as `cannot read PATH: REASON`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("cannot read {}: {}", path.display(), kind.reason())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub kind: FileErrorKind,
}

/// What was wrong with a file (see [`FileError`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// The file cannot be opened or read (missing, no permission, …).
    Io(std::io::Error),
    /// The path names something other than a regular file: the words say what ("a FIFO",
    /// "a character device", "a directory", …).
    NotRegular(&'static str),
    /// The file is larger than the cap, in bytes.
    TooLarge(u64),
    /// The file is not UTF-8 text ([`read_regular_to_string`]).
    NotText,
}

impl FileErrorKind {
    /// The reason in words, without the file's name.
    pub fn reason(&self) -> String {
        match self {
            FileErrorKind::Io(e) => e.to_string(),
            FileErrorKind::NotRegular(what) => format!("it is {what}, not a regular file"),
            FileErrorKind::TooLarge(limit) => format!("it is larger than {limit} bytes"),
            FileErrorKind::NotText => "it is not UTF-8 text".to_owned(),
        }
    }
}

impl FileError {
    fn new(path: &Path, kind: FileErrorKind) -> FileError {
        FileError {
            path: path.to_owned(),
            kind,
        }
    }
}

/// What a file that is not a regular file is, in words.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

/// Opens `path` without blocking and checks that it is a regular file of at most `limit`
/// bytes.
fn open_regular(path: &Path, limit: u64) -> Result<File, FileError> {
    let io = |e| FileError::new(path, FileErrorKind::Io(e));
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(FileError::new(
            path,
            FileErrorKind::NotRegular(kind_of(meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(FileError::new(path, FileErrorKind::TooLarge(limit)));
    }
    Ok(file)
}

/// Reads the regular file at `path`, at most `limit` bytes. A FIFO, a device, a directory
/// or a socket is refused at once, by name; so is a file larger than `limit`.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path, limit)?;
    let mut bytes = Vec::new();
    // One byte more than the cap tells a file that grew since `fstat` from one that fits.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::new(path, FileErrorKind::Io(e)))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(FileError::new(path, FileErrorKind::TooLarge(limit)));
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text.
pub fn read_regular_to_string(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_regular(path, limit)?)
        .map_err(|_| FileError::new(path, FileErrorKind::NotText))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_and_a_large_one_refused() {
        let dir = std::env::temp_dir().join(format!("lp-sys-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "0123456789").unwrap();
        assert_eq!(read_regular_to_string(&f, 10).unwrap(), "0123456789");
        let e = read_regular(&f, 9).unwrap_err();
        assert!(matches!(e.kind, FileErrorKind::TooLarge(9)), "{e}");
        assert!(e.to_string().ends_with("it is larger than 9 bytes"), "{e}");
        let e = read_regular(&dir, 10).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("it is a directory, not a regular file"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_zero_is_refused_at_once() {
        let e = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /dev/zero: it is a character device, not a regular file"
        );
    }
}
