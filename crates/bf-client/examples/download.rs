//! Downloads one torrent into a folder, printing progress from the event stream, then exits.
//!
//! `cargo run -p bf-client --example download -- FILE.torrent DIR [HOST:PORT ...]`

use bf_client::{AddTorrent, Session, SessionConfig, TorrentEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(torrent), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: download FILE.torrent DIR [HOST:PORT ...]");
        std::process::exit(2);
    };
    let session = Session::new(SessionConfig::default()).await?;
    let mut add = AddTorrent::file(torrent).save_in(dir);
    for peer in args {
        add = add.peer(peer.parse()?);
    }
    let handle = session.add_torrent(add).await?;
    let mut events = handle.events();
    // Bounded by the download: the loop ends at completion or on an error.
    loop {
        match events.recv().await {
            Ok(TorrentEvent::Status(st)) => {
                println!(
                    "{:5.1}%  {:>8} KiB/s  {} peers",
                    st.progress() * 100.0,
                    st.down_rate / 1024,
                    st.peers
                );
                // Already complete at start (resume data, or a complete file).
                if st.state == bf_client::TorrentState::Seeding {
                    break;
                }
            }
            Ok(TorrentEvent::Completed) => break,
            Ok(TorrentEvent::Error(e)) => return Err(e.into()),
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
    if handle.status().is_complete() {
        println!("{}: complete", handle.metainfo().name());
    }
    session.shutdown().await;
    Ok(())
}
