//! Real BitTorrent programs for interop tests, set up as `/work/shared/INTEROP-NOTES.md`
//! says they must be on loopback: libtorrent (Debian's Python bindings), aria2c,
//! transmission-cli 3.00 and opentracker.
//!
//! Every program runs as a [`Program`]: killed when dropped, its stdout lines kept for the
//! test to wait on, both of its outputs written to log files in the test's folder and their
//! last lines printed when the test fails, so a CI failure says what the client saw.
//!
//! Callers check the tools first with [`crate::require`] / [`crate::require_libtorrent`].

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{wait_until, ChildGuard, SYSTEM_PYTHON};

/// Lines of a log printed when a test fails.
const TAIL_LINES: usize = 40;

/// A child process of a test: killed and reaped when dropped; its stdout lines are kept
/// (and copied to `NAME.out`), its stderr goes to `NAME.err`, both in the log folder.
pub struct Program {
    name: String,
    child: ChildGuard,
    lines: Arc<Mutex<Vec<String>>>,
    out_log: PathBuf,
    err_log: PathBuf,
    tail_filter: Option<fn(&str) -> bool>,
    extra_logs: Vec<PathBuf>,
}

impl Program {
    /// Spawns `cmd` as `name` (also the log files' name), logging into `log_dir`.
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> Program {
        let out_log = log_dir.join(format!("{name}.out"));
        let err_log = log_dir.join(format!("{name}.err"));
        let err = File::create(&err_log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", err_log.display()));
        let mut child = ChildGuard::spawn(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(err)),
        );
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.0.stdout.take() {
            let mut copy = File::create(&out_log).ok();
            let l = lines.clone();
            // Ends when the child's stdout closes (it exited or was killed).
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(f) = copy.as_mut() {
                        let _ = writeln!(f, "{line}");
                    }
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        Program {
            name: name.to_string(),
            child,
            lines,
            out_log,
            err_log,
            tail_filter: None,
            extra_logs: Vec::new(),
        }
    }

    /// A log file the program writes itself, also shown by [`Self::log_tail`].
    pub fn add_log(&mut self, path: PathBuf) {
        self.extra_logs.push(path);
    }

    /// Only stdout lines for which `keep` holds (and the last one) go into
    /// [`Self::log_tail`]: for programs that repeat a status line.
    pub fn set_tail_filter(&mut self, keep: fn(&str) -> bool) {
        self.tail_filter = Some(keep);
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first stdout line (from the start) for which `pred` holds, waiting up to
    /// `timeout`; `None` when the time is up or the program exited without one.
    pub fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut found = None;
        let mut exited_at: Option<Instant> = None;
        wait_until(timeout, || {
            found = self
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|l| pred(l))
                .cloned();
            if found.is_some() {
                return true;
            }
            // After an exit, give the reader thread a moment for the last lines.
            if self.child.try_wait().is_some() {
                let t = *exited_at.get_or_insert_with(Instant::now);
                return t.elapsed() > Duration::from_millis(500);
            }
            false
        });
        found
    }

    /// Waits up to `timeout` until its stderr log holds `needle`.
    pub fn wait_stderr(&mut self, timeout: Duration, needle: &str) -> bool {
        wait_until(timeout, || {
            std::fs::read(&self.err_log).is_ok_and(|t| String::from_utf8_lossy(&t).contains(needle))
        })
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait()
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait();
            status.is_some()
        });
        status
    }

    /// The last lines of both logs, for a failure message.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        let mut logs = vec![("stdout", &self.out_log), ("stderr", &self.err_log)];
        logs.extend(self.extra_logs.iter().map(|p| ("log", p)));
        for (what, path) in logs {
            let text = std::fs::read(path).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let all: Vec<&str> = text.lines().collect();
            let mut lines = all.clone();
            if let (Some(keep), "stdout") = (self.tail_filter, what) {
                lines.retain(|l| keep(l));
                if let Some(last) = all.last().filter(|l| !keep(l)) {
                    lines.push(last);
                }
            }
            let from = lines.len().saturating_sub(TAIL_LINES);
            let _ = writeln!(
                s,
                "--- {} {what} ({} lines, {} shown) ---",
                self.name,
                all.len(),
                lines.len() - from
            );
            for l in &lines[from..] {
                let _ = writeln!(s, "{l}");
            }
        }
        s
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Waits up to `timeout` until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )
        .is_ok()
    })
}

/// The value of `key=` in a line of `key=value` words.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// A number field of a `key=value` line (0 when absent or not a number).
pub fn num_field(line: &str, key: &str) -> u64 {
    field(line, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

// ----- libtorrent -----

/// The libtorrent session: the notes' settings (TCP only, several connections per IP, no
/// DHT/LSD/UPnP/NAT-PMP, loopback only; with `dht HOST:PORT` arguments, a DHT node on its
/// listen port bootstrapping from those, with the restrictions that keep loopback nodes
/// out turned off); prints one line per torrent every 0.25 s:
/// `torrent=I seeding=0|1 progress=P peers=N uploaded=B downloaded=B seen=LIST paused=0|1
/// state=S`,
/// where `seen` lists every TCP connection the torrent ever had (from its alerts, so none
/// is missed however short) as `out:PORT` (libtorrent dialed 127.0.0.1:PORT) or `in:PORT`
/// (a peer dialed libtorrent, from PORT), or is `-`. A torrent takes peers once it is
/// `paused=0` (see [`libtorrent_ready`]). The script exits after the given number of
/// seconds.
const LT_SCRIPT: &str = r#"
import sys, time
import libtorrent as lt
port, secs = int(sys.argv[1]), float(sys.argv[2])
args = sys.argv[3:]
dht = [args[i + 1] for i in range(0, len(args) - 1, 2) if args[i] == 'dht']
settings = {
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True,
    'alert_mask': lt.alert_category.connect | lt.alert_category.peer,
}
if dht:
    settings.update({
        'enable_dht': True, 'dht_bootstrap_nodes': ','.join(dht),
        'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
        'dht_prefer_verified_node_ids': False, 'dht_ignore_dark_internet': False,
    })
s = lt.session(settings)
handles, peers = [], []
while args:
    kind, value = args[0], args[1]
    args = args[2:]
    if kind == 'dht':
        continue
    if kind == 'torrent':
        torrent, save = value.split('\n')
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = save
        handles.append(s.add_torrent(p))
    elif kind == 'magnet':
        uri, save = value.split('\n')
        p = lt.parse_magnet_uri(uri)
        p.save_path = save
        handles.append(s.add_torrent(p))
    elif kind == 'peer':
        peers.append(int(value))
for h in handles:
    for p in peers:
        h.connect_peer(('127.0.0.1', p))
print('started port=%d' % port, flush=True)
seen = [set() for _ in handles]
end = time.time() + secs
while time.time() < end:
    for a in s.pop_alerts():
        if isinstance(a, lt.peer_connect_alert):
            way = 'out' if 'outgoing' in a.message() else 'in'
            for i, h in enumerate(handles):
                if h == a.handle:
                    seen[i].add('%s:%d' % (way, a.endpoint[1]))
    for i, h in enumerate(handles):
        st = h.status()
        print('torrent=%d seeding=%d progress=%.4f peers=%d uploaded=%d downloaded=%d seen=%s paused=%d state=%s'
              % (i, int(st.is_seeding), st.progress, st.num_peers, st.all_time_upload,
                 st.all_time_download, ','.join(sorted(seen[i])) or '-', int(st.paused),
                 str(st.state).split('.')[-1]),
              flush=True)
    time.sleep(0.1 if any(not h.status().is_seeding for h in handles) else 0.25)
"#;

/// A libtorrent session on 127.0.0.1:`port` with `torrents` (each a `.torrent` file, or a
/// `magnet:` link, and the folder its data is or goes in), dialing 127.0.0.1:`dial` ports;
/// runs `secs` seconds at most. Lines as described at [`LT_SCRIPT`]; [`field`] and
/// [`num_field`] read them.
pub fn libtorrent(
    name: &str,
    log_dir: &Path,
    port: u16,
    torrents: &[(&Path, &Path)],
    dial: &[u16],
    secs: u32,
) -> Program {
    libtorrent_with_dht(name, log_dir, port, torrents, dial, &[], secs)
}

/// [`libtorrent`] with a DHT node that bootstraps from `dht` (`HOST:PORT`s).
pub fn libtorrent_with_dht(
    name: &str,
    log_dir: &Path,
    port: u16,
    torrents: &[(&Path, &Path)],
    dial: &[u16],
    dht: &[String],
    secs: u32,
) -> Program {
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg("-c")
        .arg(LT_SCRIPT)
        .arg(port.to_string())
        .arg(secs.to_string());
    for (torrent, save) in torrents {
        let t = torrent.display().to_string();
        let kind = if t.starts_with("magnet:") {
            "magnet"
        } else {
            "torrent"
        };
        cmd.arg(kind).arg(format!("{t}\n{}", save.display()));
    }
    for p in dial {
        cmd.arg("peer").arg(p.to_string());
    }
    for n in dht {
        cmd.arg("dht").arg(n);
    }
    Program::spawn(name, &mut cmd, log_dir)
}

/// The latest status line of libtorrent's torrent `index` for which `pred` holds, waiting
/// up to `timeout`.
pub fn libtorrent_wait(
    lt: &mut Program,
    index: usize,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let key = format!("torrent={index}");
    lt.wait_line(timeout, |l| {
        l.split_whitespace().next() == Some(key.as_str()) && pred(l)
    })
}

/// Waits until libtorrent's torrent `index` takes peers: checked, and started by the
/// session's queue (before that it resets incoming connections).
pub fn libtorrent_ready(lt: &mut Program, index: usize, timeout: Duration) -> bool {
    libtorrent_wait(lt, index, timeout, |l| {
        field(l, "paused") == Some("0")
            && matches!(field(l, "state"), Some("downloading" | "seeding"))
    })
    .is_some()
}

/// The latest status line of libtorrent's torrent `index`, if any.
pub fn libtorrent_last(lt: &Program, index: usize) -> Option<String> {
    let key = format!("torrent={index}");
    lt.lines()
        .into_iter()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(key.as_str()))
}

// ----- aria2c -----

/// aria2c downloading `torrent` into `dir` and exiting once complete (`--seed-time=0`),
/// listening on `port`, with the notes' settings (no DHT, LPD, PEX or IPv6; loopback only).
pub fn aria2(name: &str, log_dir: &Path, torrent: &Path, dir: &Path, port: u16) -> Program {
    let log = log_dir.join(format!("{name}.log"));
    let mut p = Program::spawn(
        name,
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--seed-time=0",
                "--file-allocation=none",
                "--auto-file-renaming=false",
                "--summary-interval=1",
                "--console-log-level=notice",
                "--bt-tracker-connect-timeout=5",
                "--bt-tracker-timeout=5",
            ])
            .arg(format!("--listen-port={port}"))
            .arg(format!("--dir={}", dir.display()))
            .arg(format!("--log={}", log.display()))
            .arg("--log-level=info")
            .arg(torrent),
        log_dir,
    );
    p.add_log(log);
    p
}

// ----- transmission-cli -----

/// transmission-cli 3.00 with `torrent`, data in `dir` (seeded if complete there),
/// listening on `port`, with its own config folder in `log_dir` (no DHT, LPD, PEX, uTP,
/// port mapping or RPC). It never exits by itself: when the torrent is complete it touches
/// `done_marker` (its `-f` script), and the test then drops it. Wait for
/// [`transmission_ready`] before dialing it.
pub fn transmission(
    name: &str,
    log_dir: &Path,
    torrent: &Path,
    dir: &Path,
    port: u16,
    done_marker: &Path,
) -> Program {
    let config = log_dir.join(format!("{name}-config"));
    std::fs::create_dir_all(&config)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", config.display()));
    let settings = r#"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
        "utp-enabled": false, "port-forwarding-enabled": false, "rpc-enabled": false,
        "peer-port-random-on-start": false, "ratio-limit-enabled": false,
        "idle-seeding-limit-enabled": false, "speed-limit-up-enabled": false,
        "speed-limit-down-enabled": false, "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1", "message-level": 3}"#;
    write_file(&config.join("settings.json"), settings.as_bytes(), 0o644);
    let script = log_dir.join(format!("{name}-done.sh"));
    let body = format!(
        "#!/bin/sh\ntouch '{}'\n",
        done_marker.display().to_string().replace('\'', r"'\''")
    );
    write_file(&script, body.as_bytes(), 0o755);
    let mut cmd = if crate::is_installed("stdbuf") {
        // Its stdout is block-buffered into a file: line-buffered, the log is live.
        let mut c = Command::new("stdbuf");
        c.arg("-oL").arg("transmission-cli");
        c
    } else {
        Command::new("transmission-cli")
    };
    cmd.arg("-g")
        .arg(&config)
        .arg("-w")
        .arg(dir)
        .args(["-p", &port.to_string(), "-M", "-f"])
        .arg(&script)
        .arg(torrent);
    Program::spawn(name, &mut cmd, log_dir)
}

/// Waits until transmission has checked the data it found and takes peers. It drops
/// connections while it verifies, and keeps one peer per IP, so a probe connection from
/// 127.0.0.1 would keep the test's own peer out for a while: its debug log says instead.
pub fn transmission_ready(tr: &mut Program, timeout: Duration) -> bool {
    tr.wait_stderr(timeout, "Verification is done")
}

// ----- opentracker -----

/// A running opentracker on 127.0.0.1, HTTP and UDP on `port`.
pub struct Opentracker {
    /// The process.
    pub program: Program,
    /// Its port (TCP and UDP).
    pub port: u16,
}

impl Opentracker {
    /// Starts Debian's opentracker serving exactly `hashes` (40-digit hex info-hashes; it is
    /// built whitelist-only) in `dir`, which it chroots into when run as root (the folder
    /// and its parents are made world-readable). Returns once it answers an announce for
    /// the first hash (it listens before it has read its whitelist).
    pub fn start(log_dir: &Path, dir: &Path, hashes: &[String]) -> Opentracker {
        assert!(!hashes.is_empty(), "opentracker needs at least one hash");
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let list: String = hashes.iter().map(|h| format!("{h}\n")).collect();
        write_file(&dir.join("whitelist"), list.as_bytes(), 0o644);
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if as_root {
            // It chroots into `dir` and drops to `nobody`, who must reach the list.
            let mut p = Some(dir);
            while let Some(d) = p {
                if d == Path::new("/") {
                    break;
                }
                if let Ok(m) = std::fs::metadata(d) {
                    let mode = m.permissions().mode() | 0o005;
                    let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode));
                }
                p = d.parent();
            }
        }
        for _ in 0..5 {
            let port = crate::free_port();
            let p = port.to_string();
            let mut cmd = Command::new("opentracker");
            cmd.args(["-i", "127.0.0.1", "-p", &p, "-P", &p]);
            if as_root {
                cmd.arg("-w").arg("/whitelist").arg("-d").arg(dir);
            } else {
                cmd.arg("-w").arg(dir.join("whitelist"));
            }
            let mut program = Program::spawn(&format!("opentracker-{port}"), &mut cmd, log_dir);
            let ready = wait_until(Duration::from_secs(15), || {
                program.try_wait().is_some() || announce_accepted(port, &hashes[0])
            });
            if ready && program.try_wait().is_none() {
                return Opentracker { program, port };
            }
            // The port was taken meanwhile, or it did not come up: another port.
        }
        panic!("opentracker did not start on any of 5 ports");
    }

    /// `http://127.0.0.1:PORT/announce`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// `udp://127.0.0.1:PORT/announce`.
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }
}

/// Whether an HTTP tracker on `port` accepts a `stopped` announce for `hex_hash` (a probe
/// that leaves no peer behind).
fn announce_accepted(port: u16, hex_hash: &str) -> bool {
    let mut q = String::new();
    for pair in hex_hash.as_bytes().chunks(2) {
        q.push('%');
        q.push_str(std::str::from_utf8(pair).unwrap_or("00"));
    }
    let target = format!(
        "/announce?info_hash={q}&peer_id=-XX0000-readinessprb&port=9&uploaded=0\
         &downloaded=0&left=0&event=stopped&compact=1"
    );
    match http_get(port, &target) {
        Some(body) => !body.windows(7).any(|w| w == b"failure"),
        None => false,
    }
}

/// GET `target` from 127.0.0.1:`port`; the body, `None` on any failure.
pub fn http_get(port: u16, target: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status_ok = buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200");
    status_ok.then(|| buf[split + 4..].to_vec())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}
