//! The BitFountain engine: sessions, torrents, peers, storage. Filled by a later issue; nothing here works yet.
