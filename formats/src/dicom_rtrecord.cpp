#include "linac/formats/dicom_rtrecord.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "dicom_write.hpp"
#include "linac/core/error.hpp"

namespace linac::formats {
namespace {

using detail::ds;
using detail::new_item;
using detail::put;

bool digits(const std::string& s, std::size_t n) {
  if (s.size() != n) return false;
  for (const char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

/// Date and time (YYYYMMDD, HHMMSS) `seconds` after `date` `time`, for a control point.
std::pair<std::string, std::string> after(const std::string& date, const std::string& time,
                                          double seconds) {
  const int h = std::stoi(time.substr(0, 2));
  const int m = std::stoi(time.substr(2, 2));
  const int s = std::stoi(time.substr(4, 2));
  const double total = h * 3600.0 + m * 60.0 + s + std::max(0.0, seconds);
  const long whole = static_cast<long>(std::floor(total));
  const long days = whole / 86400;
  std::string d = date;
  if (days > 0) {  // past midnight: the next day's date (sessions last minutes, not months)
    std::tm tm{};
    tm.tm_year = std::stoi(date.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(date.substr(4, 2)) - 1;
    tm.tm_mday = std::stoi(date.substr(6, 2)) + static_cast<int>(days);
    tm.tm_hour = 12;
    std::mktime(&tm);
    char buf[16];
    std::strftime(buf, sizeof(buf), "%Y%m%d", &tm);
    d = buf;
  }
  const long in_day = whole % 86400;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02ld%02ld%02ld.%03d", in_day / 3600, (in_day / 60) % 60,
                in_day % 60, static_cast<int>(std::lround((total - whole) * 1000.0)) % 1000);
  return {d, buf};
}

void put_beam(DcmItem* b, const RtRecordBeam& beam, const RtRecordInfo& info, bool plan_known) {
  if (plan_known) put(b, DCM_ReferencedBeamNumber, std::to_string(beam.number));
  put(b, DCM_BeamName, beam.name);
  put(b, DCM_BeamType, beam.dynamic ? "DYNAMIC" : "STATIC");
  put(b, DCM_RadiationType, beam.radiation_type);
  for (const auto& [type, pairs] :
       {std::pair<const char*, int>{"ASYMX", 1}, std::pair<const char*, int>{"ASYMY", 1},
        std::pair<const char*, int>{"MLCX", beam.leaf_pairs}}) {
    DcmItem* d = new_item(b, DCM_BeamLimitingDeviceLeafPairsSequence);
    put(d, DCM_RTBeamLimitingDeviceType, type);
    put(d, DCM_NumberOfLeafJawPairs, std::to_string(pairs));
  }
  for (const DcmTagKey& none :
       {DCM_NumberOfWedges, DCM_NumberOfCompensators, DCM_NumberOfBoli, DCM_NumberOfBlocks}) {
    put(b, none, "0");
  }
  put(b, DCM_CurrentFractionNumber, std::to_string(info.fraction));
  put(b, DCM_TreatmentDeliveryType, "TREATMENT");
  put(b, DCM_TreatmentTerminationStatus, beam.termination_status);
  if (!beam.termination_code.empty()) {  // SH: 16 characters
    put(b, DCM_TreatmentTerminationCode, beam.termination_code.substr(0, 16));
  }
  put(b, DCM_TreatmentVerificationStatus, "");  // no record-and-verify override applies
  put(b, DCM_SpecifiedPrimaryMeterset, ds(beam.specified_mu));
  put(b, DCM_DeliveredPrimaryMeterset, ds(beam.delivered_mu));
  put(b, DCM_NumberOfControlPoints, std::to_string(beam.planned_control_points));
  if (beam.control_points.empty()) {
    throw std::invalid_argument("beam '" + beam.name + "': no control point reached");
  }
  for (const auto& cp : beam.control_points) {
    DcmItem* c = new_item(b, DCM_ControlPointDeliverySequence);
    put(c, DCM_ReferencedControlPointIndex, std::to_string(cp.index));
    const auto [d, t] = after(info.date, info.time, cp.time_s);
    put(c, DCM_TreatmentControlPointDate, d);
    put(c, DCM_TreatmentControlPointTime, t);
    put(c, DCM_SpecifiedMeterset, ds(cp.specified_meterset_mu));
    put(c, DCM_DeliveredMeterset, ds(cp.delivered_meterset_mu));
    put(c, DCM_DoseRateSet, ds(cp.dose_rate_set_mu_per_min, 6));
    put(c, DCM_DoseRateDelivered, ds(cp.dose_rate_mu_per_min, 6));
    put(c, DCM_NominalBeamEnergyUnit, "MV");
    put(c, DCM_NominalBeamEnergy, ds(beam.energy_mv));
    put(c, DCM_GantryAngle, ds(cp.gantry_deg, 6));
    put(c, DCM_BeamLimitingDeviceAngle, ds(cp.collimator_deg, 6));
  }
}

}  // namespace

void refer_to_rtplan(const std::filesystem::path& rtplan, RtRecordInfo& info) {
  DcmFileFormat file;
  const std::string where = rtplan.string();
  if (!std::filesystem::is_regular_file(rtplan) || file.loadFile(rtplan.c_str()).bad()) {
    throw InputError(where, "not a readable DICOM file");
  }
  DcmDataset* d = file.getDataset();
  auto get = [&](const DcmTagKey& tag) {
    OFString v;
    return d->findAndGetOFString(tag, v).good() ? std::string(v.c_str()) : std::string();
  };
  if (get(DCM_SOPClassUID) != UID_RTPlanStorage) {
    throw InputError(where, "not an RT Plan (SOP Class UID '" + get(DCM_SOPClassUID) + "')");
  }
  info.referenced_plan_sop_instance_uid = get(DCM_SOPInstanceUID);
  info.study_instance_uid = get(DCM_StudyInstanceUID);
  info.patient_name = get(DCM_PatientName);
  if (info.patient_id.empty()) info.patient_id = get(DCM_PatientID);
  if (info.referenced_plan_sop_instance_uid.empty()) {
    throw InputError(where, "RT Plan without a SOP Instance UID");
  }
}

std::string write_dicom_rt_beams_treatment_record(const std::filesystem::path& path,
                                                  const RtRecordInfo& info,
                                                  const std::vector<RtRecordBeam>& beams) {
  if (!digits(info.date, 8) || !digits(info.time, 6)) {
    throw std::invalid_argument("treatment date '" + info.date + "' and time '" + info.time +
                                "' must be YYYYMMDD and HHMMSS");
  }
  for (const auto& b : beams) {
    if (b.name.empty()) throw std::invalid_argument("a beam without a name");
  }
  DcmFileFormat file;
  DcmDataset* d = file.getDataset();
  char uid[100];
  const std::string sop = dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  // SOP Common, Patient, General Study, RT Series, General Equipment.
  put(d, DCM_SOPClassUID, UID_RTBeamsTreatmentRecordStorage);
  put(d, DCM_SOPInstanceUID, sop);
  put(d, DCM_PatientName, info.patient_name);
  put(d, DCM_PatientID, info.patient_id);
  for (const DcmTagKey& empty : {DCM_PatientBirthDate, DCM_PatientSex, DCM_ReferringPhysicianName,
                                 DCM_AccessionNumber, DCM_OperatorsName}) {
    put(d, empty, "");
  }
  put(d, DCM_StudyInstanceUID,
      info.study_instance_uid.empty() ? dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT)
                                      : info.study_instance_uid);
  put(d, DCM_StudyDate, info.date);
  put(d, DCM_StudyTime, info.time);
  put(d, DCM_StudyID, "1");
  put(d, DCM_Modality, "RTRECORD");
  put(d, DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  put(d, DCM_SeriesNumber, "1");
  put(d, DCM_Manufacturer, "linac");
  // RT General Treatment Record.
  put(d, DCM_InstanceNumber, std::to_string(info.fraction));
  put(d, DCM_TreatmentDate, info.date);
  put(d, DCM_TreatmentTime, info.time);
  const bool plan_known = !info.referenced_plan_sop_instance_uid.empty();
  if (plan_known) {
    DcmItem* rp = new_item(d, DCM_ReferencedRTPlanSequence);
    put(rp, DCM_ReferencedSOPClassUID, UID_RTPlanStorage);
    put(rp, DCM_ReferencedSOPInstanceUID, info.referenced_plan_sop_instance_uid);
  } else {
    d->insertEmptyElement(DCM_ReferencedRTPlanSequence);
  }
  // RT Treatment Machine Record.
  DcmItem* machine = new_item(d, DCM_TreatmentMachineSequence);
  put(machine, DCM_TreatmentMachineName, info.machine_name);
  put(machine, DCM_Manufacturer, "Varian Medical Systems");
  put(machine, DCM_InstitutionName, info.institution);
  put(machine, DCM_ManufacturerModelName, "Clinac iX (simulated)");
  put(machine, DCM_DeviceSerialNumber, "");
  // RT Beams Session Record.
  put(d, DCM_NumberOfFractionsPlanned, std::to_string(info.fractions_planned));
  put(d, DCM_PrimaryDosimeterUnit, "MU");
  for (const auto& beam : beams) {
    put_beam(new_item(d, DCM_TreatmentSessionBeamSequence), beam, info, plan_known);
  }
  const OFCondition c = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  if (c.bad()) throw std::runtime_error(path.string() + ": cannot write (" + c.text() + ")");
  return sop;
}

}  // namespace linac::formats
