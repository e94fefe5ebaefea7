#!/usr/bin/python3
"""Writes a SPECT/CT as a SPECT/CT scanner exports it, with pydicom: the reconstructed SPECT as one
multi-frame NM Image (ImageType ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION, the geometry in the
DetectorInformationSequence, SpacingBetweenSlices, SliceVector, counts as 16-bit values with a
RescaleSlope) and its low-dose CT as single-frame CT slices, both in one frame of reference of
their own (the SPECT/CT scanner's), from MetaImage files (axis-aligned grids, zlib or raw).

Usage: make_spect_ct_dicom.py SPECT.mha CT.mha OUT_DIR [--patient-id ID]
       [--negative-spacing] [--image-type TEXT] [--frames-shuffled] [--no-spacing]"""
import argparse
import os
import struct
import zlib

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

NM_IMAGE = "1.2.840.10008.5.1.4.1.1.20"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def read_mha(path):
    """(dims, spacing, offset, values) of a MetaImage with an identity direction."""
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
    if header["ElementDataFile"] != "LOCAL":
        raise SystemExit(path + ": only ElementDataFile = LOCAL")
    if header.get("TransformMatrix", "1 0 0 0 1 0 0 0 1").split() != "1 0 0 0 1 0 0 0 1".split():
        raise SystemExit(path + ": only axis-aligned grids")
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


def new_file(path, sop_class, patient_id, study, frame, series, number, modality):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.PatientName = "SPECT^CT"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = number
    ds.FrameOfReferenceUID = frame
    ds.PatientPosition = "HFS"
    ds.SeriesDescription = "GSA SPECT/CT " + modality
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    return ds


def write_nm(args, study, frame):
    dims, spacing, offset, values = read_mha(args.spect)
    nx, ny, nz = dims
    top = max(values) or 1.0
    slope = top / 60000.0  # counts as 16-bit values
    per_frame = nx * ny
    order = list(range(nz))
    if args.negative_spacing:
        order.reverse()  # frames from the top: the spacing runs against the normal
    pixels = bytearray()
    for k in order:
        frame_values = values[k * per_frame:(k + 1) * per_frame]
        pixels += struct.pack("<%dH" % per_frame, *[max(0, min(65535, round(v / slope)))
                                                   for v in frame_values])
    path = os.path.join(args.out, "NM.spect.dcm")
    ds = new_file(path, NM_IMAGE, args.patient_id, study, frame, generate_uid(), 301, "NM")
    ds.ImageType = args.image_type.split("\\")
    ds.NumberOfFrames = nz
    ds.Rows, ds.Columns = ny, nx
    ds.PixelSpacing = [spacing[1], spacing[0]]
    if not args.no_spacing:
        ds.SpacingBetweenSlices = -spacing[2] if args.negative_spacing else spacing[2]
    ds.SliceThickness = spacing[2] if not args.no_spacing else 0
    first_z = offset[2] + (nz - 1) * spacing[2] if args.negative_spacing else offset[2]
    detector = Dataset()
    detector.ImagePositionPatient = [offset[0], offset[1], first_z]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = Sequence([detector])
    ds.NumberOfSlices = nz
    slice_vector = list(range(1, nz + 1))
    if args.frames_shuffled:
        slice_vector[0], slice_vector[1] = slice_vector[1], slice_vector[0]
    ds.SliceVector = slice_vector
    ds.FrameIncrementPointer = [(0x0054, 0x0080)]
    ds.RescaleSlope = "%.8g" % slope
    ds.RescaleIntercept = 0
    ds.Units = "CNTS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(pixels)
    ds.save_as(path, write_like_original=False)


def write_ct(args, study, frame):
    dims, spacing, offset, values = read_mha(args.ct)
    nx, ny, nz = dims
    series = generate_uid()
    per_slice = nx * ny
    for k in range(nz):
        path = os.path.join(args.out, "CT.spect_ct.%03d.dcm" % k)
        ds = new_file(path, CT_IMAGE, args.patient_id, study, frame, series, 302, "CT")
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [offset[0], offset[1], offset[2] + k * spacing[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = ny, nx
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        hu = values[k * per_slice:(k + 1) * per_slice]
        ds.PixelData = struct.pack("<%dH" % per_slice,
                                   *[max(0, min(65535, int(v) + 1024)) for v in hu])
        ds.save_as(path, write_like_original=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("spect")
    p.add_argument("ct")
    p.add_argument("out")
    p.add_argument("--patient-id", default="LIVER-01")
    p.add_argument("--negative-spacing", action="store_true")
    p.add_argument("--frames-shuffled", action="store_true")
    p.add_argument("--no-spacing", action="store_true")
    p.add_argument("--image-type", default="ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    study, frame = generate_uid(), generate_uid()
    write_nm(args, study, frame)
    write_ct(args, study, frame)


main()
