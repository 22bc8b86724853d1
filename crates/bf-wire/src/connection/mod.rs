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
//!
//! The state and the dispatch of incoming messages live here; each protocol's rules in its
//! own file: `pieces` (piece sets), `blocks` (requests, choking, interest), `metadata`
//! (ut_metadata), `fountain` (bf_raptorq), `output` (the outbox), `timers` (deadlines).

mod blocks;
mod config;
mod events;
mod fountain;
mod metadata;
mod output;
mod pieces;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use config::ConnectionConfig;
pub use events::{Event, PeerPieces};

use crate::bitfield::Bitfield;
use crate::decoder::Decoder;
use crate::error::{ProtocolError, SendError};
use crate::extended::ExtendedHandshake;
use crate::fountain::SymbolRange;
use crate::handshake::Handshake;
use crate::message::{BlockRequest, Extended, Message};
use crate::pending::{PendingSymbols, Recent};
use crate::shape::TorrentShape;

const FAST: &str = "fast extension (BEP 6)";
const EXTENSION_PROTOCOL: &str = "extension protocol (BEP 10)";
const METADATA: &str = "ut_metadata (BEP 9)";
const FOUNTAIN: &str = "bf_raptorq";

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
    /// The peer's id for bf_raptorq while the extension is usable (both offer it with the
    /// same parameters and ours was sent): the id, not a flag, so that no fountain message
    /// can go out under a made-up one.
    fountain: Option<u8>,

    our_requests: BTreeMap<BlockRequest, Instant>,
    cancelled: Recent<BlockRequest>,
    our_symbols: PendingSymbols,
    cancelled_symbol_pieces: Recent<u32>,
    /// Our ut_metadata requests and when each was sent (they time out).
    our_metadata_requests: BTreeMap<u32, Instant>,
    allowed_fast_in: BTreeSet<u32>,

    peer_requests: BTreeSet<BlockRequest>,
    peer_symbols: PendingSymbols,
    allowed_fast_out: BTreeSet<u32>,

    events: VecDeque<Event>,
    outbox: VecDeque<Message>,
    /// Where `encode_pending_vectored` coalesces small messages; frozen pieces of it go out.
    scratch: BytesMut,
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
            fountain: None,
            our_requests: BTreeMap::new(),
            cancelled: Recent::new(cancel_memory),
            our_symbols: PendingSymbols::default(),
            cancelled_symbol_pieces: Recent::new(cancel_memory),
            our_metadata_requests: BTreeMap::new(),
            allowed_fast_in: BTreeSet::new(),
            peer_requests: BTreeSet::new(),
            peer_symbols: PendingSymbols::default(),
            allowed_fast_out: BTreeSet::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            scratch: BytesMut::new(),
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
        self.fountain.is_some()
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

    /// Our outstanding ut_metadata requests and when each was sent.
    pub fn outstanding_metadata_requests(&self) -> impl Iterator<Item = (u32, Instant)> + '_ {
        self.our_metadata_requests.iter().map(|(p, t)| (*p, *t))
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
            Message::HaveAll => self.on_have_all()?,
            Message::HaveNone => self.on_have_none()?,
            Message::Request(r) => self.on_request(r)?,
            Message::Piece(block) => self.on_piece(block)?,
            Message::Cancel(r) => self.on_cancel(r),
            Message::Port(p) => self.events.push_back(Event::Port(p)),
            Message::Suggest(piece) => {
                self.require_fast()?;
                self.check_piece(piece)?;
                self.events.push_back(Event::Suggest(piece));
            }
            Message::Reject(r) => self.on_reject(r)?,
            Message::AllowedFast(piece) => self.on_allowed_fast(piece)?,
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

    fn on_extended(&mut self, ext: Extended, now: Instant) -> Result<(), ProtocolError> {
        match ext {
            Extended::Handshake(hs) => {
                self.peer_ext = Some(hs);
                self.update_fountain();
                self.events.push_back(Event::ExtendedHandshake);
            }
            Extended::Metadata { message, .. } => self.on_metadata(message)?,
            Extended::Pex { message, .. } => self.events.push_back(Event::Pex(message)),
            Extended::Fountain { message, .. } => {
                if self.fountain.is_none() {
                    return Err(ProtocolError::NotNegotiated(FOUNTAIN));
                }
                self.on_fountain(message, now)?;
            }
            Extended::Unknown { .. } => {}
        }
        Ok(())
    }

    // ----- our messages -----

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

    /// Whether the peer takes ut_pex messages (it said so in its extended handshake).
    pub fn peer_takes_pex(&self) -> bool {
        self.peer_ext_id(crate::extended::UT_PEX).is_ok()
    }

    /// Send a ut_pex message (BEP 11: at most one a minute; the caller keeps to that).
    pub fn send_pex(&mut self, message: crate::pex::PexMessage) -> Result<(), SendError> {
        let id = self.peer_ext_id(crate::extended::UT_PEX)?;
        self.send(Message::Extended(Extended::Pex { id, message }));
        Ok(())
    }

    /// The id the peer assigned to extension `name`.
    fn peer_ext_id(&self, name: &'static str) -> Result<u8, SendError> {
        if !self.extended {
            return Err(SendError::NotNegotiated(EXTENSION_PROTOCOL));
        }
        self.peer_ext
            .as_ref()
            .and_then(|p| p.extension_id(name))
            .ok_or(SendError::NotNegotiated(name))
    }
}
