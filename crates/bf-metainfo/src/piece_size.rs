//! Choosing a piece length for new torrents.
//!
//! The rule: the smallest power of two from 16 KiB to 16 MiB that keeps the torrent at
//! 2000 pieces or fewer, so pieces are few enough to keep the `.torrent` small (20 bytes
//! each) and many enough to spread over peers. Content between about 31 MiB and 31 GiB gets
//! 1001–2000 pieces; below, 16 KiB pieces; above, 16 MiB pieces.
//!
//! | total size up to | piece length |
//! |---|---|
//! | 31.25 MiB | 16 KiB |
//! | 62.5 MiB | 32 KiB |
//! | 125 MiB | 64 KiB |
//! | 250 MiB | 128 KiB |
//! | 500 MiB | 256 KiB |
//! | 1000 MiB | 512 KiB |
//! | 1.95 GiB | 1 MiB |
//! | 3.9 GiB | 2 MiB |
//! | 7.8 GiB | 4 MiB |
//! | 15.6 GiB | 8 MiB |
//! | larger | 16 MiB |
//!
//! A piece length chosen by hand is checked by [`lint_piece_length`], as imdl's lints do:
//! over [`MAX_SENSIBLE_PIECES`] pieces, or pieces above 16 MiB where 16 MiB pieces would not
//! be too many, earns a warning that names a better size.

use std::fmt;

use crate::format::human_size;

/// Smallest piece length chosen automatically or accepted from a user: one BEP 3 block.
pub const MIN_PIECE_LENGTH: u64 = 16 << 10;
/// Largest piece length chosen automatically.
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;
/// Most pieces the automatic choice aims for.
pub const TARGET_MAX_PIECES: u64 = 2000;
/// More pieces than this draw a warning: 2 MB of hashes in the `.torrent` (20 bytes each),
/// which every peer fetches before anything else, and a bitfield and a piece picker to match.
pub const MAX_SENSIBLE_PIECES: u64 = 100_000;

/// Why a piece length chosen by hand makes a poor torrent, with a better one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceSizeLint {
    /// More than [`MAX_SENSIBLE_PIECES`] pieces.
    TooManyPieces {
        /// The piece length chosen.
        piece_length: u64,
        /// The pieces it makes.
        pieces: u64,
        /// A better piece length.
        better: u64,
        /// The pieces that makes.
        better_pieces: u64,
    },
    /// Pieces above [`MAX_AUTO_PIECE_LENGTH`] for content that 16 MiB pieces suit.
    TooLarge {
        /// The piece length chosen.
        piece_length: u64,
        /// The content's length.
        total: u64,
        /// A better piece length.
        better: u64,
        /// The pieces that makes.
        better_pieces: u64,
    },
}

impl PieceSizeLint {
    /// The piece length suggested instead.
    pub fn better(&self) -> u64 {
        match *self {
            PieceSizeLint::TooManyPieces { better, .. }
            | PieceSizeLint::TooLarge { better, .. } => better,
        }
    }
}

impl fmt::Display for PieceSizeLint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PieceSizeLint::TooManyPieces {
                piece_length,
                pieces,
                better,
                better_pieces,
            } => write!(
                f,
                "piece size {} makes {pieces} pieces, over {MAX_SENSIBLE_PIECES}: {} of hashes \
                 in the .torrent, fetched by every peer before any data; {} would make \
                 {better_pieces}",
                human_size(piece_length),
                human_size(pieces.saturating_mul(20)),
                human_size(better),
            ),
            PieceSizeLint::TooLarge {
                piece_length,
                total,
                better,
                better_pieces,
            } => write!(
                f,
                "piece size {} is above 16 MiB for {} of content: a peer must get a whole \
                 piece before it can check and share any of it; {} would make {better_pieces} \
                 piece{}",
                human_size(piece_length),
                human_size(total),
                human_size(better),
                if better_pieces == 1 { "" } else { "s" },
            ),
        }
    }
}

/// The piece length suggested for `total` bytes: the automatic choice, or for content so
/// large that 16 MiB pieces are over [`MAX_SENSIBLE_PIECES`], the smallest that is not
/// (at most [`crate::MAX_PIECE_LENGTH`]).
pub fn suggested_piece_length(total: u64) -> u64 {
    let mut pl = auto_piece_length(total);
    while pl < crate::MAX_PIECE_LENGTH && total.div_ceil(pl) > MAX_SENSIBLE_PIECES {
        pl *= 2;
    }
    pl
}

/// Checks a piece length chosen by hand for `total` bytes of content; `None` when it is
/// sensible, or when no better one exists.
pub fn lint_piece_length(total: u64, piece_length: u64) -> Option<PieceSizeLint> {
    if piece_length == 0 {
        return None;
    }
    let pieces = total.div_ceil(piece_length);
    let better = suggested_piece_length(total);
    let better_pieces = total.div_ceil(better);
    if pieces > MAX_SENSIBLE_PIECES && better > piece_length {
        return Some(PieceSizeLint::TooManyPieces {
            piece_length,
            pieces,
            better,
            better_pieces,
        });
    }
    if piece_length > MAX_AUTO_PIECE_LENGTH
        && total.div_ceil(MAX_AUTO_PIECE_LENGTH) <= MAX_SENSIBLE_PIECES
        && better < piece_length
    {
        return Some(PieceSizeLint::TooLarge {
            piece_length,
            total,
            better,
            better_pieces,
        });
    }
    None
}

/// A piece length as [`parse_piece_size`] reads it back, shortest first: `16K`, `1M`, `1000`.
pub fn format_piece_size(pl: u64) -> String {
    if pl >= 1 << 20 && pl % (1 << 20) == 0 {
        format!("{}M", pl >> 20)
    } else if pl >= 1 << 10 && pl % (1 << 10) == 0 {
        format!("{}K", pl >> 10)
    } else {
        pl.to_string()
    }
}

/// The piece length for `total` bytes of content (see the module table).
pub fn auto_piece_length(total: u64) -> u64 {
    let mut pl = MIN_PIECE_LENGTH;
    while pl < MAX_AUTO_PIECE_LENGTH && total.div_ceil(pl) > TARGET_MAX_PIECES {
        pl *= 2;
    }
    pl
}

/// Whether `pl` may be used to create a torrent: a power of two from 16 KiB to 256 MiB.
pub fn is_valid_piece_length(pl: u64) -> bool {
    pl.is_power_of_two() && (MIN_PIECE_LENGTH..=crate::MAX_PIECE_LENGTH).contains(&pl)
}

/// Parses a piece size as a user writes it: `262144`, `256K`, `256KiB`, `1M`, `4MiB`
/// (K and M are binary). Returns `None` for anything else; validity is checked separately.
pub fn parse_piece_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_rule() {
        assert_eq!(auto_piece_length(1), 16 << 10);
        assert_eq!(auto_piece_length(2000 * (16 << 10)), 16 << 10);
        assert_eq!(auto_piece_length(2000 * (16 << 10) + 1), 32 << 10);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(1 << 50), 16 << 20);
        for shift in 25..35 {
            let pieces = (1u64 << shift).div_ceil(auto_piece_length(1 << shift));
            assert!((1001..=2000).contains(&pieces), "{shift}: {pieces}");
        }
    }

    #[test]
    fn hand_picked_piece_sizes_are_linted_with_a_better_one() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        // Sensible choices pass, however far from the automatic one.
        for (total, pl) in [
            (GIB, 16 << 10),
            (GIB, 16 * MIB),
            (1, 16 << 10),
            (100 * GIB, 4 * MIB),
        ] {
            assert_eq!(lint_piece_length(total, pl), None, "{total} {pl}");
        }
        // 2 GiB in 16 KiB pieces: 131072 pieces; the automatic 2 MiB makes 1024.
        let lint = lint_piece_length(2 * GIB, 16 << 10).unwrap();
        assert_eq!(
            lint,
            PieceSizeLint::TooManyPieces {
                piece_length: 16 << 10,
                pieces: 131_072,
                better: 2 * MIB,
                better_pieces: 1024,
            }
        );
        let text = lint.to_string();
        assert!(
            text.contains("131072 pieces") && text.contains("2.00 MiB would make 1024"),
            "{text}"
        );
        // 32 MiB pieces for a 10 MiB file: one piece; 16 KiB pieces make 640.
        let lint = lint_piece_length(10 * MIB, 32 * MIB).unwrap();
        assert!(
            matches!(lint, PieceSizeLint::TooLarge { better, better_pieces: 640, .. } if better == 16 << 10)
        );
        assert!(lint.to_string().contains("above 16 MiB"), "{lint}");
        // Past 100,000 pieces of 16 MiB, larger pieces are the better choice, not a fault.
        let huge = 4 << 40;
        assert_eq!(suggested_piece_length(huge), 64 * MIB);
        assert_eq!(lint_piece_length(huge, 64 * MIB), None);
        assert_eq!(lint_piece_length(huge, 256 * MIB), None);
        assert_eq!(
            lint_piece_length(huge, 16 * MIB).map(|l| l.better()),
            Some(64 * MIB)
        );
        for pl in [16 << 10, 256 << 10, MIB, 16 * MIB, 3] {
            assert_eq!(parse_piece_size(&format_piece_size(pl)), Some(pl));
        }
        assert_eq!(format_piece_size(MIB), "1M");
        assert_eq!(format_piece_size(16 << 10), "16K");
    }

    #[test]
    fn piece_size_spellings() {
        assert_eq!(parse_piece_size("262144"), Some(262144));
        assert_eq!(parse_piece_size("256K"), Some(262144));
        assert_eq!(parse_piece_size("256kib"), Some(262144));
        assert_eq!(parse_piece_size("1M"), Some(1 << 20));
        assert_eq!(parse_piece_size("1G"), None);
        assert_eq!(parse_piece_size("K"), None);
        assert_eq!(parse_piece_size("99999999999999999999M"), None);
        assert!(is_valid_piece_length(16384));
        assert!(!is_valid_piece_length(8192));
        assert!(!is_valid_piece_length(3 << 14));
    }
}
