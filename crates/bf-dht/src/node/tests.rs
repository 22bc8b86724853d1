//! The node over a simulated network: lookups across many nodes (over IPv4 and over
//! IPv6), and hostile input.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::*;
use crate::krpc::Want;

/// Delivers every datagram to the node at its address, in rounds; lost ones vanish.
struct Net {
    nodes: HashMap<SocketAddr, Node>,
    now: Instant,
    ipv6: bool,
}

fn addr(i: u16) -> SocketAddr {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8), 6881).into()
}

/// Node `i`'s address in the IPv6 network (documentation prefix).
fn addr6(i: u16) -> SocketAddr {
    SocketAddrV6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 7, i), 6881, 0, 0).into()
}

fn id_of(i: u16) -> NodeId {
    let mut h = Sha1::new();
    h.update(i.to_be_bytes());
    NodeId(h.finalize().into())
}

impl Net {
    fn new(n: u16) -> Net {
        Net::of_family(n, false)
    }

    /// `n` nodes of one family.
    fn of_family(n: u16, ipv6: bool) -> Net {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                let cfg = Config {
                    seed: u64::from(i),
                    ipv6,
                    ..Config::default()
                };
                let a = if ipv6 { addr6(i) } else { addr(i) };
                (a, Node::new(id_of(i), cfg, now))
            })
            .collect();
        Net { nodes, now, ipv6 }
    }

    fn addr(&self, i: u16) -> SocketAddr {
        if self.ipv6 {
            addr6(i)
        } else {
            addr(i)
        }
    }

    /// Runs until nothing is in flight (bounded), advancing time 100 ms a round.
    fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let mut sent = Vec::new();
            for (a, n) in &mut self.nodes {
                while let Some((to, bytes)) = n.poll_transmit() {
                    sent.push((*a, to, bytes));
                }
            }
            self.now += Duration::from_millis(100);
            for n in self.nodes.values_mut() {
                n.handle_timeout(self.now);
            }
            if sent.is_empty() {
                continue;
            }
            for (from, to, bytes) in sent {
                if let Some(n) = self.nodes.get_mut(&to) {
                    n.handle(from, &bytes, self.now).unwrap();
                }
            }
        }
    }

    fn node(&mut self, i: u16) -> &mut Node {
        let a = self.addr(i);
        self.nodes.get_mut(&a).unwrap()
    }
}

fn peers_of(n: &mut Node, lookup: LookupId) -> (Vec<SocketAddr>, bool) {
    let mut peers = Vec::new();
    let mut done = false;
    while let Some(e) = n.poll_event() {
        match e {
            Event::Peers {
                lookup: l,
                peers: p,
            } if l == lookup => peers.extend(p),
            Event::LookupDone { lookup: l, .. } if l == lookup => done = true,
            _ => {}
        }
    }
    (peers, done)
}

#[test]
fn a_peer_announced_in_a_network_of_sixty_nodes_is_found_by_another() {
    let mut net = Net::new(60);
    // Everyone bootstraps from node 0, as from a router.
    for i in 1..60 {
        let now = net.now;
        net.node(i).bootstrap(&[addr(0)], now);
        net.run(3);
    }
    net.run(100);
    assert!(
        net.node(30).table().len() >= 8,
        "{}",
        net.node(30).table().len()
    );
    let peers = announce_then_find(&mut net, 17, 45, NodeId([0x5a; 20]));
    assert_eq!(peers, vec![SocketAddr::new(addr(17).ip(), 7777)]);
}

/// Node `by` announces `torrent` on TCP port 7777 (at least 4 nodes must take it), then
/// node `seeker` looks it up: the peers it finds.
fn announce_then_find(net: &mut Net, by: u16, seeker: u16, torrent: NodeId) -> Vec<SocketAddr> {
    let now = net.now;
    let l = net.node(by).lookup(torrent, Some(7777), now).unwrap();
    net.run(100);
    let (_, done) = peers_of(net.node(by), l);
    assert!(done);
    let holders = net
        .nodes
        .values()
        .filter(|n| n.torrents_held() == 1)
        .count();
    assert!(holders >= 4, "announced to {holders} nodes");
    let later = net.now;
    let l = net.node(seeker).lookup(torrent, None, later).unwrap();
    net.run(100);
    let (peers, done) = peers_of(net.node(seeker), l);
    assert!(done);
    peers
}

#[test]
fn a_peer_announced_in_an_ipv6_network_of_twenty_nodes_is_found_by_another() {
    let mut net = Net::of_family(20, true);
    for i in 1..20 {
        let now = net.now;
        let router = net.addr(0);
        net.node(i).bootstrap(&[router], now);
        net.run(3);
    }
    net.run(100);
    for i in 0..20 {
        let n = net.node(i);
        assert!(n.table().len() >= 8, "node {i}: {}", n.table().len());
        assert!(n.table().contacts().iter().all(|c| c.addr.is_ipv6()));
    }
    let peers = announce_then_find(&mut net, 7, 13, NodeId([0x6b; 20]));
    assert_eq!(peers, vec![SocketAddr::new(addr6(7).ip(), 7777)]);
}

/// A reply from `from`'s id to our query `tid`, with `nodes`.
fn reply_of(tid: Vec<u8>, nodes: Vec<Contact>) -> Vec<u8> {
    Message {
        tid,
        body: Body::Reply {
            id: NodeId([0x11; 20]),
            reply: Reply {
                nodes,
                ..Reply::default()
            },
        },
    }
    .encode(b"")
}

#[test]
fn a_node_talks_to_and_keeps_only_its_own_family() {
    let now = Instant::now();
    let cfg = Config {
        ipv6: true,
        ..Config::default()
    };
    let mut n = Node::new(NodeId([0; 20]), cfg, now);
    assert!(n.is_ipv6());
    let v4 = addr(1);
    let mapped: SocketAddr = "[::ffff:10.0.0.1]:6881".parse().unwrap();
    // Bootstrap and ping addresses of the other family (or IPv4-mapped) are skipped.
    n.ping(v4, now);
    n.ping(mapped, now);
    assert!(n.poll_transmit().is_none());
    let l = n.bootstrap(&[v4, mapped, addr6(1)], now).unwrap();
    let sent: Vec<(SocketAddr, Vec<u8>)> = std::iter::from_fn(|| n.poll_transmit()).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, addr6(1));
    // Its answer names contacts of both families: only the IPv6 ones are asked next.
    let tid = Message::decode(&sent[0].1).unwrap().tid;
    let contacts = vec![
        Contact {
            id: NodeId([0x21; 20]),
            addr: addr(2),
        },
        Contact {
            id: NodeId([0x22; 20]),
            addr: mapped,
        },
        Contact {
            id: NodeId([0x23; 20]),
            addr: addr6(3),
        },
    ];
    n.handle(addr6(1), &reply_of(tid, contacts), now).unwrap();
    let next: Vec<SocketAddr> = std::iter::from_fn(|| n.poll_transmit())
        .map(|(to, _)| to)
        .collect();
    assert_eq!(next, vec![addr6(3)]);
    assert_eq!(n.table().len(), 1);
    // Datagrams from the other family are dropped unanswered.
    let ping = Message {
        tid: b"pp".to_vec(),
        body: Body::Query {
            id: NodeId([9; 20]),
            query: Query::Ping,
            read_only: false,
        },
    }
    .encode(b"");
    assert!(n.handle(v4, &ping, now).is_err());
    assert!(n.handle(mapped, &ping, now).is_err());
    assert!(n.poll_transmit().is_none());
    assert_eq!(n.table().len(), 1);
    n.handle_timeout(now + Duration::from_secs(60));
    assert!(peers_of(&mut n, l).1);
    // And an IPv4 node takes no IPv6 datagram.
    let mut n4 = Node::new(NodeId([0; 20]), Config::default(), now);
    assert!(n4.handle(addr6(1), &ping, now).is_err());
    n4.ping(addr6(1), now);
    assert!(n4.poll_transmit().is_none());
    assert!(n4.handle(v4, &ping, now).is_ok());
    assert_eq!(n4.poll_transmit().map(|(to, _)| to), Some(v4));
}

#[test]
fn want_decides_whether_our_contacts_are_given() {
    for ipv6 in [false, true] {
        let now = Instant::now();
        let at = |i| if ipv6 { addr6(i) } else { addr(i) };
        let cfg = Config {
            ipv6,
            ..Config::default()
        };
        let mut n = Node::new(NodeId([0; 20]), cfg, now);
        // One contact in the table: a node that queried us.
        let ping = Message {
            tid: b"pp".to_vec(),
            body: Body::Query {
                id: NodeId([5; 20]),
                query: Query::Ping,
                read_only: false,
            },
        };
        n.handle(at(5), &ping.encode(b""), now).unwrap();
        while n.poll_transmit().is_some() {}
        let ours = Want {
            v4: !ipv6,
            v6: ipv6,
        };
        let theirs = Want {
            v4: ipv6,
            v6: !ipv6,
        };
        let both = Want { v4: true, v6: true };
        for (want, given) in [
            (None, true),
            (Some(ours), true),
            (Some(both), true),
            (Some(theirs), false),
            (Some(Want::default()), false),
        ] {
            for query in [
                Query::FindNode {
                    target: NodeId([6; 20]),
                    want,
                },
                Query::GetPeers {
                    info_hash: NodeId([6; 20]),
                    want,
                },
            ] {
                let q = Message {
                    tid: b"qq".to_vec(),
                    body: Body::Query {
                        id: NodeId([7; 20]),
                        query: query.clone(),
                        read_only: true,
                    },
                };
                n.handle(at(7), &q.encode(b""), now).unwrap();
                let (_, bytes) = n.poll_transmit().unwrap();
                let Body::Reply { reply, .. } = Message::decode(&bytes).unwrap().body else {
                    panic!("no reply to {query:?}")
                };
                let expect: Vec<SocketAddr> = if given { vec![at(5)] } else { vec![] };
                let got: Vec<SocketAddr> = reply.nodes.iter().map(|c| c.addr).collect();
                assert_eq!(got, expect, "ipv6 {ipv6}, {query:?}");
            }
        }
    }
}

#[test]
fn an_ipv6_announce_is_kept_with_its_ipv6_address_and_token() {
    let now = Instant::now();
    let cfg = Config {
        ipv6: true,
        ..Config::default()
    };
    let mut n = Node::new(NodeId([0; 20]), cfg, now);
    let from = addr6(9);
    let get = Message {
        tid: b"bb".to_vec(),
        body: Body::Query {
            id: NodeId([3; 20]),
            query: Query::GetPeers {
                info_hash: NodeId([4; 20]),
                want: None,
            },
            read_only: false,
        },
    };
    n.handle(from, &get.encode(b""), now).unwrap();
    let (_, answer) = n.poll_transmit().unwrap();
    let Body::Reply { reply, .. } = Message::decode(&answer).unwrap().body else {
        panic!("no reply")
    };
    let announce = |token: Vec<u8>| Message {
        tid: b"aa".to_vec(),
        body: Body::Query {
            id: NodeId([3; 20]),
            query: Query::AnnouncePeer {
                info_hash: NodeId([4; 20]),
                port: 6881,
                implied_port: true,
                token,
            },
            read_only: false,
        },
    };
    let token = reply.token.unwrap();
    // The token is bound to the IPv6 address it was given to.
    n.handle(addr6(10), &announce(token.clone()).encode(b""), now)
        .unwrap();
    assert_eq!(n.torrents_held(), 0);
    n.handle(from, &announce(token).encode(b""), now).unwrap();
    assert_eq!(n.torrents_held(), 1);
    while n.poll_transmit().is_some() {}
    n.handle(addr6(11), &get.encode(b""), now).unwrap();
    let (_, answer) = n.poll_transmit().unwrap();
    let Body::Reply { reply, .. } = Message::decode(&answer).unwrap().body else {
        panic!("no reply")
    };
    // implied_port: the source port, with the source's IPv6 address.
    assert_eq!(reply.values, vec![from]);
}

#[test]
fn a_lookup_ends_when_its_nodes_never_answer() {
    let now = Instant::now();
    let mut n = Node::new(NodeId([1; 20]), Config::default(), now);
    let l = n.lookup(NodeId([2; 20]), Some(1), now);
    // Nothing known: done at once.
    assert_eq!(peers_of(&mut n, l.unwrap()), (vec![], true));
    let l = n.bootstrap(&[addr(1), addr(2)], now).unwrap();
    assert_eq!(std::iter::from_fn(|| n.poll_transmit()).count(), 2);
    n.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(peers_of(&mut n, l), (vec![], true));
    assert!(n
        .poll_timeout()
        .is_some_and(|t| t > now + Duration::from_secs(3)));
}

#[test]
fn a_flood_of_fake_nodes_and_queries_stays_bounded_and_others_are_still_answered() {
    let now = Instant::now();
    let mut n = Node::new(NodeId([0; 20]), Config::default(), now);
    // 20,000 queries from as many made-up nodes and addresses.
    for i in 0..20_000u32 {
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&i.to_be_bytes());
        id[4] = 0x77;
        let q = Message {
            tid: b"xx".to_vec(),
            body: Body::Query {
                id: NodeId(id),
                query: Query::FindNode {
                    target: NodeId(id),
                    want: None,
                },
                read_only: false,
            },
        };
        let from: SocketAddr = SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + i), 1000).into();
        n.handle(from, &q.encode(b""), now).unwrap();
    }
    assert!(n.table().len() <= 161 * K, "{}", n.table().len());
    assert!(n.senders.len() <= Config::default().max_senders);
    // One sender hammering is cut to its rate; the answers stop, the node does not.
    let hammer: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 9).into();
    let ping = Message {
        tid: b"pp".to_vec(),
        body: Body::Query {
            id: NodeId([9; 20]),
            query: Query::Ping,
            read_only: false,
        },
    }
    .encode(b"");
    while n.poll_transmit().is_some() {}
    for _ in 0..1000 {
        n.handle(hammer, &ping, now).unwrap();
    }
    let answers = std::iter::from_fn(|| n.poll_transmit()).count();
    assert!(
        answers <= 2 * Config::default().per_sender_rate as usize,
        "{answers}"
    );
    assert!(n.stats().rate_limited >= 900);
    let other: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 8, 8, 8), 8).into();
    n.handle(other, &ping, now).unwrap();
    assert_eq!(n.poll_transmit().map(|(to, _)| to), Some(other));
}

#[test]
fn bogus_tokens_unsolicited_answers_and_garbage_are_refused() {
    let now = Instant::now();
    let mut n = Node::new(NodeId([0; 20]), Config::default(), now);
    let from: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 1, 1, 1), 4000).into();
    let announce = Message {
        tid: b"aa".to_vec(),
        body: Body::Query {
            id: NodeId([3; 20]),
            query: Query::AnnouncePeer {
                info_hash: NodeId([4; 20]),
                port: 6881,
                implied_port: false,
                token: b"made-up".to_vec(),
            },
            read_only: false,
        },
    };
    n.handle(from, &announce.encode(b""), now).unwrap();
    let (_, answer) = n.poll_transmit().unwrap();
    assert!(matches!(
        Message::decode(&answer).unwrap().body,
        Body::Error { code: 203, .. }
    ));
    assert_eq!(n.torrents_held(), 0);
    assert_eq!(n.stats().bad_tokens, 1);
    // A token given to one address is no good from another.
    let get = Message {
        tid: b"bb".to_vec(),
        body: Body::Query {
            id: NodeId([3; 20]),
            query: Query::GetPeers {
                info_hash: NodeId([4; 20]),
                want: None,
            },
            read_only: false,
        },
    };
    n.handle(from, &get.encode(b""), now).unwrap();
    let (_, answer) = n.poll_transmit().unwrap();
    let Body::Reply { reply, .. } = Message::decode(&answer).unwrap().body else {
        panic!("no reply")
    };
    let token = reply.token.unwrap();
    let mut a = announce.clone();
    if let Body::Query {
        query: Query::AnnouncePeer { token: t, .. },
        ..
    } = &mut a.body
    {
        *t = token;
    }
    let elsewhere: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 1, 1, 2), 4000).into();
    n.handle(elsewhere, &a.encode(b""), now).unwrap();
    assert_eq!(n.torrents_held(), 0);
    n.handle(from, &a.encode(b""), now).unwrap();
    assert_eq!(n.torrents_held(), 1);
    // An answer to nothing we asked is dropped.
    let reply = Message {
        tid: b"zz".to_vec(),
        body: Body::Reply {
            id: NodeId([5; 20]),
            reply: Reply::default(),
        },
    };
    while n.poll_transmit().is_some() {}
    n.handle(from, &reply.encode(b""), now).unwrap();
    assert_eq!(n.stats().unsolicited, 1);
    assert!(n.poll_transmit().is_none());
    assert!(n.handle(from, b"garbage", now).is_err());
    assert!(n.handle(from, &[0xff; 3000], now).is_err());
    // An unknown method is answered with 204.
    let mut q = b"d1:ad2:id20:".to_vec();
    q.extend_from_slice(&[1; 20]);
    q.extend_from_slice(b"e1:q6:vote!!1:t2:qq1:y1:qe");
    assert!(n.handle(from, &q, now).is_err());
    let (_, answer) = n.poll_transmit().unwrap();
    assert!(matches!(
        Message::decode(&answer).unwrap().body,
        Body::Error { code: 204, .. }
    ));
}
