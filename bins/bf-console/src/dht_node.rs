//! `bf-console dht-node`: a DHT node that downloads nothing. It answers other nodes (gives
//! contacts, keeps the peers announced to it) until stopped: the original's routing client,
//! and the node a private DHT bootstraps from. It runs on IPv4, on IPv6 (BEP 32), or on both
//! with one port number, as its `--bind` addresses say.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bf_cli::{mark, Exit};
use clap::Args;

use crate::download::stop_signal;

/// How often the node looks at its table: it says so when the count changed, and every
/// [`REPORT_EVERY`] ticks anyway.
const TICK: Duration = Duration::from_secs(1);
const REPORT_EVERY: u32 = 30;

/// Options of `dht-node`.
#[derive(Args, Debug)]
pub struct DhtNodeArgs {
    /// UDP port to run the node on (each family's node, when both run).
    #[arg(long, default_value_t = 6881, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Address to bind: an IPv4 one runs a node on the IPv4 DHT, an IPv6 one (`::` for
    /// all) a node on the IPv6 DHT (BEP 32). Give one of each family to run both, e.g.
    /// `--bind 0.0.0.0 --bind ::`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0", num_args = 1)]
    bind: Vec<IpAddr>,
    /// A node to bootstrap from (repeatable); with none, the saved routing table, then the
    /// public routers (BF_DHT_ROUTERS overrides their list; empty for none).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT", value_parser = crate::parse_node)]
    dht_bootstrap: Vec<String>,
    /// File the routing table is saved to at exit and read from at start (both families'
    /// nodes, `IP:PORT` and `[IPv6]:PORT` lines).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Log more (repeat for even more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the node (one per family bound) until ctrl-c or SIGTERM.
pub async fn run(args: DhtNodeArgs) -> anyhow::Result<()> {
    let v4 = args.bind.iter().filter(|a| a.is_ipv4()).count();
    if v4 > 1 || args.bind.len() - v4 > 1 {
        return Err(mark(
            anyhow::anyhow!("--bind: at most one IPv4 and one IPv6 address"),
            Exit::Usage,
        ));
    }
    let mut cfg = crate::DhtArgs::from_bootstrap(args.dht_bootstrap.clone())
        .config(None)
        .unwrap_or_default();
    cfg.state_file = args.state.clone();
    let mut nodes = Vec::new();
    for bind in &args.bind {
        let node = bf_client::DhtNode::start(&cfg, *bind, args.port, &[])
            .map_err(|e| mark(e, Exit::Network))?;
        nodes.push(node);
    }
    let say = |node: &bf_client::DhtNode, table: usize| {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "dht", "addr": node.local_addr().to_string(), "nodes": table})
            );
        } else {
            println!("DHT node on UDP {}: {table} nodes known", node.local_addr());
        }
    };
    for n in &nodes {
        say(n, 0);
    }
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    let mut last = vec![0; nodes.len()];
    let mut ticks = 0u32;
    // Bounded by the user: runs until a signal.
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                ticks += 1;
                for (node, last) in nodes.iter().zip(last.iter_mut()) {
                    let n = node.routing_table().await.len();
                    if n != *last || ticks % REPORT_EVERY == 0 {
                        say(node, n);
                        *last = n;
                    }
                }
            }
        }
    }
    // Both families at once, into the one file.
    match bf_client::dht::DhtNodes::from_nodes(nodes).save().await {
        Ok(n) if n > 0 => eprintln!("saved {n} nodes of the routing table"),
        Ok(_) => {}
        Err(e) => eprintln!("bf-console: warning: cannot save the routing table: {e}"),
    }
    Ok(())
}
