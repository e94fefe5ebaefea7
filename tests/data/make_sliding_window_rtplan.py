#!/usr/bin/python3
"""Writes a two-field sliding-window IMRT DICOM RT Plan with pydicom the way a commercial
planning system exports one for a Millennium 120 MLC: fixed gantry, a leaf pair window sweeping
from the X1 to the X2 jaw, the pairs the field does not use closed (gap 0) and parked under a jaw
(rows outside the Y jaws at the field's centre line, rows inside them at the X1 or X2 jaw), a
tolerance table, referenced dose references, and the site's machine ID as TreatmentMachineName.
Usage: make_sliding_window_rtplan.py OUT.dcm [MACHINE_NAME] [--closed-in-field]
       [--modifier wedge|edw|block|compensator|applicator]   (on the second beam)
       [--step-and-shoot]   (static segments, the leaves moving between them beam-off)
       [--picket-fence]     (7 static 5 mm pickets 12 mm apart, the leaves moving beam-off)"""
import sys

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

out = sys.argv[1]
argv = sys.argv[2:]
modifier = None
if "--modifier" in argv:
    modifier = argv[argv.index("--modifier") + 1]
    del argv[argv.index("--modifier"):argv.index("--modifier") + 2]
args = [a for a in argv if not a.startswith("--")]
machine = args[0] if args else "CLINAC_IX"
closed_in_field = "--closed-in-field" in sys.argv
picket_fence = "--picket-fence" in sys.argv  # 7 static pickets, leaves move beam-off
step_and_shoot = "--step-and-shoot" in sys.argv or picket_fence  # static segments

RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = RT_PLAN
meta.MediaStorageSOPInstanceUID = generate_uid()
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
ds.SOPClassUID = RT_PLAN
ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
ds.Modality = "RTPLAN"
ds.PatientID = "PROSTATE-07"
ds.RTPlanLabel = "ProstIMRT"
ref = Dataset()
ref.DoseReferenceNumber = 1
ref.DoseReferenceStructureType = "SITE"
ref.DoseReferenceDescription = "PTV"
ref.DoseReferenceType = "TARGET"
ref.TargetPrescriptionDose = 2.0
ds.DoseReferenceSequence = Sequence([ref])
tol = Dataset()
tol.ToleranceTableNumber = 1
tol.ToleranceTableLabel = "T1 IMRT"
tol.GantryAngleTolerance = 1.0
tol.BeamLimitingDeviceAngleTolerance = 1.0
ds.ToleranceTableSequence = Sequence([tol])
bounds = [-200 + 10 * i for i in range(10)] + [-100 + 5 * i for i in range(40)] + \
         [100 + 10 * i for i in range(11)]
JAW_X = (-40.0, 50.0)
JAW_Y = (-60.0, 70.0)
fg = Dataset()
fg.FractionGroupNumber = 1
fg.NumberOfFractionsPlanned = 28
fg.NumberOfBeams = 2
fg.ReferencedBeamSequence = Sequence()
ds.BeamSequence = Sequence()


def leaf_positions(i, n):
    """Bank B then bank A of control point i of n: a 15 mm window sweeping X1 -> X2."""
    t = i / (n - 1)
    lead = JAW_X[0] + t * (JAW_X[1] + 15.0 - JAW_X[0])  # bank A, leading
    b, a = [], []
    for p in range(60):
        lo, hi = bounds[p], bounds[p + 1]
        if hi <= JAW_Y[0] or lo >= JAW_Y[1]:
            b.append(0.0), a.append(0.0)  # outside the Y jaws: closed on the centre line
        elif p in (26, 27):  # rows the target misses: closed at the X1 jaw
            b.append(JAW_X[0]), a.append(JAW_X[0])
        elif p == 33:  # closed behind the X2 jaw
            b.append(JAW_X[1] + 5.0), a.append(JAW_X[1] + 5.0)
        elif p == 30 and closed_in_field:  # a broken plan: closed in the open field
            b.append(5.0), a.append(5.0)
        elif picket_fence:  # picket i // 2 of 7: a 5 mm gap centred 12 mm after the last
            centre = -30.0 + 12.0 * (i // 2)
            b.append(centre - 2.5), a.append(centre + 2.5)
        else:
            a_pos = min(lead, JAW_X[1] + 5.0)
            b_pos = max(min(lead - 15.0, JAW_X[1]), JAW_X[0] - 5.0)
            b.append(round(b_pos, 2)), a.append(round(a_pos, 2))
    return b + a


for number, (name, gantry, mu) in enumerate([("G000", 0.0, 152.4), ("G090", 90.0, 148.7)], 1):
    beam = Dataset()
    beam.BeamNumber = number
    beam.BeamName = name
    beam.BeamType = "DYNAMIC"
    beam.RadiationType = "PHOTON"
    beam.TreatmentMachineName = machine
    beam.PrimaryDosimeterUnit = "MU"
    beam.ReferencedToleranceTableNumber = 1
    beam.TreatmentDeliveryType = "TREATMENT"
    beam.NumberOfWedges = 0
    beam.NumberOfCompensators = 0
    beam.NumberOfBoli = 0
    beam.NumberOfBlocks = 0
    if number == 2 and modifier in ("wedge", "edw"):
        w = Dataset()
        w.WedgeNumber = 1
        w.WedgeType = "STANDARD" if modifier == "wedge" else "DYNAMIC"
        w.WedgeID = "W30" if modifier == "wedge" else "EDW60OUT"
        w.WedgeAngle = 30 if modifier == "wedge" else 60
        w.WedgeOrientation = 0
        beam.WedgeSequence = Sequence([w])
        beam.NumberOfWedges = 1
    elif number == 2 and modifier == "block":
        blk = Dataset()
        blk.BlockNumber = 1
        blk.BlockName = "CORD"
        blk.BlockType = "SHIELDING"
        beam.BlockSequence = Sequence([blk])
        beam.NumberOfBlocks = 1
    elif number == 2 and modifier == "compensator":
        beam.NumberOfCompensators = 1
    elif number == 2 and modifier == "applicator":
        app = Dataset()
        app.ApplicatorID = "A10"
        app.ApplicatorType = "ELECTRON_SQUARE"
        beam.ApplicatorSequence = Sequence([app])
    devices = []
    for kind, pairs in (("ASYMX", 1), ("ASYMY", 1), ("MLCX", 60)):
        d = Dataset()
        d.RTBeamLimitingDeviceType = kind
        d.NumberOfLeafJawPairs = pairs
        if kind == "MLCX":
            d.LeafPositionBoundaries = bounds
        devices.append(d)
    beam.BeamLimitingDeviceSequence = Sequence(devices)
    n = 14 if picket_fence else 40
    beam.NumberOfControlPoints = n
    cps = []
    for i in range(n):
        cp = Dataset()
        cp.ControlPointIndex = i
        if step_and_shoot:  # pairs of control points: a segment, then the leaves move
            cp.CumulativeMetersetWeight = round(((i + 1) // 2) / (n // 2), 5)
        else:
            cp.CumulativeMetersetWeight = round(i / (n - 1), 5)
        positions = []
        if i == 0:
            cp.NominalBeamEnergy = 6.0
            cp.DoseRateSet = 400.0
            cp.GantryAngle = gantry
            cp.GantryRotationDirection = "NONE"
            cp.BeamLimitingDeviceAngle = 0.0
            cp.BeamLimitingDeviceRotationDirection = "NONE"
            cp.PatientSupportAngle = 0.0
            cp.PatientSupportRotationDirection = "NONE"
            cp.IsocenterPosition = [0.0, 0.0, 0.0]
            jx, jy = Dataset(), Dataset()
            jx.RTBeamLimitingDeviceType, jx.LeafJawPositions = "ASYMX", list(JAW_X)
            jy.RTBeamLimitingDeviceType, jy.LeafJawPositions = "ASYMY", list(JAW_Y)
            positions += [jx, jy]
        rdr = Dataset()
        rdr.ReferencedDoseReferenceNumber = 1
        rdr.CumulativeDoseReferenceCoefficient = round(i / (n - 1), 5)
        cp.ReferencedDoseReferenceSequence = Sequence([rdr])
        mlc = Dataset()
        mlc.RTBeamLimitingDeviceType = "MLCX"
        mlc.LeafJawPositions = leaf_positions(2 * (i // 2), n) if step_and_shoot else leaf_positions(i, n)
        positions.append(mlc)
        cp.BeamLimitingDevicePositionSequence = Sequence(positions)
        cps.append(cp)
    beam.ControlPointSequence = Sequence(cps)
    beam.FinalCumulativeMetersetWeight = 1.0
    ds.BeamSequence.append(beam)
    rb = Dataset()
    rb.ReferencedBeamNumber = number
    rb.BeamMeterset = mu
    fg.ReferencedBeamSequence.append(rb)
ds.FractionGroupSequence = Sequence([fg])
ds.is_little_endian = True
ds.is_implicit_VR = False
ds.save_as(out, write_like_original=False)
