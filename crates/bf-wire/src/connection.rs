//! The per-connection state machine: what each side has said, what is outstanding, and
//! which incoming messages break the protocol.
//!
//! A [`Connection`] starts once both handshakes are exchanged. Incoming bytes go to
//! [`Connection::receive`] (or already decoded messages to [`Connection::handle`]); it
//! validates every message against the state and either returns a [`ProtocolError`] (close
//! the connection) or queues [`Event`]s for the engine ([`Connection::poll_event`]) and, where
//! the protocol answers by itself (a reject for a request while choked, say), messages to
//! send ([`Connection::poll_transmit`]). The engine's own actions go through methods such as
//! [`Connection::request`] that check them and queue the message with the ids the peer
//! assigned. Nothing here does I/O or reads a clock: time is an argument.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, PeerId};
use bytes::{Bytes, BytesMut};

use crate::bitfield::Bitfield;
use crate::decoder::{Decoder, Limits};
use crate::error::{ProtocolError, SendError};
use crate::extended::{ExtendedHandshake, LocalExtensions, BF_RAPTORQ, UT_METADATA};
use crate::fountain::{FountainMessage, SymbolRange};
use crate::handshake::{Handshake, Reserved};
use crate::message::{Block, BlockRequest, Extended, Message};
use crate::metadata::MetadataMessage;
use crate::pending::{PendingSymbols, Recent};
use crate::shape::TorrentShape;

const FAST: &str = "fast extension (BEP 6)";
const EXTENSION_PROTOCOL: &str = "extension protocol (BEP 10)";
const METADATA: &str = "ut_metadata (BEP 9)";
const FOUNTAIN: &str = "bf_raptorq";

/// Settings of a connection; the defaults suit a BitFountain client.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// The reserved bits of our handshake.
    pub reserved: Reserved,
    /// Our extension ids and fountain parameters.
    pub extensions: LocalExtensions,
    /// Size limits for incoming messages.
    pub limits: Limits,
    /// Most requests we keep outstanding to the peer, blocks and symbols counted alike
    /// (further bounded by the `reqq` the peer announces).
    pub max_outgoing_requests: usize,
    /// Most requests from the peer we queue, blocks and symbols counted alike (advertise it
    /// as `reqq`): beyond it block requests are rejected (fast extension) or dropped, and
    /// symbol ranges rejected.
    pub max_incoming_requests: usize,
    /// How many cancelled requests (and pieces of cancelled symbol requests) are remembered,
    /// so that their answers, already on the wire, are not mistaken for abuse.
    pub recent_cancel_memory: usize,
    /// Most allowed-fast pieces remembered from the peer.
    pub max_allowed_fast: usize,
    /// Send a keep-alive after this long without sending anything.
    pub keepalive_interval: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            reserved: Reserved::bitfountain(),
            extensions: LocalExtensions::default(),
            limits: Limits::default(),
            max_outgoing_requests: 2048,
            max_incoming_requests: 512,
            recent_cancel_memory: 4096,
            max_allowed_fast: 64,
            keepalive_interval: Duration::from_secs(90),
        }
    }
}

impl ConnectionConfig {
    /// Our handshake for `info_hash`, with this configuration's reserved bits.
    pub fn handshake(&self, info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        Handshake {
            reserved: self.reserved,
            info_hash,
            peer_id,
        }
    }
}

/// What we know of the peer's pieces.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PeerPieces {
    /// Nothing said yet (or a bitfield is held until the torrent's shape is known).
    Unknown,
    /// HAVE NONE.
    None,
    /// HAVE ALL.
    All,
    /// A bitfield (possibly grown by HAVE messages).
    Some(Bitfield),
}

/// Something the engine should know or act on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// The peer choked us. Without the fast extension this drops every outstanding request:
    /// they are listed so the engine can ask elsewhere. With it, requests stay outstanding
    /// until served or rejected.
    Choked {
        /// Block requests that will not be answered.
        dropped: Vec<BlockRequest>,
        /// Symbol ranges that will not be answered.
        dropped_symbols: Vec<SymbolRange>,
    },
    /// The peer unchoked us.
    Unchoked,
    /// The peer is interested in our pieces.
    Interested,
    /// The peer is no longer interested.
    NotInterested,
    /// The peer has a piece it did not have before.
    Have(u32),
    /// The peer sent its bitfield; read it with [`Connection::peer_pieces`].
    Bitfield,
    /// The peer has every piece.
    HaveAll,
    /// The peer has no piece.
    HaveNone,
    /// The peer asks for a block of a piece we announced: serve it with
    /// [`Connection::send_block`] or refuse it with [`Connection::reject`].
    Request(BlockRequest),
    /// The peer withdrew a request: do not serve it.
    Cancel(BlockRequest),
    /// A block we asked for.
    Block(Block),
    /// A block we had cancelled (or that a choke dropped) arrived anyway.
    LateBlock(Block),
    /// The peer refuses one of our requests.
    Rejected(BlockRequest),
    /// The peer suggests a piece.
    Suggest(u32),
    /// The peer lets us request this piece while choked.
    AllowedFast(u32),
    /// The peer's DHT port.
    Port(u16),
    /// The peer sent (or updated) its extended handshake; read it with
    /// [`Connection::peer_extended_handshake`].
    ExtendedHandshake,
    /// The peer asks for a metadata piece.
    MetadataRequest(u32),
    /// A metadata piece we asked for.
    MetadataData {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary as the peer states it.
        total_size: u32,
        /// The bytes (at most 16 KiB).
        data: Bytes,
    },
    /// The peer will not send this metadata piece.
    MetadataRejected(u32),
    /// The peer asks for symbols of a piece we announced: serve each with
    /// [`Connection::send_symbol`] or refuse with [`Connection::reject_symbols`].
    SymbolRequest(SymbolRange),
    /// A symbol we asked for (length already checked to be T).
    Symbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id.
        esi: u32,
        /// T bytes.
        data: Bytes,
    },
    /// A symbol of a piece whose requests we had cancelled (or a choke dropped) arrived anyway.
    LateSymbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id.
        esi: u32,
        /// T bytes.
        data: Bytes,
    },
    /// The peer withdrew every symbol request for a piece.
    SymbolCancel(u32),
    /// The peer will not send these symbols (exactly those of ours that were outstanding).
    SymbolsRejected(SymbolRange),
}

/// The protocol state of one peer connection after the handshakes.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    decoder: Decoder,
    shape: Option<TorrentShape>,
    peer: Handshake,
    fast: bool,
    extended: bool,

    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,

    peer_pieces: PeerPieces,
    /// A bitfield received before the shape was known, checked once it is.
    early_bitfield: Option<Bytes>,
    /// HAVEs received before the shape was known, one bit per piece.
    early_haves: Vec<u8>,
    /// Whether a bitfield / have all / have none may still arrive.
    peer_pieces_window: bool,
    /// Whether we may still send one.
    our_pieces_window: bool,
    /// The pieces we announced (bitfield, have all, have): the only ones we serve.
    announced: Option<Bitfield>,

    peer_ext: Option<Box<ExtendedHandshake>>,
    our_ext_sent: bool,
    fountain: bool,

    our_requests: BTreeMap<BlockRequest, Instant>,
    cancelled: Recent<BlockRequest>,
    our_symbols: PendingSymbols,
    cancelled_symbol_pieces: Recent<u32>,
    our_metadata_requests: BTreeSet<u32>,
    allowed_fast_in: BTreeSet<u32>,

    peer_requests: BTreeSet<BlockRequest>,
    peer_symbols: PendingSymbols,
    allowed_fast_out: BTreeSet<u32>,

    events: VecDeque<Event>,
    outbox: VecDeque<Message>,
    last_received: Instant,
    last_sent: Instant,
}

impl Connection {
    /// The state after our handshake and the peer's (`peer`) were exchanged at `now`.
    /// `shape` is `None` while the metadata is unknown (magnet links); see
    /// [`Connection::set_shape`].
    pub fn new(
        config: ConnectionConfig,
        peer: &Handshake,
        shape: Option<TorrentShape>,
        now: Instant,
    ) -> Self {
        let mut decoder = Decoder::after_handshake(config.limits, config.extensions);
        if let Some(s) = shape {
            decoder.set_piece_count(s.piece_count());
        }
        let cancel_memory = config.recent_cancel_memory;
        Connection {
            fast: config.reserved.fast() && peer.reserved.fast(),
            extended: config.reserved.extension_protocol() && peer.reserved.extension_protocol(),
            config,
            decoder,
            shape,
            peer: *peer,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            peer_pieces: PeerPieces::Unknown,
            early_bitfield: None,
            early_haves: Vec::new(),
            peer_pieces_window: true,
            our_pieces_window: true,
            announced: None,
            peer_ext: None,
            our_ext_sent: false,
            fountain: false,
            our_requests: BTreeMap::new(),
            cancelled: Recent::new(cancel_memory),
            our_symbols: PendingSymbols::default(),
            cancelled_symbol_pieces: Recent::new(cancel_memory),
            our_metadata_requests: BTreeSet::new(),
            allowed_fast_in: BTreeSet::new(),
            peer_requests: BTreeSet::new(),
            peer_symbols: PendingSymbols::default(),
            allowed_fast_out: BTreeSet::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            last_received: now,
            last_sent: now,
        }
    }

    // ----- state -----

    /// The peer's handshake.
    pub fn peer_handshake(&self) -> &Handshake {
        &self.peer
    }

    /// Whether both sides set the fast extension bit.
    pub fn fast(&self) -> bool {
        self.fast
    }

    /// Whether both sides set the extension protocol bit.
    pub fn extension_protocol(&self) -> bool {
        self.extended
    }

    /// Whether bf_raptorq is usable: we sent our extended handshake offering it and the
    /// peer's offers it with the same version and symbol size.
    pub fn fountain(&self) -> bool {
        self.fountain
    }

    /// Whether we choke the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether we are interested in the peer.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Whether the peer chokes us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether the peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// The torrent's shape, once known.
    pub fn shape(&self) -> Option<&TorrentShape> {
        self.shape.as_ref()
    }

    /// The peer's pieces as far as known.
    pub fn peer_pieces(&self) -> &PeerPieces {
        &self.peer_pieces
    }

    /// Whether the peer has `piece`.
    pub fn peer_has(&self, piece: u32) -> bool {
        match &self.peer_pieces {
            PeerPieces::All => self.shape.is_some_and(|s| piece < s.piece_count()),
            PeerPieces::Some(b) => b.get(piece),
            PeerPieces::Unknown | PeerPieces::None => false,
        }
    }

    /// The peer's latest extended handshake.
    pub fn peer_extended_handshake(&self) -> Option<&ExtendedHandshake> {
        self.peer_ext.as_deref()
    }

    /// Our outstanding block requests and when each was sent.
    pub fn outstanding_requests(&self) -> impl Iterator<Item = (BlockRequest, Instant)> + '_ {
        self.our_requests.iter().map(|(r, t)| (*r, *t))
    }

    /// Our outstanding symbol ranges and when each was sent.
    pub fn outstanding_symbols(&self) -> impl Iterator<Item = (SymbolRange, Instant)> + '_ {
        self.our_symbols.iter()
    }

    /// Block requests from the peer not yet served, rejected or cancelled.
    pub fn peer_requests(&self) -> impl Iterator<Item = BlockRequest> + '_ {
        self.peer_requests.iter().copied()
    }

    /// Symbol ranges the peer requested and we have not yet served or rejected.
    pub fn peer_symbol_requests(&self) -> impl Iterator<Item = SymbolRange> + '_ {
        self.peer_symbols.iter().map(|(r, _)| r)
    }

    /// Pieces the peer allows us to request while choked.
    pub fn allowed_fast(&self) -> impl Iterator<Item = u32> + '_ {
        self.allowed_fast_in.iter().copied()
    }

    /// When the last message arrived.
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// When the last message was handed out for sending.
    pub fn last_sent(&self) -> Instant {
        self.last_sent
    }

    /// The metadata arrived (magnet links): from now on piece indexes and bitfields are
    /// checked against `shape`, and what the peer sent before is checked now.
    pub fn set_shape(&mut self, shape: TorrentShape) -> Result<(), ProtocolError> {
        if let Some(old) = self.shape {
            return if old == shape {
                Ok(())
            } else {
                Err(ProtocolError::ShapeChanged)
            };
        }
        let n = shape.piece_count();
        self.shape = Some(shape);
        self.decoder.set_piece_count(n);
        if let Some(raw) = self.early_bitfield.take() {
            self.peer_pieces = PeerPieces::Some(Bitfield::from_bytes(&raw, n)?);
        }
        let early = std::mem::take(&mut self.early_haves);
        for (i, &byte) in early.iter().enumerate() {
            for bit in 0..8u32 {
                if byte & (0x80 >> bit) != 0 {
                    let piece = i as u32 * 8 + bit;
                    self.check_piece(piece)?;
                    self.record_have(piece);
                }
            }
        }
        Ok(())
    }

    // ----- input -----

    /// Decodes and handles every complete message in `buf`; returns how many.
    pub fn receive(&mut self, buf: &mut BytesMut, now: Instant) -> Result<usize, ProtocolError> {
        let mut n = 0;
        // Bounded: every message takes at least four bytes off `buf`.
        while let Some(msg) = self.decoder.decode_message(buf)? {
            self.handle(msg, now)?;
            n += 1;
        }
        Ok(n)
    }

    /// Handles one message received at `now`.
    pub fn handle(&mut self, msg: Message, now: Instant) -> Result<(), ProtocolError> {
        self.last_received = now;
        let keeps_window = matches!(
            msg,
            Message::KeepAlive | Message::Port(_) | Message::Extended(_) | Message::Unknown { .. }
        );
        let result = self.dispatch(msg, now);
        if !keeps_window {
            self.peer_pieces_window = false;
        }
        result
    }

    fn dispatch(&mut self, msg: Message, now: Instant) -> Result<(), ProtocolError> {
        match msg {
            Message::KeepAlive | Message::Unknown { .. } => {}
            Message::Choke => self.on_choke(),
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.events.push_back(Event::Unchoked);
                }
            }
            Message::Interested => {
                if !self.peer_interested {
                    self.peer_interested = true;
                    self.events.push_back(Event::Interested);
                }
            }
            Message::NotInterested => {
                if self.peer_interested {
                    self.peer_interested = false;
                    self.events.push_back(Event::NotInterested);
                }
            }
            Message::Have(piece) => self.on_have(piece)?,
            Message::Bitfield(bits) => self.on_bitfield(bits)?,
            Message::HaveAll => {
                self.require_fast()?;
                // BEP 6 wants it first, but aria2 also sends it when it completes a download,
                // in place of HAVEs. Pieces are only ever gained, so it is taken as that.
                if self.peer_pieces != PeerPieces::All {
                    self.peer_pieces = PeerPieces::All;
                    self.early_bitfield = None;
                    self.early_haves.clear();
                    self.events.push_back(Event::HaveAll);
                }
            }
            Message::HaveNone => {
                self.require_fast()?;
                self.check_pieces_window("have none")?;
                self.peer_pieces = PeerPieces::None;
                self.events.push_back(Event::HaveNone);
            }
            Message::Request(r) => self.on_request(r)?,
            Message::Piece(block) => {
                let r = block.request();
                if self.our_requests.remove(&r).is_some() {
                    self.events.push_back(Event::Block(block));
                } else if self.cancelled.contains(&r) {
                    self.events.push_back(Event::LateBlock(block));
                } else {
                    return Err(ProtocolError::UnrequestedBlock(r));
                }
            }
            Message::Cancel(r) => {
                if self.peer_requests.remove(&r) {
                    // BEP 6: every request gets exactly one answer, a cancelled one a reject.
                    if self.fast {
                        self.send(Message::Reject(r));
                    }
                    self.events.push_back(Event::Cancel(r));
                }
            }
            Message::Port(p) => self.events.push_back(Event::Port(p)),
            Message::Suggest(piece) => {
                self.require_fast()?;
                self.check_piece(piece)?;
                self.events.push_back(Event::Suggest(piece));
            }
            Message::Reject(r) => {
                self.require_fast()?;
                if self.our_requests.remove(&r).is_some() {
                    self.events.push_back(Event::Rejected(r));
                } else if !self.cancelled.contains(&r) {
                    return Err(ProtocolError::UnrequestedReject(r));
                }
            }
            Message::AllowedFast(piece) => {
                self.require_fast()?;
                self.check_piece(piece)?;
                if self.allowed_fast_in.len() < self.config.max_allowed_fast
                    && self.allowed_fast_in.insert(piece)
                {
                    self.events.push_back(Event::AllowedFast(piece));
                }
            }
            Message::Extended(ext) => {
                if !self.extended {
                    return Err(ProtocolError::NotNegotiated(EXTENSION_PROTOCOL));
                }
                self.on_extended(ext, now)?;
            }
        }
        Ok(())
    }

    fn require_fast(&self) -> Result<(), ProtocolError> {
        if self.fast {
            Ok(())
        } else {
            Err(ProtocolError::NotNegotiated(FAST))
        }
    }

    fn check_pieces_window(&mut self, what: &'static str) -> Result<(), ProtocolError> {
        if self.peer_pieces_window {
            Ok(())
        } else {
            Err(ProtocolError::PiecesNotFirst(what))
        }
    }

    /// Checks a piece index against the shape, or before it is known against the most
    /// pieces a bitfield within the limits could describe.
    fn check_piece(&self, piece: u32) -> Result<(), ProtocolError> {
        let piece_count = match self.shape {
            Some(s) => s.piece_count(),
            None => self.max_unknown_pieces(),
        };
        if piece < piece_count {
            Ok(())
        } else {
            Err(ProtocolError::PieceOutOfRange { piece, piece_count })
        }
    }

    fn max_unknown_pieces(&self) -> u32 {
        u32::try_from(self.config.limits.max_bitfield_len.saturating_mul(8)).unwrap_or(u32::MAX)
    }

    fn on_choke(&mut self) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        let (mut dropped, mut dropped_symbols) = (Vec::new(), Vec::new());
        // BEP 3: a choke discards every request. BEP 6 changes that: they stay pending until
        // served or rejected.
        if !self.fast {
            dropped = std::mem::take(&mut self.our_requests).into_keys().collect();
            for r in &dropped {
                self.cancelled.push(*r);
            }
            dropped_symbols = self.our_symbols.remove_where(|_| true);
            for r in &dropped_symbols {
                self.cancelled_symbol_pieces.push(r.piece);
            }
        }
        self.events.push_back(Event::Choked {
            dropped,
            dropped_symbols,
        });
    }

    fn on_have(&mut self, piece: u32) -> Result<(), ProtocolError> {
        self.check_piece(piece)?;
        if self.shape.is_some() {
            if self.record_have(piece) {
                self.events.push_back(Event::Have(piece));
            }
        } else {
            let byte = (piece / 8) as usize;
            if self.early_haves.len() <= byte {
                self.early_haves.resize(byte + 1, 0);
            }
            self.early_haves[byte] |= 0x80 >> (piece % 8);
        }
        Ok(())
    }

    /// Adds a piece (index already checked) to the peer's set; whether it is new.
    fn record_have(&mut self, piece: u32) -> bool {
        let Some(shape) = self.shape else {
            return false;
        };
        match &mut self.peer_pieces {
            PeerPieces::All => false,
            PeerPieces::Some(b) => b.set(piece),
            PeerPieces::Unknown | PeerPieces::None => {
                let mut b = Bitfield::new(shape.piece_count());
                let new = b.set(piece);
                self.peer_pieces = PeerPieces::Some(b);
                new
            }
        }
    }

    fn on_bitfield(&mut self, bits: Bytes) -> Result<(), ProtocolError> {
        self.check_pieces_window("bitfield")?;
        match self.shape {
            Some(s) => {
                self.peer_pieces = PeerPieces::Some(Bitfield::from_bytes(&bits, s.piece_count())?);
            }
            None => {
                if bits.len() > self.config.limits.max_bitfield_len {
                    return Err(ProtocolError::BitfieldLength {
                        expected: self.config.limits.max_bitfield_len,
                        got: bits.len(),
                    });
                }
                // Copied: a slice would pin the whole receive buffer until the metadata came.
                self.early_bitfield = Some(Bytes::copy_from_slice(&bits));
            }
        }
        self.events.push_back(Event::Bitfield);
        Ok(())
    }

    fn on_request(&mut self, r: BlockRequest) -> Result<(), ProtocolError> {
        let Some(shape) = self.shape else {
            // We cannot have any piece before we have the metadata.
            self.refuse(r);
            return Ok(());
        };
        if !shape.contains(&r) {
            return Err(ProtocolError::InvalidRequest(r));
        }
        let choked = self.am_choking && !(self.fast && self.allowed_fast_out.contains(&r.piece));
        if r.length > self.config.limits.max_block_len
            || !self.announced(r.piece)
            || choked
            || self.incoming_queued() >= self.config.max_incoming_requests as u64
        {
            self.refuse(r);
        } else if self.peer_requests.insert(r) {
            self.events.push_back(Event::Request(r));
        }
        Ok(())
    }

    /// Whether we announced `piece` (we serve nothing else).
    fn announced(&self, piece: u32) -> bool {
        self.announced.as_ref().is_some_and(|b| b.get(piece))
    }

    /// Requests of the peer's that we hold, blocks and symbols alike (they share `reqq`).
    fn incoming_queued(&self) -> u64 {
        self.peer_requests.len() as u64 + self.peer_symbols.total()
    }

    /// A request we will not serve: rejected with the fast extension, ignored without.
    fn refuse(&mut self, r: BlockRequest) {
        if self.fast {
            self.send(Message::Reject(r));
        }
    }

    fn on_extended(&mut self, ext: Extended, now: Instant) -> Result<(), ProtocolError> {
        match ext {
            Extended::Handshake(hs) => {
                self.peer_ext = Some(hs);
                self.update_fountain();
                self.events.push_back(Event::ExtendedHandshake);
            }
            Extended::Metadata { message, .. } => match message {
                MetadataMessage::Request { piece } => {
                    self.events.push_back(Event::MetadataRequest(piece));
                }
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    // Unrequested metadata is dropped: harmless, and the engine only wants
                    // what it asked for.
                    if self.our_metadata_requests.remove(&piece) {
                        self.events.push_back(Event::MetadataData {
                            piece,
                            total_size,
                            data,
                        });
                    }
                }
                MetadataMessage::Reject { piece } => {
                    if self.our_metadata_requests.remove(&piece) {
                        self.events.push_back(Event::MetadataRejected(piece));
                    }
                }
                // BEP 9: unknown message types are ignored.
                MetadataMessage::Unknown { .. } => {}
            },
            Extended::Fountain { message, .. } => {
                if !self.fountain {
                    return Err(ProtocolError::NotNegotiated(FOUNTAIN));
                }
                self.on_fountain(message, now)?;
            }
            Extended::Unknown { .. } => {}
        }
        Ok(())
    }

    fn update_fountain(&mut self) {
        let ours = &self.config.extensions;
        let offered = ours.bf_raptorq != 0 && ours.bf_raptorq != ours.ut_metadata;
        let now_on = self.our_ext_sent
            && offered
            && self.peer_ext.as_ref().is_some_and(|p| {
                p.extension_id(BF_RAPTORQ).is_some() && p.fountain == Some(ours.fountain)
            });
        if self.fountain && !now_on {
            // The peer withdrew the extension: nothing outstanding will be answered.
            for r in self.our_symbols.remove_where(|_| true) {
                self.cancelled_symbol_pieces.push(r.piece);
                self.events.push_back(Event::SymbolsRejected(r));
            }
            self.peer_symbols.remove_where(|_| true);
        }
        self.fountain = now_on;
    }

    fn on_fountain(&mut self, msg: FountainMessage, now: Instant) -> Result<(), ProtocolError> {
        if let (Some(shape), Some(piece)) = (self.shape, msg.piece()) {
            if piece >= shape.piece_count() {
                return Err(ProtocolError::PieceOutOfRange {
                    piece,
                    piece_count: shape.piece_count(),
                });
            }
        }
        match msg {
            FountainMessage::SymbolRequest(r) => self.on_symbol_request(r, now)?,
            FountainMessage::Symbol { piece, esi, data } => {
                if self.our_symbols.take_one(piece, esi) {
                    self.events.push_back(Event::Symbol { piece, esi, data });
                } else if self.cancelled_symbol_pieces.contains(&piece) {
                    self.events
                        .push_back(Event::LateSymbol { piece, esi, data });
                } else {
                    return Err(ProtocolError::UnrequestedSymbol { piece, esi });
                }
            }
            FountainMessage::SymbolCancel { piece } => {
                if !self.peer_symbols.remove_where(|p| p == piece).is_empty() {
                    self.events.push_back(Event::SymbolCancel(piece));
                }
            }
            FountainMessage::SymbolReject(r) => {
                let removed = self.our_symbols.remove_range(&r);
                if removed.is_empty() && !self.cancelled_symbol_pieces.contains(&r.piece) {
                    return Err(ProtocolError::UnrequestedSymbolReject(r));
                }
                self.events
                    .extend(removed.into_iter().map(Event::SymbolsRejected));
            }
            // The extension says to ignore types it does not define (room for later ones).
            FountainMessage::Unknown { .. } => {}
        }
        Ok(())
    }

    fn on_symbol_request(&mut self, r: SymbolRange, now: Instant) -> Result<(), ProtocolError> {
        if !r.is_valid() {
            return Err(ProtocolError::Decode(crate::error::DecodeError::ZeroCount));
        }
        let reject = |this: &mut Self| {
            let m = this.fountain_msg(FountainMessage::SymbolReject(r));
            this.send(m);
        };
        // Before the metadata we have no piece; past the cap or outside what we announced
        // nothing is served (the requester broke the spec, but a reject is enough).
        let Some(cap) = self.esi_cap(r.piece) else {
            reject(self);
            return Ok(());
        };
        if r.end() > u64::from(cap)
            || !self.announced(r.piece)
            || self.incoming_queued() + u64::from(r.count)
                > self.config.max_incoming_requests as u64
        {
            reject(self);
        } else if self.am_choking && !(self.fast && self.allowed_fast_out.contains(&r.piece)) {
            // As for REQUEST: rejected with the fast extension, dropped silently without.
            if self.fast {
                reject(self);
            }
        } else {
            self.peer_symbols.insert(r, now);
            self.events.push_back(Event::SymbolRequest(r));
        }
        Ok(())
    }

    /// The ESI cap of a piece (2K + 64, K = its number of source symbols), once the shape is
    /// known: valid ESIs are below it.
    pub fn esi_cap(&self, piece: u32) -> Option<u32> {
        let len = self.shape?.piece_len(piece)?;
        let t = self.config.extensions.fountain.symbol_size.max(1);
        let k = len.div_ceil(t);
        Some(
            k.saturating_mul(2)
                .saturating_add(64)
                .min(crate::fountain::ESI_LIMIT),
        )
    }

    /// How many more requests (blocks, or symbols, alike) may be sent now: the configured
    /// bound, or the peer's `reqq` if lower, minus what is outstanding.
    pub fn request_capacity(&self) -> usize {
        let reqq = self
            .peer_ext
            .as_ref()
            .and_then(|p| p.reqq)
            .filter(|&q| q > 0)
            .map_or(usize::MAX, |q| q as usize);
        let limit = self.config.max_outgoing_requests.min(reqq) as u64;
        let outstanding = self.our_requests.len() as u64 + self.our_symbols.total();
        limit.saturating_sub(outstanding) as usize
    }

    // ----- output -----

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next message to send; `now` is recorded as the time of the last send.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Message> {
        let m = self.outbox.pop_front()?;
        self.last_sent = now;
        Some(m)
    }

    /// Encodes every queued message into `buf`; returns how many.
    pub fn encode_pending(&mut self, buf: &mut BytesMut, now: Instant) -> usize {
        let mut n = 0;
        while let Some(m) = self.poll_transmit(now) {
            m.encode(buf);
            n += 1;
        }
        n
    }

    /// Whether messages wait to be sent.
    pub fn has_pending_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Queues a keep-alive if nothing was sent for the keep-alive interval; call it from a
    /// timer. Whether one was queued.
    pub fn poll_keepalive(&mut self, now: Instant) -> bool {
        let due = self.outbox.is_empty()
            && now.saturating_duration_since(self.last_sent) >= self.config.keepalive_interval;
        if due {
            self.outbox.push_back(Message::KeepAlive);
        }
        due
    }

    fn send(&mut self, m: Message) {
        if !matches!(
            m,
            Message::KeepAlive | Message::Port(_) | Message::Extended(Extended::Handshake(_))
        ) {
            self.our_pieces_window = false;
        }
        self.outbox.push_back(m);
    }

    /// Our piece set, as the first message: HAVE ALL / HAVE NONE when both speak the fast
    /// extension and they fit, else a BITFIELD (nothing at all for an empty set without it).
    pub fn send_pieces(&mut self, ours: &Bitfield) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if !self.our_pieces_window {
            return Err(SendError::PiecesNotFirst);
        }
        if ours.len() != shape.piece_count() {
            return Err(SendError::BitfieldLength);
        }
        self.announced = Some(ours.clone());
        let m = match (self.fast, ours.is_full(), ours.is_none()) {
            (true, true, _) => Message::HaveAll,
            (true, _, true) => Message::HaveNone,
            (false, _, true) => {
                self.our_pieces_window = false;
                return Ok(());
            }
            _ => Message::Bitfield(Bytes::copy_from_slice(ours.as_bytes())),
        };
        self.send(m);
        Ok(())
    }

    /// Choke the peer. Without the fast extension its block and symbol requests are dropped
    /// silently; with it each is rejected (REJECT, SYMBOL_REJECT), except those for
    /// allowed-fast pieces.
    pub fn choke(&mut self) {
        if self.am_choking {
            return;
        }
        self.am_choking = true;
        self.send(Message::Choke);
        let fast = self.fast;
        let keep = |piece: &u32, allowed: &BTreeSet<u32>| fast && allowed.contains(piece);
        let (kept, dropped): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut self.peer_requests)
            .into_iter()
            .partition(|r| keep(&r.piece, &self.allowed_fast_out));
        self.peer_requests = kept;
        if fast {
            for r in dropped {
                self.send(Message::Reject(r));
            }
        }
        let allowed = self.allowed_fast_out.clone();
        for r in self.peer_symbols.remove_where(|p| !keep(&p, &allowed)) {
            if fast {
                let m = self.fountain_msg(FountainMessage::SymbolReject(r));
                self.send(m);
            }
        }
    }

    /// Unchoke the peer.
    pub fn unchoke(&mut self) {
        if self.am_choking {
            self.am_choking = false;
            self.send(Message::Unchoke);
        }
    }

    /// Tell the peer we are interested (no-op if already).
    pub fn interested(&mut self) {
        if !self.am_interested {
            self.am_interested = true;
            self.send(Message::Interested);
        }
    }

    /// Tell the peer we are not interested (no-op if already).
    pub fn not_interested(&mut self) {
        if self.am_interested {
            self.am_interested = false;
            self.send(Message::NotInterested);
        }
    }

    /// Announce a piece we now have.
    pub fn have(&mut self, piece: u32) -> Result<(), SendError> {
        self.check_own_piece(piece)?;
        if let Some(shape) = self.shape {
            self.announced
                .get_or_insert_with(|| Bitfield::new(shape.piece_count()))
                .set(piece);
        }
        self.send(Message::Have(piece));
        Ok(())
    }

    fn check_own_piece(&self, piece: u32) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if piece < shape.piece_count() {
            Ok(())
        } else {
            Err(SendError::PieceOutOfRange)
        }
    }

    /// Request a block at `now`.
    pub fn request(&mut self, r: BlockRequest, now: Instant) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if !shape.contains(&r) || r.length > self.config.limits.max_block_len {
            return Err(SendError::InvalidRequest);
        }
        if !self.peer_has(r.piece) {
            return Err(SendError::PeerLacksPiece);
        }
        if self.peer_choking && !(self.fast && self.allowed_fast_in.contains(&r.piece)) {
            return Err(SendError::Choked);
        }
        if self.our_requests.contains_key(&r) {
            return Err(SendError::AlreadyRequested);
        }
        if self.request_capacity() == 0 {
            return Err(SendError::TooManyRequests);
        }
        self.our_requests.insert(r, now);
        self.send(Message::Request(r));
        Ok(())
    }

    /// Cancel an outstanding request. Its block may still arrive ([`Event::LateBlock`]).
    pub fn cancel(&mut self, r: BlockRequest) -> Result<(), SendError> {
        if self.our_requests.remove(&r).is_none() {
            return Err(SendError::NotRequested);
        }
        self.cancelled.push(r);
        self.send(Message::Cancel(r));
        Ok(())
    }

    /// Serve a block the peer requested (`data` must be exactly the requested length).
    pub fn send_block(&mut self, block: Block) -> Result<(), SendError> {
        if !self.peer_requests.remove(&block.request()) {
            return Err(SendError::NotRequested);
        }
        self.send(Message::Piece(block));
        Ok(())
    }

    /// Refuse a request: a REJECT with the fast extension, silence without.
    pub fn reject(&mut self, r: BlockRequest) -> Result<(), SendError> {
        if !self.peer_requests.remove(&r) {
            return Err(SendError::NotRequested);
        }
        if self.fast {
            self.send(Message::Reject(r));
        }
        Ok(())
    }

    /// Let the peer request `piece` while choked (fast extension).
    pub fn allow_fast(&mut self, piece: u32) -> Result<(), SendError> {
        if !self.fast {
            return Err(SendError::NotNegotiated(FAST));
        }
        self.check_own_piece(piece)?;
        if self.allowed_fast_out.insert(piece) {
            self.send(Message::AllowedFast(piece));
        }
        Ok(())
    }

    /// Suggest a piece (fast extension).
    pub fn suggest(&mut self, piece: u32) -> Result<(), SendError> {
        if !self.fast {
            return Err(SendError::NotNegotiated(FAST));
        }
        self.check_own_piece(piece)?;
        self.send(Message::Suggest(piece));
        Ok(())
    }

    /// Tell the peer our DHT port.
    pub fn port(&mut self, port: u16) {
        self.send(Message::Port(port));
    }

    /// Send our extended handshake. Its `m` entries for ut_metadata and bf_raptorq and its
    /// `bf_raptorq` dictionary are set from the configuration; other fields are the
    /// caller's (listen port, client, `yourip`, `reqq`, `metadata_size`).
    pub fn send_extended_handshake(&mut self, mut hs: ExtendedHandshake) -> Result<(), SendError> {
        if !self.extended {
            return Err(SendError::NotNegotiated(EXTENSION_PROTOCOL));
        }
        self.config.extensions.apply_to(&mut hs);
        self.our_ext_sent = true;
        self.update_fountain();
        self.send(Message::Extended(Extended::Handshake(Box::new(hs))));
        Ok(())
    }

    fn peer_ext_id(&self, name: &'static str) -> Result<u8, SendError> {
        if !self.extended {
            return Err(SendError::NotNegotiated(EXTENSION_PROTOCOL));
        }
        self.peer_ext
            .as_ref()
            .and_then(|p| p.extension_id(name))
            .ok_or(SendError::NotNegotiated(name))
    }

    fn send_metadata_msg(&mut self, message: MetadataMessage) -> Result<(), SendError> {
        let id = self
            .peer_ext_id(UT_METADATA)
            .map_err(|_| SendError::NotNegotiated(METADATA))?;
        self.send(Message::Extended(Extended::Metadata { id, message }));
        Ok(())
    }

    /// Ask for a metadata piece.
    pub fn request_metadata(&mut self, piece: u32) -> Result<(), SendError> {
        if self.our_metadata_requests.contains(&piece) {
            return Err(SendError::AlreadyRequested);
        }
        self.send_metadata_msg(MetadataMessage::Request { piece })?;
        self.our_metadata_requests.insert(piece);
        Ok(())
    }

    /// Send a metadata piece (at most 16 KiB).
    pub fn send_metadata(
        &mut self,
        piece: u32,
        total_size: u32,
        data: Bytes,
    ) -> Result<(), SendError> {
        if data.len() > crate::metadata::METADATA_PIECE_LEN {
            return Err(SendError::InvalidRequest);
        }
        self.send_metadata_msg(MetadataMessage::Data {
            piece,
            total_size,
            data,
        })
    }

    /// Refuse a metadata piece.
    pub fn reject_metadata(&mut self, piece: u32) -> Result<(), SendError> {
        self.send_metadata_msg(MetadataMessage::Reject { piece })
    }

    /// Wraps a fountain message with the peer's extension id (0 if it never gave one, which
    /// only happens for answers to messages that were themselves not negotiated).
    fn fountain_msg(&self, message: FountainMessage) -> Message {
        let id = self
            .peer_ext
            .as_ref()
            .and_then(|p| p.extension_id(BF_RAPTORQ))
            .unwrap_or(0);
        Message::Extended(Extended::Fountain { id, message })
    }

    fn require_fountain(&self) -> Result<(), SendError> {
        if self.fountain {
            Ok(())
        } else {
            Err(SendError::NotNegotiated(FOUNTAIN))
        }
    }

    /// Ask for a range of symbols at `now`.
    pub fn request_symbols(&mut self, r: SymbolRange, now: Instant) -> Result<(), SendError> {
        self.require_fountain()?;
        self.check_own_piece(r.piece)?;
        if !r.is_valid() {
            return Err(SendError::InvalidRequest);
        }
        if !self.peer_has(r.piece) {
            return Err(SendError::PeerLacksPiece);
        }
        if self.peer_choking && !(self.fast && self.allowed_fast_in.contains(&r.piece)) {
            return Err(SendError::Choked);
        }
        if self.our_symbols.overlaps(&r) {
            return Err(SendError::AlreadyRequested);
        }
        if self
            .esi_cap(r.piece)
            .is_none_or(|cap| r.end() > u64::from(cap))
        {
            return Err(SendError::InvalidRequest);
        }
        if self.request_capacity() < r.count as usize {
            return Err(SendError::TooManyRequests);
        }
        self.our_symbols.insert(r, now);
        let m = self.fountain_msg(FountainMessage::SymbolRequest(r));
        self.send(m);
        Ok(())
    }

    /// Withdraw every symbol request for `piece` (e.g. once it verified). Symbols already on
    /// the wire still arrive, as [`Event::LateSymbol`]. With nothing outstanding for `piece`
    /// (or a piece out of range) nothing is sent: [`SendError::NotRequested`].
    pub fn cancel_symbols(&mut self, piece: u32) -> Result<(), SendError> {
        self.require_fountain()?;
        if self.our_symbols.remove_where(|p| p == piece).is_empty() {
            return Err(SendError::NotRequested);
        }
        self.cancelled_symbol_pieces.push(piece);
        let m = self.fountain_msg(FountainMessage::SymbolCancel { piece });
        self.send(m);
        Ok(())
    }

    /// Serve one requested symbol (`data` must be exactly T bytes).
    pub fn send_symbol(&mut self, piece: u32, esi: u32, data: Bytes) -> Result<(), SendError> {
        self.require_fountain()?;
        if data.len() != self.config.extensions.fountain.symbol_size as usize {
            return Err(SendError::SymbolSize);
        }
        if !self.peer_symbols.take_one(piece, esi) {
            return Err(SendError::NotRequested);
        }
        let m = self.fountain_msg(FountainMessage::Symbol { piece, esi, data });
        self.send(m);
        Ok(())
    }

    /// Refuse the requested symbols of `r` (those not requested are left out).
    pub fn reject_symbols(&mut self, r: SymbolRange) -> Result<(), SendError> {
        self.require_fountain()?;
        let removed = self.peer_symbols.remove_range(&r);
        if removed.is_empty() {
            return Err(SendError::NotRequested);
        }
        for r in removed {
            let m = self.fountain_msg(FountainMessage::SymbolReject(r));
            self.send(m);
        }
        Ok(())
    }
}
