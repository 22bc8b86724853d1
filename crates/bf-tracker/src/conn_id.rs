//! BEP 15 connection ids that need no per-client state: a keyed hash (SipHash-2-4 with a
//! random secret) of the client's address and a one-minute time bucket. An id is accepted in
//! its own bucket and the next, so it lives between one and two minutes.

use std::net::SocketAddr;

/// Length of a time bucket in seconds.
pub const BUCKET_SECS: u64 = 60;

/// Issues and checks connection ids.
#[derive(Clone)]
pub struct ConnIdKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for ConnIdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnIdKey(..)")
    }
}

impl ConnIdKey {
    /// A key from 16 secret bytes.
    pub fn new(secret: [u8; 16]) -> Self {
        let (a, b) = secret.split_at(8);
        ConnIdKey {
            k0: u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
            k1: u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        }
    }

    /// A key from the thread RNG.
    pub fn random() -> Self {
        ConnIdKey::new(rand::random())
    }

    fn id(&self, addr: &SocketAddr, bucket: u64) -> u64 {
        let mut m = [0u8; 32];
        let ip = addr.ip().to_canonical();
        match ip {
            std::net::IpAddr::V4(v) => m[..4].copy_from_slice(&v.octets()),
            std::net::IpAddr::V6(v) => m[..16].copy_from_slice(&v.octets()),
        }
        m[16..18].copy_from_slice(&addr.port().to_le_bytes());
        m[18] = u8::from(ip.is_ipv6());
        m[24..32].copy_from_slice(&bucket.to_le_bytes());
        siphash24(self.k0, self.k1, &m)
    }

    /// The id for `addr` at Unix time `now`.
    pub fn issue(&self, addr: &SocketAddr, now: u64) -> u64 {
        self.id(addr, now / BUCKET_SECS)
    }

    /// Whether `id` was issued to `addr` within the last one to two minutes.
    pub fn check(&self, id: u64, addr: &SocketAddr, now: u64) -> bool {
        let b = now / BUCKET_SECS;
        id == self.id(addr, b) || (b > 0 && id == self.id(addr, b - 1))
    }
}

/// SipHash-2-4 of a message whose length is a multiple of 8 (all ours are 32 bytes).
fn siphash24(k0: u64, k1: u64, m: &[u8; 32]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let absorb = |w: u64, v: &mut [u64; 4]| {
        v[3] ^= w;
        round(v);
        round(v);
        v[0] ^= w;
    };
    for c in m.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        absorb(u64::from_le_bytes(w), &mut v);
    }
    // Final block: no tail bytes, only the length in the top byte.
    absorb((m.len() as u64 & 0xff) << 56, &mut v);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn siphash_matches_std_siphasher24() {
        use std::hash::Hasher;
        let mut m = [0u8; 32];
        for (i, b) in m.iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        let mut h = std::hash::SipHasher::new_with_keys(3, 0x1234_5678_9abc_def0);
        h.write(&m);
        assert_eq!(siphash24(3, 0x1234_5678_9abc_def0, &m), h.finish());
    }

    #[test]
    fn ids_expire_and_bind_to_address() {
        let k = ConnIdKey::new([7; 16]);
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let t = 1_800_000_000;
        let id = k.issue(&a, t);
        assert!(k.check(id, &a, t));
        assert!(k.check(id, &a, t + 60));
        assert!(!k.check(id, &a, t + 180));
        assert!(!k.check(id, &b, t));
    }
}
