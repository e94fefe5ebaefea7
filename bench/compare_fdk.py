#!/usr/bin/python3
"""Cone-beam reconstruction beside plastimatch's FDK on the same projection files.

Writes the built-in patient's CT (`linac case make`), projects it with `plastimatch drr`
(.pfm images: plastimatch's fdk guesses a .raw image's size from a list of panel sizes and
misreads any other; 120 projections 3 degrees apart, SAD 1000 mm, SID 1500 mm, a 192 x 256 panel of 298 x 397 mm;
the full-fan panel centred, the half-fan one offset along its rows), then reconstructs each
set with `plastimatch fdk` and `linac igrt recon` on the same 128 x 128 x 96 grid of
256 x 256 x 240 mm, timing each whole process (best of REPEATS runs), and compares each
reconstruction with the CT resampled onto that grid (`plastimatch resample`): the RMSE and the
mean error in HU inside the field of view (a cylinder of the panel's reach at the isocentre,
within the central 80 % of the slices) and inside the body.

Usage: bench/compare_fdk.py [LINAC] [WORKDIR] [REPEATS]   (OMP_NUM_THREADS=2 for 2 cores)"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

LINAC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "build", "release", "bin", "linac")
WORK = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="linac-fdk-")
REPEATS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
SIZE, EXTENT = (128, 128, 96), (256.0, 256.0, 240.0)
ROWS, COLS, PANEL = 192, 256, (298.0, 397.0)
SAD, SID = 1000.0, 1500.0


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr + r.stdout))
    return r.stdout


def timed(cmd):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        run(cmd)
        best = min(best, time.perf_counter() - t0)
    return best


def read_mha(path):
    with open(path, "rb") as f:
        data = f.read()
    header, at = {}, 0
    while True:
        end = data.index(b"\n", at)
        key, value = data[at:end].decode().split(" = ", 1)
        header[key] = value.strip()
        at = end + 1
        if key == "ElementDataFile":
            break
    raw = data[at:]
    if header.get("CompressedData", "False") == "True":
        raw = zlib.decompress(raw)
    dims = [int(v) for v in header["DimSize"].split()]
    code = {"MET_FLOAT": "f", "MET_SHORT": "h", "MET_USHORT": "H", "MET_UCHAR": "B"}[
        header["ElementType"]]
    n = dims[0] * dims[1] * dims[2]
    values = struct.unpack("<%d%s" % (n, code), raw[: n * struct.calcsize(code)])
    spacing = [float(v) for v in header["ElementSpacing"].split()]
    offset = [float(v) for v in header["Offset"].split()]
    return dims, spacing, offset, values


def errors(recon_path, ct_path, body_path, fov_radius_mm):
    """(RMSE, mean error, RMSE after the best linear calibration, voxels) in HU inside the field
    of view and the body: the calibration (HU = a + b x value, least squares) puts a tool whose
    output is not in HU, or whose HU scale differs, on the CT's scale before the comparison."""
    dims, spacing, offset, recon = read_mha(recon_path)
    _, _, _, ct = read_mha(ct_path)
    _, _, _, body = read_mha(body_path)
    nx, ny, nz = dims
    k_lo, k_hi = int(0.1 * nz), int(0.9 * nz)
    pairs = []
    for k in range(k_lo, k_hi):
        for j in range(ny):
            y = offset[1] + j * spacing[1]
            for i in range(nx):
                x = offset[0] + i * spacing[0]
                if x * x + y * y > fov_radius_mm ** 2:
                    continue
                m = (k * ny + j) * nx + i
                if body[m]:
                    pairs.append((recon[m], ct[m]))
    n = len(pairs)
    rmse = math.sqrt(sum((r - c) ** 2 for r, c in pairs) / n)
    mean = sum(r - c for r, c in pairs) / n
    mr = sum(r for r, _ in pairs) / n
    mc = sum(c for _, c in pairs) / n
    var = sum((r - mr) ** 2 for r, _ in pairs)
    b = sum((r - mr) * (c - mc) for r, c in pairs) / var if var > 0 else 0.0
    a = mc - b * mr
    calibrated = math.sqrt(sum((a + b * r - c) ** 2 for r, c in pairs) / n)
    return rmse, mean, calibrated, n


def case(name, drr_extra):
    folder = os.path.join(WORK, name)
    os.makedirs(folder, exist_ok=True)
    run(["plastimatch", "drr", "-t", "pfm", "-a", "120", "-N", "3", "--sad", str(SAD),
         "--sid", str(SID), "-r", "%d %d" % (ROWS, COLS), "-z", "%g %g" % PANEL,
         "-I", os.path.join(WORK, "case", "ct.mha"), "-O", os.path.join(folder, "drr")]
        + drr_extra)
    ours = os.path.join(WORK, name + "_linac.mha")
    theirs = os.path.join(WORK, name + "_plastimatch.mha")
    t_ours = timed([LINAC, "igrt", "recon", folder, "--out", ours, "--size",
                    "%d,%d,%d" % SIZE, "--extent-mm", "%g,%g,%g" % EXTENT])
    t_theirs = timed(["plastimatch", "fdk", "-I", folder, "-O", theirs, "-r",
                      "%d %d %d" % SIZE, "-z", "%g %g %g" % EXTENT])
    info = json.loads(run([LINAC, "igrt", "recon", folder, "--out", ours, "--size",
                           "%d,%d,%d" % SIZE, "--extent-mm", "%g,%g,%g" % EXTENT, "--json"]))
    ct_on = os.path.join(WORK, "ct_on_grid.mha")
    body_on = os.path.join(WORK, "body_on_grid.mha")
    run(["plastimatch", "resample", "--input", os.path.join(WORK, "case", "ct.mha"), "--fixed",
         ours, "--output", ct_on, "--output-type", "float"])
    run(["plastimatch", "resample", "--input", os.path.join(WORK, "case", "body.mha"), "--fixed",
         ours, "--output", body_on, "--output-type", "uchar", "--interpolation", "nn"])
    g = info["geometry"]
    reach = (abs(g["panel_offset_mm"]) + 0.5 * g["columns"] * g["pixel_pitch_mm"]) * SAD / SID
    radius = 0.95 * reach
    ours_rmse, ours_mean, ours_cal, n = errors(ours, ct_on, body_on, radius)
    theirs_rmse, theirs_mean, theirs_cal, _ = errors(theirs, ct_on, body_on, radius)
    return {"case": name, "half_fan": info["half_fan"], "projections": info["projections"],
            "fov_radius_mm": round(radius, 1), "voxels_compared": n,
            "linac_s": round(t_ours, 3), "plastimatch_s": round(t_theirs, 3),
            "speed_ratio": round(t_theirs / t_ours, 2),
            "linac_rmse_hu": round(ours_rmse, 1), "plastimatch_rmse_hu": round(theirs_rmse, 1),
            "linac_calibrated_rmse_hu": round(ours_cal, 1),
            "plastimatch_calibrated_rmse_hu": round(theirs_cal, 1),
            "linac_mean_error_hu": round(ours_mean, 1),
            "plastimatch_mean_error_hu": round(theirs_mean, 1)}


def main():
    run([LINAC, "case", "make", "--out", os.path.join(WORK, "case"), "--spacing-mm", "2.5",
         "--no-compress"])
    rows = [case("full_fan", []),
            case("half_fan", ["-c", "%g %g" % (40.0, (COLS - 1) / 2.0)])]
    for r in rows:
        print("%-9s linac %5.2f s, plastimatch %5.2f s (x%.2f); RMSE in the FOV, as output / "
              "linearly calibrated: linac %6.1f / %5.1f HU, plastimatch %6.1f / %5.1f HU" %
              (r["case"], r["linac_s"], r["plastimatch_s"], r["speed_ratio"], r["linac_rmse_hu"],
               r["linac_calibrated_rmse_hu"], r["plastimatch_rmse_hu"],
               r["plastimatch_calibrated_rmse_hu"]))
    print(json.dumps({"work": WORK, "cases": rows}))


main()
