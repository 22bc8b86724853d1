//! The Mainline DHT (BEP 5), sans-IO: the KRPC codec ([`krpc`]), the routing table
//! ([`routing`]) and a node state machine ([`node::Node`]) that takes datagrams and the time
//! and gives datagrams to send and events. The UDP socket and timers belong to the caller
//! (bf-client drives one node per address family and session on tokio), so the same node
//! runs in tests over a simulated network. IPv4 and IPv6 (BEP 32) are two separate DHTs: a
//! node runs on one of them ([`node::Config::ipv6`]), the codec reads and writes both.
//!
//! Two nodes finding each other and a peer, with the network simulated by hand:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use bf_dht::node::{Config, Event, Node};
//! use bf_dht::NodeId;
//!
//! /// Delivers what `x` and `y` send each other until both are quiet.
//! fn exchange(x: &mut Node, xa: SocketAddr, y: &mut Node, ya: SocketAddr, now: Instant) {
//!     for _ in 0..10 {
//!         while let Some((_, bytes)) = x.poll_transmit() {
//!             let _ = y.handle(xa, &bytes, now);
//!         }
//!         while let Some((_, bytes)) = y.poll_transmit() {
//!             let _ = x.handle(ya, &bytes, now);
//!         }
//!     }
//! }
//!
//! let now = Instant::now();
//! let (a_addr, b_addr, c_addr): (SocketAddr, SocketAddr, SocketAddr) = (
//!     "127.0.0.1:7001".parse().unwrap(),
//!     "127.0.0.1:7002".parse().unwrap(),
//!     "127.0.0.1:7003".parse().unwrap(),
//! );
//! let mut a = Node::new(NodeId([1; 20]), Config::default(), now);
//! let mut b = Node::new(NodeId([2; 20]), Config { seed: 1, ..Config::default() }, now);
//! let mut c = Node::new(NodeId([3; 20]), Config { seed: 2, ..Config::default() }, now);
//! let torrent = NodeId([9; 20]);
//!
//! // b joins through a (its only contact), then announces port 6881 for the torrent.
//! b.bootstrap(&[a_addr], now);
//! exchange(&mut b, b_addr, &mut a, a_addr, now);
//! b.lookup(torrent, Some(6881), now);
//! exchange(&mut b, b_addr, &mut a, a_addr, now);
//! assert_eq!(a.torrents_held(), 1);
//!
//! // c joins through a and looks the torrent up: a hands b's address out.
//! c.bootstrap(&[a_addr], now);
//! exchange(&mut c, c_addr, &mut a, a_addr, now);
//! let lookup = c.lookup(torrent, None, now).unwrap();
//! exchange(&mut c, c_addr, &mut a, a_addr, now);
//! let peers: Vec<SocketAddr> = std::iter::from_fn(|| c.poll_event())
//!     .filter_map(|e| match e {
//!         Event::Peers { lookup: l, peers } if l == lookup => Some(peers),
//!         _ => None,
//!     })
//!     .flatten()
//!     .collect();
//! assert_eq!(peers, vec!["127.0.0.1:6881".parse::<SocketAddr>().unwrap()]);
//! ```
pub mod id;
pub mod krpc;
pub mod node;
pub mod routing;

pub use id::NodeId;
