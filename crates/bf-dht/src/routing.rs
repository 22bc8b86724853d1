//! The routing table: for each length of prefix shared with our id, up to [`K`] contacts
//! (Kademlia's buckets, unsplit). Good nodes stay; a full bucket takes a newcomer only in
//! place of a node that stopped answering, so a flood of made-up contacts cannot push out
//! the nodes that work, and the table never holds more than 161 × K contacts.

use std::net::SocketAddr;
use std::time::Instant;

use crate::id::NodeId;
use crate::krpc::Contact;

/// Contacts per bucket (BEP 5's K).
pub const K: usize = 8;
/// Unanswered queries after which a contact may be replaced.
const BAD_AFTER: u32 = 2;

#[derive(Debug, Clone)]
struct Entry {
    contact: Contact,
    last_seen: Instant,
    failures: u32,
}

/// The routing table of one node.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Vec<Entry>>,
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: NodeId) -> Self {
        RoutingTable {
            own,
            buckets: vec![Vec::new(); 161],
        }
    }

    /// Contacts in the table.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Whether it holds no contact.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A node answered us or queried us: add it, or refresh it. Returns whether it is in
    /// the table now.
    pub fn seen(&mut self, contact: Contact, now: Instant) -> bool {
        if contact.id == self.own {
            return false;
        }
        let b = &mut self.buckets[self.own.shared_prefix(&contact.id)];
        if let Some(e) = b.iter_mut().find(|e| e.contact.id == contact.id) {
            // A node that moved keeps its place under its new address.
            e.contact.addr = contact.addr;
            e.last_seen = now;
            e.failures = 0;
            return true;
        }
        // One entry per address: a node that restarted with a new id replaces its old one.
        b.retain(|e| e.contact.addr != contact.addr);
        let entry = Entry {
            contact,
            last_seen: now,
            failures: 0,
        };
        if b.len() < K {
            b.push(entry);
            return true;
        }
        if let Some(bad) = b.iter_mut().find(|e| e.failures >= BAD_AFTER) {
            *bad = entry;
            return true;
        }
        false
    }

    /// A query to `addr` went unanswered.
    pub fn failed(&mut self, addr: SocketAddr) {
        for b in &mut self.buckets {
            if let Some(i) = b.iter().position(|e| e.contact.addr == addr) {
                b[i].failures += 1;
                // A node that has failed often and has a bucket of others is dropped.
                if b[i].failures > 2 * BAD_AFTER {
                    b.remove(i);
                }
                return;
            }
        }
    }

    /// The `n` contacts closest to `target`, closest first, leaving out failing ones.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Contact> {
        let mut all: Vec<&Entry> = self
            .buckets
            .iter()
            .flatten()
            .filter(|e| e.failures < BAD_AFTER)
            .collect();
        all.sort_by_key(|e| e.contact.id.distance(target));
        all.into_iter().take(n).map(|e| e.contact).collect()
    }

    /// Every contact, most recently seen first (what is saved across restarts).
    pub fn contacts(&self) -> Vec<Contact> {
        let mut all: Vec<&Entry> = self.buckets.iter().flatten().collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        all.into_iter().map(|e| e.contact).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn contact(first: u8, last: u8, port: u16) -> Contact {
        let mut id = [0u8; 20];
        id[0] = first;
        id[19] = last;
        Contact {
            id: NodeId(id),
            addr: SocketAddrV4::new([127, 0, 0, 1].into(), port).into(),
        }
    }

    #[test]
    fn a_full_bucket_keeps_its_good_nodes_against_a_flood() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]));
        // All share no prefix with us (first bit set): one bucket.
        for i in 0..K as u8 {
            assert!(t.seen(contact(0x80, i, 1000 + u16::from(i)), now));
        }
        for i in 0..200u8 {
            assert!(!t.seen(contact(0x80, 100 + (i % 100), 5000 + u16::from(i)), now));
        }
        assert_eq!(t.len(), K);
        // Once one stops answering, a newcomer takes its place.
        t.failed(SocketAddrV4::new([127, 0, 0, 1].into(), 1000).into());
        t.failed(SocketAddrV4::new([127, 0, 0, 1].into(), 1000).into());
        assert!(t.seen(contact(0x80, 250, 9000), now));
        assert_eq!(t.len(), K);
    }

    #[test]
    fn closest_sorts_by_xor_distance() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]));
        for (i, first) in [0x80u8, 0x40, 0x20, 0x10].iter().enumerate() {
            t.seen(contact(*first, 0, 2000 + i as u16), now);
        }
        let mut target = [0u8; 20];
        target[0] = 0x21;
        let c = t.closest(&NodeId(target), 2);
        assert_eq!(c[0].addr.port(), 2002);
        assert_eq!(c[1].addr.port(), 2003);
    }
}
