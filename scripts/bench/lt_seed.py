"""A libtorrent high_performance_seed seeder for the benchmarks (TCP only, loopback).

Usage: lt_seed.py TORRENT SAVE_PATH PORT SECONDS [CONNECT_FILE]
Prints `seeding` once the data is checked. Every 0.2 s it reads CONNECT_FILE (if given):
each line `HOST:PORT` not seen before is dialled (for downloaders such as transmission
that never dial loopback peers themselves).
"""
import os
import sys
import time

import libtorrent as lt

torrent, save, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
connect_file = sys.argv[5] if len(sys.argv) > 5 else None
settings = lt.high_performance_seed()
settings.update({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'allow_multiple_connections_per_ip': True,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
})
s = lt.session(settings)
h = s.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
seen = set()
announced = False
end = time.time() + secs
while time.time() < end:
    if not announced and h.status().is_seeding:
        print('seeding', flush=True)
        announced = True
    if connect_file and os.path.exists(connect_file):
        with open(connect_file) as f:
            for line in f:
                line = line.strip()
                if line and line not in seen:
                    seen.add(line)
                    host, p = line.rsplit(':', 1)
                    h.connect_peer((host, int(p)))
    time.sleep(0.2)
