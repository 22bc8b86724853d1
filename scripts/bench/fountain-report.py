"""Tables and a plot from the fountain benchmark's results.jsonl (scripts/bench-fountain.sh).

Usage: python3 scripts/bench/fountain-report.py RESULTS.jsonl [PLOT.svg]
Prints markdown tables (medians per scenario and mode, with the ratio to the link-capacity
bound) and writes a bar chart of completion times (every run as a dot, the median as a bar,
the bound as a line) to PLOT.svg (default docs/fountain-results.svg). Standard library only.
"""
import json
import statistics
import sys
from collections import defaultdict

MODES = ['tcp', 'fountain', 'blocks', 'libtorrent']
COLOURS = {'tcp': '#999999', 'fountain': '#2b7bb9', 'blocks': '#e08a2c',
           'libtorrent': '#6a9f3a'}
MIB = 1 << 20


def load(path):
    rows = defaultdict(list)
    order = []
    for line in open(path):
        r = json.loads(line)
        if r['scenario'] not in order:
            order.append(r['scenario'])
        rows[(r['scenario'], r['mode'])].append(r)
    return rows, order


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def table(rows, order):
    print('| scenario | downloader | runs | time s (median) | bound s | of bound | '
          'redundant (median) | repair symbols | last 5 % s | CPU s |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for sc in order:
        for mode in MODES:
            rs = rows.get((sc, mode))
            if not rs:
                continue
            t = med(r['seconds'] for r in rs)
            bound = rs[0]['bound']
            red = med(r.get('redundant') for r in rs)
            rep = med(r.get('repair') for r in rs)
            tail = med(r.get('tail') for r in rs)
            cpu = med(r.get('cpu') for r in rs)
            ok = all(r.get('same') for r in rs)
            print('| %s | %s | %d%s | %.1f | %.1f | %.2f | %s | %s | %s | %s |' % (
                sc, mode, len(rs), '' if ok else ' (not all complete/correct)', t, bound,
                bound / t if t else 0,
                '-' if red is None else ('%.2f MiB' % (red / MIB) if red >= MIB
                                         else '%d KiB' % (red // 1024)),
                '-' if rep is None else '%d' % rep,
                '-' if tail is None else '%.1f' % tail,
                '-' if cpu is None else '%.2f' % cpu))
    print()
    print('Ratios of median times: block mode / fountain and libtorrent / fountain (above 1:'
          ' the fountain is faster); plain TCP / fountain (the share of the TCP ceiling the'
          ' fountain reaches):')
    print()
    print('| scenario | blocks / fountain | libtorrent / fountain | TCP / fountain |')
    print('|---|---:|---:|---:|')
    ratio = lambda a, b: '%.2f' % (a / b) if a and b else '-'
    for sc in order:
        f, b, lt, tcp = (med(r['seconds'] for r in rows.get((sc, m), []))
                         for m in ('fountain', 'blocks', 'libtorrent', 'tcp'))
        if f:
            print('| %s | %s | %s | %s |' % (sc, ratio(b, f), ratio(lt, f), ratio(tcp, f)))


def svg(rows, order, path):
    w_group, bar, gap, left, top, height = 180, 34, 6, 60, 30, 300
    width = max(left + w_group * len(order) + 20, 900)
    tmax = max(r['seconds'] for rs in rows.values() for r in rs) * 1.1
    y = lambda t: top + height - height * t / tmax
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (width, top + height + 70),
           '<rect width="100%" height="100%" fill="white"/>']
    step = 5 if tmax < 60 else 10
    t = 0
    while t <= tmax:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (
            left, width - 20, y(t), y(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d s</text>' % (left - 6, y(t) + 4, t))
        t += step
    for gi, sc in enumerate(order):
        x0 = left + gi * w_group + 10
        bound = None
        present = [m for m in MODES if rows.get((sc, m))]
        for mi, mode in enumerate(present):
            rs = rows[(sc, mode)]
            bound = rs[0]['bound']
            m = med(r['seconds'] for r in rs)
            x = x0 + mi * (bar + gap)
            out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s" '
                       'fill-opacity="0.75"/>' % (x, y(m), bar, top + height - y(m),
                                                  COLOURS[mode]))
            for r in rs:
                out.append('<circle cx="%d" cy="%.1f" r="2.5" fill="black"/>' % (
                    x + bar // 2, y(r['seconds'])))
        if bound:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="red" '
                       'stroke-dasharray="4,3"/>' % (x0 - 4, x0 + len(present) * (bar + gap),
                                                     y(bound), y(bound)))
        out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (
            x0 + (len(present) * (bar + gap) - gap) // 2, top + height + 18, sc))
    lx = left
    for mode in MODES:
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (
            lx, top + height + 36, COLOURS[mode]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 16, top + height + 46,
                                                      'plain TCP' if mode == 'tcp' else mode))
        lx += 100
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="red" stroke-dasharray="4,3"/>' % (
        lx, lx + 20, top + height + 42, top + height + 42))
    out.append('<text x="%d" y="%d">link-capacity bound (bars: median; dots: runs)</text>' % (
        lx + 26, top + height + 46))
    out.append('<text x="%d" y="%d" font-size="14">Time to complete per scenario</text>' % (
        left, top - 10))
    out.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def main():
    rows, order = load(sys.argv[1])
    table(rows, order)
    svg(rows, order, sys.argv[2] if len(sys.argv) > 2 else 'docs/fountain-results.svg')


if __name__ == '__main__':
    main()
