#!/usr/bin/python3
"""Writes a two-arc VMAT DICOM RT Plan with pydicom, as another planning system would:
MLCX with leaf boundaries, ASYMX/ASYMY jaws, CW then CC arcs, values omitted where unchanged.
Usage: make_vmat_rtplan.py OUT.dcm"""
import sys

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = RT_PLAN
meta.MediaStorageSOPInstanceUID = generate_uid()
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = FileDataset(sys.argv[1], {}, file_meta=meta, preamble=b"\0" * 128)
ds.SOPClassUID = RT_PLAN
ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
ds.Modality = "RTPLAN"
ds.PatientID = "LIVER-01"
ds.RTPlanLabel = "LiverVMAT"
ref = Dataset()
ref.DoseReferenceDescription = "PTV"
ref.TargetPrescriptionDose = 20.0
ds.DoseReferenceSequence = Sequence([ref])
bounds = [-200 + 10 * i for i in range(10)] + [-100 + 5 * i for i in range(40)] + \
         [100 + 10 * i for i in range(11)]
fg = Dataset()
fg.NumberOfFractionsPlanned = 5
fg.ReferencedBeamSequence = Sequence()
ds.BeamSequence = Sequence()
for number, (name, start, stop, rot, coll, mu) in enumerate(
        [("Arc1", 181.0, 179.0, "CW", 30.0, 310.5), ("Arc2", 179.0, 181.0, "CC", 330.0, 295.25)], 1):
    beam = Dataset()
    beam.BeamNumber = number
    beam.BeamName = name
    beam.BeamType = "DYNAMIC"
    beam.RadiationType = "PHOTON"
    beam.TreatmentMachineName = "ClinacIX"
    devices = []
    for kind, pairs in (("ASYMX", 1), ("ASYMY", 1), ("MLCX", 60)):
        d = Dataset()
        d.RTBeamLimitingDeviceType = kind
        d.NumberOfLeafJawPairs = pairs
        if kind == "MLCX":
            d.LeafPositionBoundaries = bounds
        devices.append(d)
    beam.BeamLimitingDeviceSequence = Sequence(devices)
    n = 90
    beam.NumberOfControlPoints = n
    cps = []
    step = 358.0 / (n - 1)  # 181 -> 179 clockwise is 358 degrees
    for i in range(n):
        cp = Dataset()
        cp.ControlPointIndex = i
        angle = (start + (step if rot == "CW" else -step) * i) % 360.0
        cp.GantryAngle = round(angle, 4)
        cp.CumulativeMetersetWeight = round(i / (n - 1), 6)
        opening = 20.0 + 10.0 * ((i // 3) % 2)
        positions = []
        if i == 0:
            cp.NominalBeamEnergy = 6.0
            cp.GantryRotationDirection = rot
            cp.BeamLimitingDeviceAngle = coll
            jx, jy = Dataset(), Dataset()
            jx.RTBeamLimitingDeviceType, jx.LeafJawPositions = "ASYMX", [-60.0, 60.0]
            jy.RTBeamLimitingDeviceType, jy.LeafJawPositions = "ASYMY", [-80.0, 80.0]
            positions += [jx, jy]
        mlc = Dataset()
        mlc.RTBeamLimitingDeviceType = "MLCX"
        mlc.LeafJawPositions = [-opening] * 60 + [opening] * 60  # bank B, then bank A
        positions.append(mlc)
        cp.BeamLimitingDevicePositionSequence = Sequence(positions)
        cps.append(cp)
    cps[-1].GantryRotationDirection = "NONE"
    beam.ControlPointSequence = Sequence(cps)
    ds.BeamSequence.append(beam)
    rb = Dataset()
    rb.ReferencedBeamNumber = number
    rb.BeamMeterset = mu
    fg.ReferencedBeamSequence.append(rb)
ds.FractionGroupSequence = Sequence([fg])
ds.is_little_endian = True
ds.is_implicit_VR = False
ds.save_as(sys.argv[1], write_like_original=False)
