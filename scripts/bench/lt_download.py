"""A libtorrent downloader for the benchmarks (TCP only, loopback): exits once complete.

Usage: lt_download.py TORRENT SAVE_PATH PORT TIMEOUT_SECONDS [HOST:PORT ...]
Peers come from the torrent's tracker, and from the HOST:PORT arguments if given.
Exit status 0 when complete, 1 on timeout.
"""
import sys
import time

import libtorrent as lt

torrent, save, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'allow_multiple_connections_per_ip': True,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
})
h = s.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
for peer in sys.argv[5:]:
    host, p = peer.rsplit(':', 1)
    h.connect_peer((host, int(p)))
end = time.time() + limit
while time.time() < end:
    if h.status().is_seeding:
        sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
