//! `bf-console dht-node`: a DHT node that downloads nothing. It answers other nodes (gives
//! contacts, keeps the peers announced to it) until stopped: the original's routing client,
//! and the node a private DHT bootstraps from.

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
    /// UDP port to run the node on.
    #[arg(long, default_value_t = 6881, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Address to bind (IPv4).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// A node to bootstrap from (repeatable); with none, the saved routing table, then the
    /// public routers (BF_DHT_ROUTERS overrides their list; empty for none).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT", value_parser = crate::parse_node)]
    dht_bootstrap: Vec<String>,
    /// File the routing table is saved to at exit and read from at start.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Log more (repeat for even more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the node until ctrl-c or SIGTERM.
pub async fn run(args: DhtNodeArgs) -> anyhow::Result<()> {
    let mut cfg = crate::DhtArgs::from_bootstrap(args.dht_bootstrap.clone())
        .config(None)
        .unwrap_or_default();
    cfg.state_file = args.state.clone();
    let node = bf_client::DhtNode::start(&cfg, args.bind, args.port, &[])
        .map_err(|e| mark(e, Exit::Network))?;
    let say = |table: usize| {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "dht", "addr": node.local_addr().to_string(), "nodes": table})
            );
        } else {
            println!("DHT node on UDP {}: {table} nodes known", node.local_addr());
        }
    };
    say(0);
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    let (mut last, mut ticks) = (0, 0u32);
    // Bounded by the user: runs until a signal.
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let n = node.routing_table().await.len();
                ticks += 1;
                if n != last || ticks % REPORT_EVERY == 0 {
                    say(n);
                    last = n;
                }
            }
        }
    }
    match node.save().await {
        Ok(n) if n > 0 => eprintln!("saved {n} nodes of the routing table"),
        Ok(_) => {}
        Err(e) => eprintln!("bf-console: warning: cannot save the routing table: {e}"),
    }
    Ok(())
}
