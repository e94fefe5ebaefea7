#!/usr/bin/python3
"""CBCT-to-planning-CT registration beside plastimatch and elastix (Debian packages).

Makes the built-in patient (3 mm), and for each of five known set-up errors (shifts up to 20 mm,
rotations up to 3 degrees) runs a simulated fraction set-up (`linac igrt setup --sim`: a
half-fan CBCT with scatter, and quantum noise at 20,000 photons per binned panel pixel, the
scatter taken off the projections with the imager profile's kernel before the reconstruction),
then registers the exported CBCT to the planning
CT with
`linac igrt register`, `elastix` (Euler transform, mean squares, 3 levels) and
`plastimatch register` (versor rigid, MSE, 3 stages), all with the body as the fixed mask and
the CBCT's measured region (`cbct_measured.mha`) as the moving mask, and
prints each tool's time and its error against the known set-up error (largest displacement
error over the corners of a 160 x 120 x 140 mm box about the isocentre, and the rotation error)
per case, then per tool the total time, the worst errors and the time ratio to linac.

SEEDS (default 1) repeats the five set-ups at each of these simulator seeds (comma-separated:
another draw of the scan's quantum noise and of the couch encoders' noise), and the summary adds
each tool's mean error and how many cases exceed 0.2 mm.

SET (default bench) chooses the set-ups: bench, the five above; own, ten of our own (small
set-ups, pure translations by fractions of a voxel, and others up to 19 mm and 3 degrees).

Usage: bench/compare_registration.py [LINAC] [WORKDIR] [SEEDS] [SET]   (OMP_NUM_THREADS=2 for 2 cores)"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

LINAC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "build", "release", "bin", "linac")
WORK = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="linac-compare-")
SEEDS = [int(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else [1]
PHOTONS = 20000  # quantum noise: photons per binned panel pixel, unattenuated
SETS = {
    # The style: shifts up to 20 mm, rotations up to 3 degrees.
    "bench": [[3.0, -2.0, 4.0, 0.5, -0.5, 1.0],  # tx, ty, tz (mm), rx, ry, rz (deg)
              [12.0, -8.0, 5.0, 1.5, 0.0, -1.0],
              [-15.0, 10.0, -12.0, -2.0, 1.0, 2.5],
              [20.0, 5.0, -18.0, 0.0, -3.0, 1.0],
              [-6.0, -20.0, 14.0, 3.0, 2.0, -2.0]],
    # Our own: small set-ups and pure translations by fractions of the 3 mm voxels, where the
    # interpolation's blur varies in step on both grids, and others up to 19 mm and 3 degrees.
    "own": [[1.0, 0.0, 0.0, 0.2, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.5, -0.5, 0.3, 0.1, -0.1, 0.1], [0.0, 0.75, 0.75, 0.0, 0.0, 0.0],
            [0.0, 1.5, 1.5, 0.0, 0.0, 0.0], [0.0, 1.25, -0.5, 0.0, 0.0, 0.0],
            [0.75, 0.0, 0.0, 0.0, 0.0, 0.0], [-8.0, 6.0, 19.0, -1.0, 2.5, 0.5],
            [5.0, 15.0, -3.0, 2.8, -1.2, -2.9], [-19.0, -4.0, 7.0, 0.7, 0.3, 3.0]],
}
SET = sys.argv[4] if len(sys.argv) > 4 else "bench"
ERRORS = SETS[SET]


def rx(a):
    c, s = math.cos(a), math.sin(a)
    return [[1, 0, 0], [0, c, -s], [0, s, c]]


def ry(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, 0, s], [0, 1, 0], [-s, 0, c]]


def rz(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, -s, 0], [s, c, 0], [0, 0, 1]]


def mul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def apply(r, v):
    return [sum(r[i][k] * v[k] for k in range(3)) for i in range(3)]


def transform(r, centre, t):
    """x -> R (x - c) + c + t"""
    return lambda p: [a + b + c for a, b, c in
                      zip(apply(r, [p[i] - centre[i] for i in range(3)]), centre, t)]


def angle_between(a, b):
    m = mul([[a[j][i] for j in range(3)] for i in range(3)], b)
    return math.degrees(math.acos(max(-1.0, min(1.0, (m[0][0] + m[1][1] + m[2][2] - 1) / 2))))


def run(cmd, ok=(0,), **kw):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode not in ok:
        sys.exit("failed: " + " ".join(cmd) + "\n" + p.stderr[-2000:])
    return p, time.time() - t0


def one_case(case, n, error, seed):
    frac = os.path.join(WORK, ("fraction%d" if SET == "bench" else SET + "%d") % n +
                        ("" if seed == 1 else "_seed%d" % seed))
    # exit 4: a correction beyond the couch's limits is not applied; the CBCT is still written
    setup, _ = run([LINAC, "igrt", "setup", "--sim", "--setup-error",
                    ",".join(str(v) for v in error), "--photons-per-pixel", str(PHOTONS),
                    "--seed", str(seed),
                    "--out", frac, "--json"], ok=(0, 4))
    s = json.loads(setup.stdout)
    iso = s["isocentre_mm"]
    true_r = mul(rz(math.radians(error[5])), mul(ry(math.radians(error[4])),
                                                  rx(math.radians(error[3]))))
    truth = transform(true_r, iso, error[:3])
    ct, cbct, mask = (os.path.join(case, "ct.mha"), os.path.join(frac, "cbct.mha"),
                      os.path.join(case, "body.mha"))
    results = []

    # Every tool gets the CBCT's measured region (the cone every projection saw, which `igrt
    # setup` matches) as its moving mask.
    measured = os.path.join(frac, "cbct_measured.mha")
    ours, t = run([LINAC, "igrt", "register", "--reference", ct, "--moving", cbct, "--mask", mask,
                   "--moving-mask", measured, "--json"])
    o = json.loads(ours.stdout)["registration"]
    r = [math.radians(v) for v in o["rotation_deg"]]
    results.append(("linac (BOBYQA, MSE)", t,
                    mul(rz(r[2]), mul(ry(r[1]), rx(r[0]))), o["centre_mm"], o["translation_mm"]))

    params = os.path.join(WORK, "elastix_rigid.txt")
    with open(params, "w") as f:
        f.write("""(FixedInternalImagePixelType "float")
(MovingInternalImagePixelType "float")
(FixedImageDimension 3)
(MovingImageDimension 3)
(Registration "MultiResolutionRegistration")
(Interpolator "BSplineInterpolator")
(ResampleInterpolator "FinalBSplineInterpolator")
(Resampler "DefaultResampler")
(FixedImagePyramid "FixedSmoothingImagePyramid")
(MovingImagePyramid "MovingSmoothingImagePyramid")
(Optimizer "AdaptiveStochasticGradientDescent")
(Transform "EulerTransform")
(Metric "AdvancedMeanSquares")
(AutomaticScalesEstimation "true")
(HowToCombineTransforms "Compose")
(NumberOfResolutions 3)
(MaximumNumberOfIterations 300)
(NumberOfSpatialSamples 4000)
(NewSamplesEveryIteration "true")
(ImageSampler "RandomCoordinate")
(BSplineInterpolationOrder 1)
(FinalBSplineInterpolationOrder 1)
(DefaultPixelValue -1000)
(WriteResultImage "false")
""")
    eout = os.path.join(WORK, "elastix%d" % n)
    os.makedirs(eout, exist_ok=True)
    _, t = run(["elastix", "-f", ct, "-m", cbct, "-fMask", mask, "-mMask", measured, "-p", params,
                "-out", eout])
    text = open(os.path.join(eout, "TransformParameters.0.txt")).read()
    p = [float(v) for v in re.search(r"\(TransformParameters ([^)]*)\)", text).group(1).split()]
    c = [float(v) for v in re.search(r"\(CenterOfRotationPoint ([^)]*)\)", text).group(1).split()]
    # ITK's Euler3DTransform (ComputeZYX false): R = Rz Rx Ry.
    results.append(("elastix 5.0 (ASGD, MSE)", t, mul(rz(p[2]), mul(rx(p[0]), ry(p[1]))), c,
                    p[3:6]))

    cmd = os.path.join(WORK, "plastimatch%d.txt" % n)
    xf = os.path.join(WORK, "plastimatch_xform%d.txt" % n)
    with open(cmd, "w") as f:
        f.write(f"""[GLOBAL]
fixed={ct}
moving={cbct}
fixed_roi={mask}
moving_roi={measured}
xform_out={xf}

[STAGE]
xform=rigid
optim=versor
impl=itk
metric=mse
max_its=100
res=4 4 4

[STAGE]
max_its=100
res=2 2 2

[STAGE]
max_its=60
res=1 1 1
""")
    _, t = run(["plastimatch", "register", cmd])
    text = open(xf).read()
    p = [float(v) for v in re.search(r"Parameters: (.*)", text).group(1).split()]
    c = [float(v) for v in re.search(r"FixedParameters: (.*)", text).group(1).split()]
    x, y, z = p[0:3]
    w = math.sqrt(max(0.0, 1 - x * x - y * y - z * z))
    versor = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
              [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
              [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    results.append(("plastimatch 1.9 (versor, MSE)", t, versor, c, p[3:6]))

    corners = [[iso[0] + sx * 80, iso[1] + sy * 60, iso[2] + sz * 70]
               for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    print(f"case {n} (seed {seed}): set-up error translation {error[:3]} mm, rotation {error[3:]} deg "
          f"(about the isocentre {[round(v, 1) for v in iso]} mm); linac igrt setup: "
          f"reconstruction {s['recon_s']:.2f} s, registration {s['register_s']:.2f} s")
    out = []
    for name, secs, r, c, t in results:
        tool = transform(r, c, t)
        err = max(math.dist(tool(p), truth(p)) for p in corners)
        deg = angle_between(r, true_r)
        print(f"  {name:32s} {secs:8.2f} s {err:9.3f} mm {deg:8.3f} deg")
        out.append((name, secs, err, deg))
    return out


def main():
    os.makedirs(WORK, exist_ok=True)
    case = os.path.join(WORK, "case")
    run([LINAC, "case", "make", "--out", case, "--spacing-mm", "3"])
    per_tool = {}  # name -> [seconds, errors mm, rotation errors deg]
    for seed in SEEDS:
        for n, error in enumerate(ERRORS, 1):
            for name, secs, err, deg in one_case(case, n, error, seed):
                t = per_tool.setdefault(name, [0.0, [], []])
                t[0] += secs
                t[1].append(err)
                t[2].append(deg)
    ours = next(iter(per_tool.values()))[0]
    cases = len(ERRORS) * len(SEEDS)
    print(f"{cases} cases: {'tool':32s} {'time s':>8s} {'x linac':>8s} "
          f"{'worst mm':>9s} {'mean mm':>8s} {'> 0.2 mm':>8s} {'worst deg':>10s}")
    for name, (secs, errs, degs) in per_tool.items():
        print(f"          {name:32s} {secs:8.2f} {secs / ours:8.2f} {max(errs):9.3f} "
              f"{sum(errs) / len(errs):8.3f} {sum(e > 0.2 for e in errs):8d} {max(degs):10.3f}")


if __name__ == "__main__":
    main()
