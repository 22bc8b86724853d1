"""A libtorrent downloader for the benchmarks (TCP only): exits once complete.

Usage: lt_download.py TORRENT SAVE_PATH PORT TIMEOUT_SECONDS [HOST:PORT ...]
Peers come from the torrent's tracker, and from the HOST:PORT arguments if given. It listens
on LT_IFACE (default 127.0.0.1). At exit it prints one JSON line: seconds to complete, when
95% was reached, payload bytes received, redundant and failed bytes (libtorrent's own
counters). Exit status 0 when complete, 1 on timeout. With LT_PLAIN=1 it does not try MSE/PE
encryption first (libtorrent's default does, and a peer that does not speak it, as
bf-console, costs it a second before it dials again in plain text).
"""
import json
import os
import sys
import time

import libtorrent as lt

torrent, save, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
iface = os.environ.get('LT_IFACE', '127.0.0.1')
s = lt.session({
    'listen_interfaces': '%s:%d' % (iface, port),
    'outgoing_interfaces': iface,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'allow_multiple_connections_per_ip': True,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    **({'out_enc_policy': 2, 'in_enc_policy': 2} if os.environ.get('LT_PLAIN') == '1' else {}),
})
h = s.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
for peer in sys.argv[5:]:
    host, p = peer.rsplit(':', 1)
    h.connect_peer((host, int(p)))
start = time.time()
end = start + limit
t95 = None
done = False
while time.time() < end:
    st = h.status()
    if t95 is None and st.progress >= 0.95:
        t95 = time.time() - start
    if st.is_seeding:
        done = True
        break
    time.sleep(0.02)
st = h.status()
print(json.dumps({
    'seconds': time.time() - start,
    't95': t95,
    'downloaded': st.total_payload_download,
    'redundant': st.total_redundant_bytes,
    'failed': st.total_failed_bytes,
    'complete': done,
}), flush=True)
sys.exit(0 if done else 1)
