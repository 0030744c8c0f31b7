"""Groups a heaptrack flamegraph file (heaptrack_print --flamegraph-cost-type
peak -F FILE) by the innermost junction::/rustls::/aws_lc/glommio:: frame of
each stack and prints bytes per session: group_heaptrack.py FILE SESSIONS."""
import sys, re, collections
fg = sys.argv[1]; n = int(sys.argv[2]); pat = sys.argv[3] if len(sys.argv) > 3 else r'^(junction::|rustls::|aws_lc|glommio::)'
tot = collections.Counter(); total = 0
for line in open(fg):
    line=line.rstrip('\n')
    stack, _, cost = line.rpartition(' ')
    cost = int(cost); total += cost
    frames = stack.split(';')
    key = None
    for f in reversed(frames):   # innermost last in flamegraph format
        if re.search(pat, f):
            key = f; break
    if key is None: key = frames[-1][:100] if frames else '?'
    key = re.sub(r'::h[0-9a-f]{16}$', '', key)
    tot[key] += cost
print('total', total, 'per session', total/n)
for k, v in tot.most_common(45):
    print(f'{v/n:9.1f} B  {k[:160]}')
