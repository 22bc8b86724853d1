//! Which piece to start next: rarest first among the pieces a peer has, with random ties.
//!
//! The pieces that may still be started are kept in one vector sorted by availability, cut
//! into buckets of equal availability (the layout libtorrent's picker uses). A HAVE moves one
//! piece across one bucket boundary with a single swap, so availability updates are O(1)
//! whatever the piece count; removing or re-inserting a piece is O(number of distinct
//! availabilities). Seeds (HAVE ALL) raise every piece alike and are only counted.

use rand::Rng;

const NONE: u32 = u32::MAX;

/// Availability of every piece and the order in which unstarted pieces are picked.
#[derive(Debug, Clone)]
pub struct Picker {
    avail: Vec<u32>,
    seeds: u32,
    /// Pickable pieces, by availability ascending.
    order: Vec<u32>,
    /// Index of each piece in `order`, or `NONE`.
    pos: Vec<u32>,
    /// `starts[a]`: index in `order` of the first piece whose availability is ≥ a; the last
    /// entry is `order.len()`.
    starts: Vec<u32>,
}

impl Picker {
    /// `pieces` pieces, all pickable, none available yet, in an order shuffled by `rng`.
    pub fn new(pieces: u32, rng: &mut impl Rng) -> Self {
        let mut order: Vec<u32> = (0..pieces).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
        let mut pos = vec![NONE; pieces as usize];
        for (i, &p) in order.iter().enumerate() {
            pos[p as usize] = i as u32;
        }
        Picker {
            avail: vec![0; pieces as usize],
            seeds: 0,
            order,
            pos,
            starts: vec![0, pieces],
        }
    }

    /// How many connected peers have `piece` (seeds included).
    pub fn availability(&self, piece: u32) -> u32 {
        self.avail.get(piece as usize).map_or(0, |a| a + self.seeds)
    }

    /// Whether `piece` may still be started.
    pub fn is_pickable(&self, piece: u32) -> bool {
        self.pos.get(piece as usize).is_some_and(|&p| p != NONE)
    }

    /// How many pieces may still be started.
    pub fn pickable_count(&self) -> usize {
        self.order.len()
    }

    /// A peer with every piece joined.
    pub fn add_seed(&mut self) {
        self.seeds += 1;
    }

    /// A peer with every piece left.
    pub fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    fn swap(&mut self, i: u32, j: u32) {
        if i == j {
            return;
        }
        self.order.swap(i as usize, j as usize);
        self.pos[self.order[i as usize] as usize] = i;
        self.pos[self.order[j as usize] as usize] = j;
    }

    /// Makes sure bucket `a` has an end marker.
    fn reserve_bucket(&mut self, a: usize) {
        while self.starts.len() < a + 2 {
            self.starts.push(self.order.len() as u32);
        }
    }

    /// One more peer has `piece`.
    pub fn inc(&mut self, piece: u32) {
        let Some(&a) = self.avail.get(piece as usize) else {
            return;
        };
        self.avail[piece as usize] = a + 1;
        let i = self.pos[piece as usize];
        if i == NONE {
            return;
        }
        let a = a as usize;
        self.reserve_bucket(a + 1);
        let last = self.starts[a + 1] - 1;
        self.swap(i, last);
        self.starts[a + 1] -= 1;
    }

    /// One peer fewer has `piece`.
    pub fn dec(&mut self, piece: u32) {
        let Some(&a) = self.avail.get(piece as usize) else {
            return;
        };
        if a == 0 {
            return;
        }
        self.avail[piece as usize] = a - 1;
        let i = self.pos[piece as usize];
        if i == NONE {
            return;
        }
        let a = a as usize;
        let first = self.starts[a];
        self.swap(i, first);
        self.starts[a] += 1;
    }

    /// `piece` was started or is had: it is no longer picked.
    pub fn remove(&mut self, piece: u32) {
        let Some(&i) = self.pos.get(piece as usize) else {
            return;
        };
        if i == NONE {
            return;
        }
        let mut cur = i;
        let mut b = self.avail[piece as usize] as usize;
        // Walk the piece up through every higher bucket to the end of the vector, moving
        // one boundary per bucket.
        while b + 1 < self.starts.len() {
            let last = self.starts[b + 1] - 1;
            self.swap(cur, last);
            cur = last;
            self.starts[b + 1] -= 1;
            b += 1;
        }
        self.order.pop();
        self.pos[piece as usize] = NONE;
    }

    /// `piece` may be picked again (a download of it was abandoned or failed its hash).
    pub fn insert(&mut self, piece: u32, rng: &mut impl Rng) {
        if self.pos.get(piece as usize).is_none_or(|&p| p != NONE) {
            return;
        }
        let a = self.avail[piece as usize] as usize;
        self.reserve_bucket(a);
        let mut cur = self.order.len() as u32;
        self.order.push(piece);
        self.pos[piece as usize] = cur;
        let top = self.starts.len() - 2;
        self.starts[top + 1] += 1;
        let mut b = top;
        while b > a {
            let first = self.starts[b];
            self.swap(cur, first);
            cur = first;
            self.starts[b] += 1;
            b -= 1;
        }
        let (lo, hi) = (self.starts[a], self.starts[a + 1]);
        if hi > lo + 1 {
            let j = rng.gen_range(lo..hi);
            self.swap(cur, j);
        }
    }

    /// The rarest pickable piece for which `has` is true (ties in random order), or with
    /// `random` a uniformly placed one (the first pieces of a download are picked at random
    /// so that a new peer soon has something to trade).
    pub fn pick(
        &self,
        mut has: impl FnMut(u32) -> bool,
        random: bool,
        rng: &mut impl Rng,
    ) -> Option<u32> {
        let n = self.order.len();
        if n == 0 {
            return None;
        }
        let start = if random { rng.gen_range(0..n) } else { 0 };
        (0..n)
            .map(|k| self.order[(start + k) % n])
            .find(|&p| self.avail[p as usize] + self.seeds > 0 && has(p))
    }

    #[cfg(test)]
    fn check(&self) {
        for (i, &p) in self.order.iter().enumerate() {
            assert_eq!(self.pos[p as usize], i as u32);
        }
        assert_eq!(*self.starts.last().unwrap() as usize, self.order.len());
        for a in 0..self.starts.len() - 1 {
            for i in self.starts[a]..self.starts[a + 1] {
                assert_eq!(self.avail[self.order[i as usize] as usize] as usize, a);
            }
        }
        let listed = self.pos.iter().filter(|&&p| p != NONE).count();
        assert_eq!(listed, self.order.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[derive(Debug, Clone)]
    enum Op {
        Inc(u32),
        Dec(u32),
        Remove(u32),
        Insert(u32),
    }

    fn op(n: u32) -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..n).prop_map(Op::Inc),
            (0..n).prop_map(Op::Dec),
            (0..n).prop_map(Op::Remove),
            (0..n).prop_map(Op::Insert),
        ]
    }

    proptest! {
        #[test]
        fn order_stays_sorted_and_rarest_is_picked(ops in proptest::collection::vec(op(40), 0..400)) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let mut p = Picker::new(40, &mut rng);
            let mut avail = [0u32; 40];
            let mut pickable = [true; 40];
            for o in ops {
                match o {
                    Op::Inc(i) => { p.inc(i); avail[i as usize] += 1; }
                    Op::Dec(i) => { p.dec(i); avail[i as usize] = avail[i as usize].saturating_sub(1); }
                    Op::Remove(i) => { p.remove(i); pickable[i as usize] = false; }
                    Op::Insert(i) => { p.insert(i, &mut rng); pickable[i as usize] = true; }
                }
                p.check();
            }
            for i in 0..40u32 {
                prop_assert_eq!(p.availability(i), avail[i as usize]);
                prop_assert_eq!(p.is_pickable(i), pickable[i as usize]);
            }
            let best = (0..40u32)
                .filter(|&i| pickable[i as usize] && avail[i as usize] > 0 && i % 2 == 0)
                .map(|i| avail[i as usize])
                .min();
            let got = p.pick(|i| i % 2 == 0, false, &mut rng);
            prop_assert_eq!(got.map(|g| avail[g as usize]), best);
        }
    }

    #[test]
    fn seeds_make_every_piece_available() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut p = Picker::new(5, &mut rng);
        assert_eq!(p.pick(|_| true, false, &mut rng), None);
        p.add_seed();
        p.inc(3);
        // Everything has one copy from the seed; piece 3 has two, so it is picked last.
        for _ in 0..4 {
            let got = p.pick(|_| true, false, &mut rng).unwrap();
            assert_ne!(got, 3);
            p.remove(got);
        }
        assert_eq!(p.pick(|_| true, true, &mut rng), Some(3));
    }
}
