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

/// Smallest piece length chosen automatically or accepted from a user: one BEP 3 block.
pub const MIN_PIECE_LENGTH: u64 = 16 << 10;
/// Largest piece length chosen automatically.
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;
/// Most pieces the automatic choice aims for.
pub const TARGET_MAX_PIECES: u64 = 2000;

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
