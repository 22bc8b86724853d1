//! KRPC, the DHT's message format (BEP 5): bencoded dictionaries over UDP, one per
//! datagram. Decoding checks every field it uses and refuses the rest of the input's
//! oddities with a [`KrpcError`]; it never panics and allocates at most the datagram's size.
//!
//! BEP 32's IPv6 fields are read and written: `nodes6` (38-byte contacts) beside `nodes`
//! (26-byte ones), 18-byte IPv6 peers in `values` beside 6-byte IPv4 ones, and the `want`
//! list of a `find_node` or `get_peers` query.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bf_bencode::{Decoder, Dict, Limits, Mode, Value};

use crate::id::NodeId;

/// The longest datagram decoded; longer ones are refused unread.
pub const MAX_DATAGRAM: usize = 1500;
/// The longest transaction id or token echoed back (libtorrent's rule: they are ours to
/// repeat, so they must not make our answers large).
pub const MAX_ECHO: usize = 20;
/// Most peers put in one `get_peers` answer: 50 IPv6 ones (21 bytes each in bencode) keep
/// the answer within IPv6's minimum MTU (1280 bytes less 48 of headers), so it is never
/// fragmented.
pub const MAX_VALUES: usize = 50;
/// Bytes of one compact IPv4 contact in `nodes`: id, address, port.
pub const NODE4_LEN: usize = 26;
/// Bytes of one compact IPv6 contact in `nodes6` (BEP 32): id, address, port.
pub const NODE6_LEN: usize = 38;

/// A node's contact: its id and UDP address (of either family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contact {
    /// Node id.
    pub id: NodeId,
    /// UDP address.
    pub addr: SocketAddr,
}

/// BEP 32's `want`: the address families whose contacts a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Want {
    /// `n4`: IPv4 contacts (`nodes`).
    pub v4: bool,
    /// `n6`: IPv6 contacts (`nodes6`).
    pub v6: bool,
}

impl Want {
    /// Whether contacts of `addr`'s family are asked for.
    pub fn wants(&self, addr: &SocketAddr) -> bool {
        match addr {
            SocketAddr::V4(_) => self.v4,
            SocketAddr::V6(_) => self.v6,
        }
    }
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
        /// BEP 32's `want`; `None` (absent) asks for the family the query came over.
        want: Option<Want>,
    },
    /// `get_peers`: peers of `info_hash`, or the contacts closest to it, and a token.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
        /// BEP 32's `want`; `None` (absent) asks for the family the query came over.
        want: Option<Want>,
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
    /// Compact contacts of both families: decoded from `nodes` (IPv4) then `nodes6`
    /// (IPv6); encoded back the same way, each family to its own key.
    pub nodes: Vec<Contact>,
    /// Compact peers (`values`), 6-byte IPv4 and 18-byte IPv6 ones.
    pub values: Vec<SocketAddr>,
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

/// Compact IPv4 contacts, a `nodes` value: 26 bytes each (id, address, port).
pub fn decode_nodes(b: &[u8]) -> Result<Vec<Contact>, KrpcError> {
    decode_contacts(b, NODE4_LEN, "nodes")
}

/// Compact IPv6 contacts, a `nodes6` value (BEP 32): 38 bytes each (id, address, port).
pub fn decode_nodes6(b: &[u8]) -> Result<Vec<Contact>, KrpcError> {
    decode_contacts(b, NODE6_LEN, "nodes6")
}

/// Contacts of `len` bytes each; a length that is not a multiple is an error (a truncated
/// or misread list), a contact with port 0 is skipped.
fn decode_contacts(b: &[u8], len: usize, name: &'static str) -> Result<Vec<Contact>, KrpcError> {
    if b.len() % len != 0 {
        return Err(KrpcError::Field(name));
    }
    Ok(b.chunks_exact(len)
        .filter_map(|c| {
            let id = NodeId::from_slice(c.get(..20)?)?;
            let addr = compact_addr(c.get(20..)?)?;
            Some(Contact { id, addr })
        })
        .collect())
}

/// A compact address: 4 or 16 bytes of IP, then the port; `None` for other lengths and
/// port 0.
fn compact_addr(c: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = c.split_at_checked(c.len().checked_sub(2)?)?;
    let port = u16::from_be_bytes(<[u8; 2]>::try_from(port).ok()?);
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
        _ => return None,
    };
    (port != 0).then_some(SocketAddr::new(ip, port))
}

/// The compact form of `a`: 6 bytes for IPv4, 18 for IPv6.
fn compact(a: &SocketAddr) -> Vec<u8> {
    let mut out = match a.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&a.port().to_be_bytes());
    out
}

/// Compact contacts of one family: the IPv4 ones of `nodes` as a `nodes` value, or with
/// `ipv6` the IPv6 ones as a `nodes6` value; the other family's are left out.
pub fn encode_nodes(nodes: &[Contact], ipv6: bool) -> Vec<u8> {
    let len = if ipv6 { NODE6_LEN } else { NODE4_LEN };
    let mut out = Vec::with_capacity(nodes.len() * len);
    for n in nodes.iter().filter(|n| n.addr.is_ipv6() == ipv6) {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&compact(&n.addr));
    }
    out
}

/// The `want` of a query's arguments: `None` when absent; unknown flags are ignored.
fn want_of(a: &Dict<'_>) -> Result<Option<Want>, KrpcError> {
    let Some(v) = a.get(b"want") else {
        return Ok(None);
    };
    let list = v.as_list().ok_or(KrpcError::Field("a.want"))?;
    let mut want = Want::default();
    for flag in list.iter().filter_map(Value::as_bytes) {
        match flag {
            b"n4" => want.v4 = true,
            b"n6" => want.v6 = true,
            _ => {}
        }
    }
    Ok(Some(want))
}

fn insert_want(a: &mut Dict<'_>, want: &Option<Want>) {
    if let Some(w) = want {
        let mut flags = Vec::new();
        if w.v4 {
            flags.push(Value::bytes(b"n4"));
        }
        if w.v6 {
            flags.push(Value::bytes(b"n6"));
        }
        a.insert(&b"want"[..], Value::List(flags));
    }
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
                        want: want_of(a)?,
                    },
                    b"get_peers" => Query::GetPeers {
                        info_hash: id_of(a, b"info_hash", "a.info_hash")?,
                        want: want_of(a)?,
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
                let mut nodes = match r.get(b"nodes") {
                    Some(v) => decode_nodes(v.as_bytes().ok_or(KrpcError::Field("r.nodes"))?)?,
                    None => Vec::new(),
                };
                if let Some(v) = r.get(b"nodes6") {
                    let b = v.as_bytes().ok_or(KrpcError::Field("r.nodes6"))?;
                    nodes.extend(decode_nodes6(b)?);
                }
                // Peers of other lengths are skipped, not fatal: the rest of the answer
                // is still good.
                let values = match r.get(b"values") {
                    Some(v) => v
                        .as_list()
                        .ok_or(KrpcError::Field("r.values"))?
                        .iter()
                        .filter_map(|p| p.as_bytes().filter(|b| b.len() == 6 || b.len() == 18))
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
                    Query::FindNode { target, want } => {
                        a.insert(&b"target"[..], Value::bytes(&target.0));
                        insert_want(&mut a, want);
                    }
                    Query::GetPeers { info_hash, want } => {
                        a.insert(&b"info_hash"[..], Value::bytes(&info_hash.0));
                        insert_want(&mut a, want);
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
                let nodes = encode_nodes(&reply.nodes, false);
                if !nodes.is_empty() {
                    r.insert(&b"nodes"[..], Value::owned_bytes(nodes));
                }
                let nodes6 = encode_nodes(&reply.nodes, true);
                if !nodes6.is_empty() {
                    r.insert(&b"nodes6"[..], Value::owned_bytes(nodes6));
                }
                if !reply.values.is_empty() {
                    let list = reply
                        .values
                        .iter()
                        .take(MAX_VALUES)
                        .map(|a| Value::owned_bytes(compact(a)))
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
                query: Query::FindNode {
                    target: id(2),
                    want: None,
                },
                read_only: true,
            },
            Body::Query {
                id: id(1),
                query: Query::GetPeers {
                    info_hash: id(3),
                    want: None,
                },
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
                query: Query::GetPeers {
                    info_hash: id(9),
                    want: None
                },
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

    /// A reply dictionary `d1:rd2:id20:…<fields>e1:t2:aa1:y1:re` with `fields` spliced in.
    fn reply_with(fields: &[u8]) -> Vec<u8> {
        let mut r = b"d1:rd2:id20:".to_vec();
        r.extend_from_slice(&[4; 20]);
        r.extend_from_slice(fields);
        r.extend_from_slice(b"e1:t2:aa1:y1:re");
        r
    }

    #[test]
    fn ipv6_contacts_peers_and_want_survive_a_round_trip() {
        let v6_node = Contact {
            id: id(6),
            addr: "[2001:db8::1]:6881".parse().unwrap(),
        };
        let v4_node = Contact {
            id: id(5),
            addr: "127.0.0.1:7000".parse().unwrap(),
        };
        // IPv4 contacts first, as decoding merges `nodes` then `nodes6`.
        let reply = Reply {
            nodes: vec![
                v4_node,
                v6_node,
                Contact {
                    id: id(7),
                    ..v6_node
                },
            ],
            values: vec![
                "[2001:db8::2]:51413".parse().unwrap(),
                "10.0.0.1:6881".parse().unwrap(),
            ],
            token: Some(b"t0".to_vec()),
        };
        let m = Message {
            tid: b"aa".to_vec(),
            body: Body::Reply { id: id(4), reply },
        };
        let bytes = m.encode(b"BF01");
        // Each family under its own key, at its own size.
        let find = |pat: &[u8]| bytes.windows(pat.len()).any(|w| w == pat);
        assert!(find(b"5:nodes26:"), "{}", String::from_utf8_lossy(&bytes));
        assert!(find(b"6:nodes676:"), "{}", String::from_utf8_lossy(&bytes));
        assert!(find(b"18:\x20\x01\x0d\xb8"));
        assert_eq!(Message::decode(&bytes).unwrap(), m);

        for want in [
            None,
            Some(Want::default()),
            Some(Want {
                v4: true,
                v6: false,
            }),
            Some(Want {
                v4: false,
                v6: true,
            }),
            Some(Want { v4: true, v6: true }),
        ] {
            for query in [
                Query::FindNode {
                    target: id(2),
                    want,
                },
                Query::GetPeers {
                    info_hash: id(3),
                    want,
                },
            ] {
                let m = Message {
                    tid: b"bb".to_vec(),
                    body: Body::Query {
                        id: id(1),
                        query,
                        read_only: false,
                    },
                };
                assert_eq!(Message::decode(&m.encode(b"")).unwrap(), m);
            }
        }
    }

    #[test]
    fn a_libtorrent_style_ipv6_answer_and_want_are_read() {
        let mut fields = b"6:nodes638:".to_vec();
        fields.extend_from_slice(&[8; 20]);
        fields.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        fields.extend_from_slice(&6881u16.to_be_bytes());
        fields.extend_from_slice(b"6:valuesl18:");
        fields.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        fields.extend_from_slice(&7000u16.to_be_bytes());
        // Peers of other sizes are skipped.
        fields.extend_from_slice(b"7:abcdefg17:abcdefghijklmnopqe");
        let Body::Reply { reply, .. } = Message::decode(&reply_with(&fields)).unwrap().body else {
            panic!("not a reply")
        };
        assert_eq!(
            reply.nodes,
            vec![Contact {
                id: id(8),
                addr: "[::1]:6881".parse().unwrap()
            }]
        );
        assert_eq!(reply.values, vec!["[::1]:7000".parse().unwrap()]);

        // `want` as libtorrent sends it; flags we do not know are ignored.
        let mut q = b"d1:ad2:id20:".to_vec();
        q.extend_from_slice(&[7; 20]);
        q.extend_from_slice(b"6:target20:");
        q.extend_from_slice(&[9; 20]);
        q.extend_from_slice(b"4:wantl2:n42:n62:n9ee1:q9:find_node1:t2:aa1:y1:qe");
        let m = Message::decode(&q).unwrap();
        assert_eq!(
            m.body,
            Body::Query {
                id: id(7),
                query: Query::FindNode {
                    target: id(9),
                    want: Some(Want { v4: true, v6: true }),
                },
                read_only: false,
            }
        );
    }

    #[test]
    fn malformed_ipv6_fields_are_errors() {
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        // nodes6 one byte short, one byte long, of IPv4 contacts' size, two and a bit.
        for len in [37usize, 39, 26, 77] {
            let mut f = format!("6:nodes6{len}:").into_bytes();
            f.extend(std::iter::repeat_n(1u8, len));
            cases.push((reply_with(&f), "nodes6"));
        }
        // nodes holding one IPv6 contact (38 is no multiple of 26).
        let mut f = b"5:nodes38:".to_vec();
        f.extend_from_slice(&[1; 38]);
        cases.push((reply_with(&f), "nodes"));
        cases.push((reply_with(b"6:nodes6i3e"), "r.nodes6"));
        // want that is not a list.
        let mut q = b"d1:ad2:id20:".to_vec();
        q.extend_from_slice(&[7; 20]);
        q.extend_from_slice(b"9:info_hash20:");
        q.extend_from_slice(&[9; 20]);
        q.extend_from_slice(b"4:want2:n6e1:q9:get_peers1:t2:aa1:y1:qe");
        cases.push((q, "a.want"));
        for (bytes, field) in cases {
            assert_eq!(
                Message::decode(&bytes),
                Err(KrpcError::Field(field)),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn a_full_answer_of_ipv6_peers_fits_the_ipv6_minimum_mtu() {
        let values = (0..MAX_VALUES as u16 + 10)
            .map(|i| {
                SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)),
                    1 + i,
                )
            })
            .collect();
        let m = Message {
            tid: vec![0xff; MAX_ECHO],
            body: Body::Reply {
                id: id(1),
                reply: Reply {
                    nodes: Vec::new(),
                    values,
                    token: Some(vec![0xee; MAX_ECHO]),
                },
            },
        };
        let bytes = m.encode(b"BF01");
        assert!(bytes.len() <= 1280 - 48, "{} bytes", bytes.len());
        let Body::Reply { reply, .. } = Message::decode(&bytes).unwrap().body else {
            panic!("not a reply")
        };
        assert_eq!(reply.values.len(), MAX_VALUES);
    }
}
