//! From byte ranges of the content (pieces, blocks) to the files that hold them.

use crate::metainfo::{FileEntry, Metainfo};

/// The part of one file that a content byte range covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSlice {
    /// Index into [`Metainfo::files`].
    pub file_index: usize,
    /// Offset of the slice inside that file.
    pub file_offset: u64,
    /// Offset of the slice inside the range asked for.
    pub range_offset: u64,
    /// Length of the slice in bytes (never 0).
    pub len: u64,
}

impl Metainfo {
    /// The file slices covering content bytes `offset..offset + len`, in order; zero-length
    /// files are skipped. The range is cut at the end of the content.
    pub fn file_slices(&self, offset: u64, len: u64) -> Vec<FileSlice> {
        slices(self.files(), offset, len)
    }

    /// The file slices covering piece `index` (empty past the last piece).
    pub fn piece_file_slices(&self, index: u32) -> Vec<FileSlice> {
        match self.piece_size(index) {
            Some(size) => self.file_slices(u64::from(index) * self.piece_length(), size),
            None => Vec::new(),
        }
    }
}

/// `files` must be in layout order with consecutive offsets, as [`Metainfo`] guarantees.
pub(crate) fn slices(files: &[FileEntry], offset: u64, len: u64) -> Vec<FileSlice> {
    let end = offset.saturating_add(len);
    // First file whose end lies past `offset`; zero-length files end where they start, so
    // they are never chosen as the first, and skipped below.
    let first = files.partition_point(|f| f.offset + f.length <= offset);
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate().skip(first) {
        if f.offset >= end {
            break;
        }
        if f.length == 0 {
            continue;
        }
        let start = offset.max(f.offset);
        let stop = end.min(f.offset + f.length);
        out.push(FileSlice {
            file_index: i,
            file_offset: start - f.offset,
            range_offset: start - offset,
            len: stop - start,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(lengths: &[u64]) -> Vec<FileEntry> {
        let mut off = 0;
        lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let f = FileEntry {
                    path: vec![format!("f{i}")],
                    length: l,
                    offset: off,
                    padding: false,
                };
                off += l;
                f
            })
            .collect()
    }

    #[test]
    fn range_spanning_files_and_skipping_empty_ones() {
        let fs = files(&[10, 0, 5, 20]);
        let s = slices(&fs, 8, 10);
        let got: Vec<_> = s
            .iter()
            .map(|s| (s.file_index, s.file_offset, s.range_offset, s.len))
            .collect();
        assert_eq!(got, vec![(0, 8, 0, 2), (2, 0, 2, 5), (3, 0, 7, 3)]);
        assert_eq!(slices(&fs, 35, 10), vec![]);
        assert_eq!(slices(&fs, 30, 10).iter().map(|s| s.len).sum::<u64>(), 5);
    }

    #[test]
    fn slices_cover_every_byte_exactly_once() {
        let fs = files(&[3, 0, 0, 7, 1, 16, 0, 2]);
        let total = 29;
        for off in 0..total {
            for len in 0..=(total - off) {
                let s = slices(&fs, off, len);
                assert_eq!(s.iter().map(|s| s.len).sum::<u64>(), len);
                let mut pos = off;
                for sl in &s {
                    assert_eq!(fs[sl.file_index].offset + sl.file_offset, pos);
                    assert_eq!(sl.range_offset, pos - off);
                    pos += sl.len;
                }
            }
        }
    }
}
