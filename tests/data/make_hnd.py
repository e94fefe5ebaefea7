#!/usr/bin/python3
"""Writes a plastimatch `drr -t raw` projection set as Varian OBI .hnd files.

Usage: make_hnd.py DRR_DIR OUT_DIR [--i0 139000] [--code3]

Each drr image (line integrals p, 32-bit floats) becomes counts round(i0 * exp(-p)) in the
.hnd compressed layout (1,024-byte header; a table of 2-bit codes; the first row and one pixel
as 32-bit counts; then each pixel's difference from left + above - above-left in 8, 16 or 32
bits). The header's projection angle a is chosen so that plastimatch's reading of a .hnd
(source at (SAD sin a, -SAD cos a, 0), SID 1500, a 400 x 300 mm panel centred on the central
ray) is the drr's own geometry: the script checks the drr's .txt matrix against that reading
and fails if they differ, so a set it writes is the same acquisition in the other format.
--code3 writes one invalid compression code (for the refusal test).
"""
import math
import os
import struct
import sys


def read_geometry(path):
    v = [float(x) for x in open(path).read().split()[:16]]
    ic = v[0:2]
    P = [v[2 + 4 * r: 6 + 4 * r] for r in range(3)]
    return ic, P, v[14], v[15]


def det3(m):
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


def null_point(P):
    """The source: P [x, 1] = 0 (Cramer's rule)."""
    A = [row[:3] for row in P]
    b = [-row[3] for row in P]
    d = det3(A)
    out = []
    for c in range(3):
        m = [row[:] for row in A]
        for r in range(3):
            m[r][c] = b[r]
        out.append(det3(m) / d)
    return out


def hnd_matrix(angle_deg, sad, sid, ps):
    a = math.radians(angle_deg)
    nrm = [math.sin(a), -math.cos(a), 0.0]
    left = [nrm[1], -nrm[0], 0.0]  # nrm x (0, 0, 1)
    n = math.hypot(left[0], left[1])
    left = [x / n for x in left]
    up = [left[1] * nrm[2] - left[2] * nrm[1], left[2] * nrm[0] - left[0] * nrm[2],
          left[0] * nrm[1] - left[1] * nrm[0]]
    return [[-x / ps[0] for x in left] + [0.0], [-x / ps[1] for x in up] + [0.0],
            [-x / sid for x in nrm] + [sad / sid]]


def encode(counts, nx, ny, code3=False):
    codes = []
    diffs = bytearray()
    for i in range(nx + 1, nx * ny):
        pred = counts[i - 1] + counts[i - nx] - counts[i - nx - 1]
        d = counts[i] - pred
        if code3 and i == nx + 5:
            codes.append(3)
        elif -128 <= d <= 127:
            codes.append(0)
            diffs += struct.pack('<b', d)
        elif -32768 <= d <= 32767:
            codes.append(1)
            diffs += struct.pack('<h', d)
        else:
            codes.append(2)
            diffs += struct.pack('<i', d)
    table = bytearray((ny - 1) * nx // 4)
    for k, c in enumerate(codes):
        table[k // 4] |= c << (2 * (k % 4))
    first = struct.pack('<%dI' % (nx + 1), *counts[:nx + 1])
    return bytes(table) + first + bytes(diffs)


def header(nx, ny, angle_deg, sad, ps, file_length):
    h = bytearray(1024)
    h[0:16] = b'VARIAN_VA_OUTPUT'
    struct.pack_into('<I', h, 32, file_length)
    struct.pack_into('<II', h, 120, nx, ny)
    struct.pack_into('<d', h, 168, 0.0)  # gantry (the treatment head)
    struct.pack_into('<dd', h, 176, sad, 0.0)  # SAD; SFD 0, as clinical files have it
    struct.pack_into('<dd', h, 352, ps[0], ps[1])
    struct.pack_into('<d', h, 400, 125.0)  # kV
    struct.pack_into('<d', h, 432, angle_deg)
    return bytes(h)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    src, out = argv[1], argv[2]
    i0 = float(argv[argv.index('--i0') + 1]) if '--i0' in argv else 139000.0
    code3 = '--code3' in argv
    os.makedirs(out, exist_ok=True)
    names = sorted(f for f in os.listdir(src) if f.endswith('.raw'))
    if not names:
        sys.exit('no .raw projections in ' + src)
    for k, name in enumerate(names):
        ic, P, sad, sid = read_geometry(os.path.join(src, name[:-4] + '.txt'))
        nx, ny = int(round(2 * ic[0] + 1)), int(round(2 * ic[1] + 1))
        data = open(os.path.join(src, name), 'rb').read()
        if len(data) != 4 * nx * ny:
            sys.exit('%s: %d bytes, not %d x %d floats' % (name, len(data), nx, ny))
        p = struct.unpack('<%df' % (nx * ny), data)
        cam = null_point(P)
        angle = math.degrees(math.atan2(cam[0], -cam[1])) % 360.0
        ps = (400.0 / nx, 300.0 / ny)
        if abs(sid - 1500.0) > 1e-6 or abs(cam[2]) > 1e-6:
            sys.exit('%s: a .hnd set needs SID 1500 and the source in the axial plane' % name)
        # The drr's matrix and plastimatch's reading of the .hnd, both scaled to depth 1 at
        # the isocentre, must be one mapping.
        M = hnd_matrix(angle, sad, sid, ps)
        sP, sM = P[2][3], M[2][3]
        worst = max(abs(P[r][c] / sP - M[r][c] / sM) for r in range(3) for c in range(4))
        if worst > 1e-6:
            sys.exit('%s: the drr geometry is not the one a .hnd header states (%g)' % (name, worst))
        counts = [max(1, min(0xFFFFFFFF, int(round(i0 * math.exp(-v))))) for v in p]
        body = encode(counts, nx, ny, code3 and k == 0)
        with open(os.path.join(out, 'Proj_%05d.hnd' % k), 'wb') as f:
            f.write(header(nx, ny, angle, sad, ps, 1024 + len(body)) + body)


if __name__ == '__main__':
    main(sys.argv)
