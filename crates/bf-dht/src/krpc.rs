//! KRPC, the DHT's message format (BEP 5): bencoded dictionaries over UDP, one per
//! datagram. Decoding checks every field it uses and refuses the rest of the input's
//! oddities with a [`KrpcError`]; it never panics and allocates at most the datagram's size.

use std::net::{Ipv4Addr, SocketAddrV4};

use bf_bencode::{Decoder, Dict, Limits, Mode, Value};

use crate::id::NodeId;

/// The longest datagram decoded; longer ones are refused unread.
pub const MAX_DATAGRAM: usize = 1500;
/// The longest transaction id or token echoed back (libtorrent's rule: they are ours to
/// repeat, so they must not make our answers large).
pub const MAX_ECHO: usize = 20;
/// Most peers put in one `get_peers` answer (stays within one datagram).
pub const MAX_VALUES: usize = 50;

/// A node's contact: its id and UDP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contact {
    /// Node id.
    pub id: NodeId,
    /// UDP address.
    pub addr: SocketAddrV4,
}

/// What a query asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `ping`.
    Ping,
    /// `find_node`: the contacts closest to `target`.
    FindNode {
        /// Target id.
        target: NodeId,
    },
    /// `get_peers`: peers of `info_hash`, or the contacts closest to it, and a token.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
    },
    /// `announce_peer`: the sender has `info_hash` on TCP `port` (or on its UDP source
    /// port with `implied_port`).
    AnnouncePeer {
        /// The torrent.
        info_hash: NodeId,
        /// TCP port.
        port: u16,
        /// Use the datagram's source port instead of `port`.
        implied_port: bool,
        /// The token from our earlier `get_peers` answer.
        token: Vec<u8>,
    },
}

impl Query {
    fn name(&self) -> &'static [u8] {
        match self {
            Query::Ping => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
        }
    }
}

/// The body of an answer (every kind of answer has these fields, or some of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// Compact contacts (`nodes`).
    pub nodes: Vec<Contact>,
    /// Compact peers (`values`).
    pub values: Vec<SocketAddrV4>,
    /// The token for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A query from the node `id`.
    Query {
        /// Sender's id.
        id: NodeId,
        /// What it asks.
        query: Query,
        /// BEP 43: the sender is read-only (not to be put in routing tables).
        read_only: bool,
    },
    /// An answer from the node `id`.
    Reply {
        /// Sender's id.
        id: NodeId,
        /// What it says.
        reply: Reply,
    },
    /// An error (`e`): code and message.
    Error {
        /// Error code (201 generic, 202 server, 203 protocol, 204 method unknown).
        code: i64,
        /// Message.
        message: String,
    },
}

/// A message with its transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Transaction id (any short byte string; libtorrent's are 2 bytes).
    pub tid: Vec<u8>,
    /// What it is.
    pub body: Body,
}

/// Why a datagram is not a KRPC message we take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrpcError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes is too long")]
    TooLong(usize),
    /// Not bencode, or not a dictionary.
    #[error("not a bencoded dictionary: {0}")]
    Bencode(String),
    /// A field is missing or of the wrong kind or length.
    #[error("field {0}: missing or malformed")]
    Field(&'static str),
    /// A query of a kind we do not know.
    #[error("unknown query {0:?}")]
    UnknownQuery(String),
}

impl KrpcError {
    /// The KRPC error code an answer to such a query carries.
    pub fn code(&self) -> i64 {
        match self {
            KrpcError::UnknownQuery(_) => 204,
            _ => 203,
        }
    }
}

fn limits() -> Limits {
    Limits {
        max_depth: 4,
        max_bytes_len: MAX_DATAGRAM,
        max_items: 512,
    }
}

fn bytes<'a>(d: &'a Dict<'_>, key: &[u8], name: &'static str) -> Result<&'a [u8], KrpcError> {
    d.get(key)
        .and_then(Value::as_bytes)
        .ok_or(KrpcError::Field(name))
}

fn dict<'a, 'b>(
    d: &'a Dict<'b>,
    key: &[u8],
    name: &'static str,
) -> Result<&'a Dict<'b>, KrpcError> {
    d.get(key)
        .and_then(Value::as_dict)
        .ok_or(KrpcError::Field(name))
}

/// A byte string we will echo back (a transaction id, a token): at most [`MAX_ECHO`] bytes.
fn echo(d: &Dict<'_>, key: &[u8], name: &'static str) -> Result<Vec<u8>, KrpcError> {
    let b = bytes(d, key, name)?;
    if b.len() > MAX_ECHO {
        return Err(KrpcError::Field(name));
    }
    Ok(b.to_vec())
}

fn id_of(d: &Dict<'_>, key: &[u8], name: &'static str) -> Result<NodeId, KrpcError> {
    NodeId::from_slice(bytes(d, key, name)?).ok_or(KrpcError::Field(name))
}

/// Compact IPv4 contacts: 26 bytes each (id, address, port).
pub fn decode_nodes(b: &[u8]) -> Result<Vec<Contact>, KrpcError> {
    if b.len() % 26 != 0 {
        return Err(KrpcError::Field("nodes"));
    }
    Ok(b.chunks_exact(26)
        .filter_map(|c| {
            let id = NodeId::from_slice(&c[..20])?;
            let addr = compact_addr(&c[20..26])?;
            Some(Contact { id, addr })
        })
        .collect())
}

fn compact_addr(c: &[u8]) -> Option<SocketAddrV4> {
    let ip = Ipv4Addr::new(*c.first()?, *c.get(1)?, *c.get(2)?, *c.get(3)?);
    let port = u16::from_be_bytes([*c.get(4)?, *c.get(5)?]);
    (port != 0).then_some(SocketAddrV4::new(ip, port))
}

fn compact(a: &SocketAddrV4) -> [u8; 6] {
    let mut out = [0u8; 6];
    out[..4].copy_from_slice(&a.ip().octets());
    out[4..].copy_from_slice(&a.port().to_be_bytes());
    out
}

/// Compact contacts, as a `nodes` value.
pub fn encode_nodes(nodes: &[Contact]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * 26);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&compact(&n.addr));
    }
    out
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(datagram: &[u8]) -> Result<Message, KrpcError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(KrpcError::TooLong(datagram.len()));
        }
        let v = Decoder::new(Mode::Lenient)
            .with_limits(limits())
            .decode(datagram)
            .map_err(|e| KrpcError::Bencode(e.to_string()))?;
        let d = v
            .as_dict()
            .ok_or(KrpcError::Bencode("not a dictionary".into()))?;
        let tid = echo(d, b"t", "t")?;
        let body = match bytes(d, b"y", "y")? {
            b"q" => {
                let a = dict(d, b"a", "a")?;
                let id = id_of(a, b"id", "a.id")?;
                let query = match bytes(d, b"q", "q")? {
                    b"ping" => Query::Ping,
                    b"find_node" => Query::FindNode {
                        target: id_of(a, b"target", "a.target")?,
                    },
                    b"get_peers" => Query::GetPeers {
                        info_hash: id_of(a, b"info_hash", "a.info_hash")?,
                    },
                    b"announce_peer" => {
                        let port = a
                            .get(b"port")
                            .and_then(Value::as_int)
                            .and_then(|p| u16::try_from(p).ok())
                            .ok_or(KrpcError::Field("a.port"))?;
                        let implied_port = a
                            .get(b"implied_port")
                            .and_then(Value::as_int)
                            .is_some_and(|v| v != 0);
                        Query::AnnouncePeer {
                            info_hash: id_of(a, b"info_hash", "a.info_hash")?,
                            port,
                            implied_port,
                            token: echo(a, b"token", "a.token")?,
                        }
                    }
                    other => {
                        return Err(KrpcError::UnknownQuery(
                            String::from_utf8_lossy(&other[..other.len().min(32)]).into(),
                        ))
                    }
                };
                let read_only = d.get(b"ro").and_then(Value::as_int).is_some_and(|v| v == 1);
                Body::Query {
                    id,
                    query,
                    read_only,
                }
            }
            b"r" => {
                let r = dict(d, b"r", "r")?;
                let id = id_of(r, b"id", "r.id")?;
                let nodes = match r.get(b"nodes") {
                    Some(v) => decode_nodes(v.as_bytes().ok_or(KrpcError::Field("r.nodes"))?)?,
                    None => Vec::new(),
                };
                let values = match r.get(b"values") {
                    Some(v) => v
                        .as_list()
                        .ok_or(KrpcError::Field("r.values"))?
                        .iter()
                        .filter_map(|p| p.as_bytes().filter(|b| b.len() == 6))
                        .filter_map(compact_addr)
                        .collect(),
                    None => Vec::new(),
                };
                let token = if r.contains_key(b"token") {
                    Some(echo(r, b"token", "r.token")?)
                } else {
                    None
                };
                Body::Reply {
                    id,
                    reply: Reply {
                        nodes,
                        values,
                        token,
                    },
                }
            }
            b"e" => {
                let e = d
                    .get(b"e")
                    .and_then(Value::as_list)
                    .ok_or(KrpcError::Field("e"))?;
                let code = e.first().and_then(Value::as_int).unwrap_or(201);
                let message = e
                    .get(1)
                    .and_then(Value::as_bytes)
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(100)]).into_owned())
                    .unwrap_or_default();
                Body::Error { code, message }
            }
            _ => return Err(KrpcError::Field("y")),
        };
        Ok(Message { tid, body })
    }

    /// Encodes the message (canonical bencode); `client` goes in `v`.
    pub fn encode(&self, client: &[u8]) -> Vec<u8> {
        let mut d = Dict::new();
        d.insert(&b"t"[..], Value::bytes(&self.tid));
        if !client.is_empty() {
            d.insert(&b"v"[..], Value::bytes(client));
        }
        match &self.body {
            Body::Query {
                id,
                query,
                read_only,
            } => {
                let mut a = Dict::new();
                a.insert(&b"id"[..], Value::bytes(&id.0));
                match query {
                    Query::Ping => {}
                    Query::FindNode { target } => {
                        a.insert(&b"target"[..], Value::bytes(&target.0));
                    }
                    Query::GetPeers { info_hash } => {
                        a.insert(&b"info_hash"[..], Value::bytes(&info_hash.0));
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        a.insert(&b"info_hash"[..], Value::bytes(&info_hash.0));
                        a.insert(&b"port"[..], Value::Int(i64::from(*port)));
                        if *implied_port {
                            a.insert(&b"implied_port"[..], Value::Int(1));
                        }
                        a.insert(&b"token"[..], Value::bytes(token));
                    }
                }
                d.insert(&b"y"[..], Value::bytes(b"q"));
                d.insert(&b"q"[..], Value::bytes(query.name()));
                d.insert(&b"a"[..], Value::Dict(a));
                if *read_only {
                    d.insert(&b"ro"[..], Value::Int(1));
                }
            }
            Body::Reply { id, reply } => {
                let mut r = Dict::new();
                r.insert(&b"id"[..], Value::bytes(&id.0));
                if !reply.nodes.is_empty() {
                    r.insert(
                        &b"nodes"[..],
                        Value::owned_bytes(encode_nodes(&reply.nodes)),
                    );
                }
                if !reply.values.is_empty() {
                    let list = reply
                        .values
                        .iter()
                        .take(MAX_VALUES)
                        .map(|a| Value::owned_bytes(compact(a).to_vec()))
                        .collect();
                    r.insert(&b"values"[..], Value::List(list));
                }
                if let Some(t) = &reply.token {
                    r.insert(&b"token"[..], Value::bytes(t));
                }
                d.insert(&b"y"[..], Value::bytes(b"r"));
                d.insert(&b"r"[..], Value::Dict(r));
            }
            Body::Error { code, message } => {
                d.insert(&b"y"[..], Value::bytes(b"e"));
                d.insert(
                    &b"e"[..],
                    Value::List(vec![Value::Int(*code), Value::bytes(message.as_bytes())]),
                );
            }
        }
        bf_bencode::to_vec(&Value::Dict(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 20])
    }

    #[test]
    fn every_message_kind_survives_a_round_trip() {
        let msgs = [
            Body::Query {
                id: id(1),
                query: Query::Ping,
                read_only: false,
            },
            Body::Query {
                id: id(1),
                query: Query::FindNode { target: id(2) },
                read_only: true,
            },
            Body::Query {
                id: id(1),
                query: Query::GetPeers { info_hash: id(3) },
                read_only: false,
            },
            Body::Query {
                id: id(1),
                query: Query::AnnouncePeer {
                    info_hash: id(3),
                    port: 6881,
                    implied_port: true,
                    token: b"tok".to_vec(),
                },
                read_only: false,
            },
            Body::Reply {
                id: id(4),
                reply: Reply {
                    nodes: vec![Contact {
                        id: id(5),
                        addr: "127.0.0.1:7000".parse().unwrap(),
                    }],
                    values: vec!["10.0.0.1:6881".parse().unwrap()],
                    token: Some(b"t0".to_vec()),
                },
            },
            Body::Error {
                code: 203,
                message: "bad".into(),
            },
        ];
        for body in msgs {
            // libtorrent's transaction ids are two bytes.
            let m = Message {
                tid: b"aa".to_vec(),
                body,
            };
            assert_eq!(Message::decode(&m.encode(b"BF01")).unwrap(), m);
        }
    }

    #[test]
    fn a_libtorrent_query_is_read() {
        // As libtorrent 2.0 sends it: a two-byte transaction id, a BEP 33 flag we ignore.
        let mut q = b"d1:ad2:bsi1e2:id20:".to_vec();
        q.extend_from_slice(&[7; 20]);
        q.extend_from_slice(b"9:info_hash20:");
        q.extend_from_slice(&[9; 20]);
        q.extend_from_slice(b"e1:q9:get_peers1:t2:\x32\x99\x31:v4:LT\x02\x081:y1:qe");
        let m = Message::decode(&q).unwrap();
        assert_eq!(m.tid, b"\x32\x99");
        assert_eq!(
            m.body,
            Body::Query {
                id: id(7),
                query: Query::GetPeers { info_hash: id(9) },
                read_only: false
            }
        );
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        let cases: &[&[u8]] = &[
            b"",
            b"le",
            b"d1:t2:aa1:y1:qe",
            b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",
            b"d1:t2:aa1:y1:xe",
            b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q5:other1:t2:aa1:y1:qe",
            b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes3:abce1:t2:aa1:y1:re",
        ];
        for c in cases {
            assert!(
                Message::decode(c).is_err(),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
        assert!(matches!(
            Message::decode(&[b'd'; 2000]),
            Err(KrpcError::TooLong(2000))
        ));
    }
}
