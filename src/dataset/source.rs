//! Opening files that may be gzip-compressed, and reading them with clear errors.

use super::DatasetError;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::Path;

/// A reader over the file's content, decompressed when the file is gzip (detected by its
/// magic bytes, not its name).
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read>, DatasetError> {
    let file = File::open(path).map_err(|e| DatasetError::io(path.display(), e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader
        .fill_buf()
        .map_err(|e| DatasetError::io(path.display(), e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// The first `n` bytes of the (decompressed) content, fewer when the file is shorter.
pub(crate) fn sniff(path: &Path, n: usize) -> Result<Vec<u8>, DatasetError> {
    let mut reader = open(path)?;
    let mut buf = vec![0u8; n];
    let got = read_full(&mut reader, &mut buf).map_err(|e| read_error(path, &e))?;
    buf.truncate(got);
    Ok(buf)
}

/// The whole (decompressed) content.
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>, DatasetError> {
    let mut reader = open(path)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(path, &e))?;
    Ok(bytes)
}

/// Fills `buf` as far as the reader goes; returns the number of bytes read (less than
/// `buf.len()` only at the end of the data).
pub(crate) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The error for a failed read in the middle of a file: a damaged or cut gzip stream reads
/// as malformed data rather than an operating-system problem.
pub(crate) fn read_error(path: &Path, e: &std::io::Error) -> DatasetError {
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::InvalidInput | ErrorKind::InvalidData => {
            DatasetError::malformed(
                path.display(),
                format!(
                    "the compressed data is damaged or cut short ({e}); download or copy the \
                     file again"
                ),
            )
        }
        _ => DatasetError::io(path.display(), std::io::Error::new(e.kind(), e.to_string())),
    }
}
