//! Sparse files: the data extents of a file (SEEK_DATA / SEEK_HOLE), so an
//! initrd is measured by the bytes it really holds and copied without
//! filling its holes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Bytes copied per read.
const CHUNK: usize = 1 << 20;

/// Calls `each(offset, length)` for every data extent of the first `len`
/// bytes of `file`, in order (the whole range on filesystems without
/// hole reporting), until `each` fails.
pub fn for_each_extent(
    file: &File,
    len: u64,
    mut each: impl FnMut(u64, u64) -> io::Result<()>,
) -> io::Result<()> {
    let mut offset = 0;
    while offset < len {
        let Some(data) = seek(file, offset, libc::SEEK_DATA)? else {
            return Ok(());
        };
        if data >= len {
            return Ok(());
        }
        let hole = seek(file, data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        each(data, hole - data)?;
        offset = hole;
    }
    Ok(())
}

/// `lseek(fd, offset, whence)`; `None` past the last data (ENXIO).
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: lseek on a descriptor this function borrows; no memory is passed.
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    if at >= 0 {
        return Ok(Some(at as u64));
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        e => Err(e),
    }
}

/// The bytes in data extents among the first `len` bytes of `file`.
pub fn data_bytes(file: &File, len: u64) -> io::Result<u64> {
    let mut total = 0;
    for_each_extent(file, len, |_, extent| {
        total += extent;
        Ok(())
    })?;
    Ok(total)
}

/// Copies the first `len` bytes of `from` into `to` (at the same offsets),
/// writing only data extents: `to` keeps `from`'s holes. `to` is `len`
/// bytes long afterwards.
pub fn copy(from: &File, to: &File, len: u64) -> io::Result<()> {
    let mut buffer = vec![0; CHUNK];
    for_each_extent(from, len, |start, extent| {
        let mut done = 0;
        while done < extent {
            let want = usize::try_from(extent - done).map_or(CHUNK, |n| n.min(CHUNK));
            let read = from.read_at(&mut buffer[..want], start + done)?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            to.write_all_at(&buffer[..read], start + done)?;
            done += read as u64;
        }
        Ok(())
    })?;
    to.set_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn holes_are_measured_and_kept() {
        let dir = std::env::temp_dir().join(format!("ukrun-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (src, dst) = (dir.join("src"), dir.join("dst"));
        let file = File::create(&src).unwrap();
        file.set_len(64 << 20).unwrap();
        file.write_all_at(b"head", 0).unwrap();
        file.write_all_at(b"middle", 32 << 20).unwrap();
        let from = File::open(&src).unwrap();
        let data = data_bytes(&from, 64 << 20).unwrap();
        let to = File::create(&dst).unwrap();
        copy(&from, &to, 64 << 20).unwrap();
        let copied = std::fs::read(&dst).unwrap();
        let blocks = std::fs::metadata(&dst).unwrap().blocks();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(data < 1 << 20, "two small extents, not 64 MiB: {data}");
        assert_eq!(copied.len(), 64 << 20);
        assert_eq!(&copied[..4], b"head");
        assert_eq!(&copied[32 << 20..(32 << 20) + 6], b"middle");
        assert!(copied[4..32 << 20].iter().all(|b| *b == 0));
        assert!(blocks * 512 < 1 << 20, "holes kept: {blocks} blocks");
    }
}
