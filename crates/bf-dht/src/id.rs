//! 160-bit node ids and info-hashes, and the XOR metric between them.

/// A node id or an info-hash: 20 bytes, compared by XOR distance.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl NodeId {
    /// The id in `b`, if it is 20 bytes long.
    pub fn from_slice(b: &[u8]) -> Option<NodeId> {
        <[u8; 20]>::try_from(b).ok().map(NodeId)
    }

    /// `self XOR other`, the distance between them (smaller is closer).
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, x) in d.iter_mut().enumerate() {
            *x = self.0[i] ^ other.0[i];
        }
        d
    }

    /// Leading bits `self` and `other` share (160 when equal): the routing table's bucket.
    pub fn shared_prefix(&self, other: &NodeId) -> usize {
        let d = self.distance(other);
        d.iter()
            .position(|&b| b != 0)
            .map_or(160, |i| i * 8 + d[i].leading_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_prefix_counts_leading_equal_bits() {
        let a = NodeId([0; 20]);
        let mut b = [0u8; 20];
        assert_eq!(a.shared_prefix(&NodeId(b)), 160);
        b[0] = 0x80;
        assert_eq!(a.shared_prefix(&NodeId(b)), 0);
        b[0] = 0;
        b[2] = 0x10;
        assert_eq!(a.shared_prefix(&NodeId(b)), 19);
    }
}
