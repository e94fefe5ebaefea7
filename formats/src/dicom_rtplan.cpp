#include "linac/formats/dicom_rtplan.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/oflog/oflog.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "dicom_write.hpp"
#include "linac/core/error.hpp"
#include "linac/formats/plan_io.hpp"

namespace linac {
namespace {

class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& what) const { throw InputError(where_, what); }
  std::string text(DcmItem* item, const DcmTagKey& tag) const {
    OFString s;
    if (item->findAndGetOFStringArray(tag, s).bad()) return {};
    return std::string(s.data(), s.size());
  }
  bool number(DcmItem* item, const DcmTagKey& tag, double& out, unsigned long pos = 0) const {
    Float64 v = 0.0;
    if (item->findAndGetFloat64(tag, v, pos).bad()) return false;
    if (!std::isfinite(v)) fail(std::string(DcmTag(tag).getTagName()) + " is not a finite number");
    out = v;
    return true;
  }
  bool integer(DcmItem* item, const DcmTagKey& tag, long& out) const {
    Sint32 v = 0;
    if (item->findAndGetSint32(tag, v).bad()) return false;
    out = v;
    return true;
  }
  double required(DcmItem* item, const DcmTagKey& tag, const std::string& context) const {
    double v = 0.0;
    if (!number(item, tag, v)) fail(context + ": missing " + DcmTag(tag).getTagName());
    return v;
  }
  std::vector<double> numbers(DcmItem* item, const DcmTagKey& tag) const {
    std::vector<double> out;
    DcmElement* e = nullptr;
    if (item->findAndGetElement(tag, e).bad() || e == nullptr) return out;
    const unsigned long n = e->getVM();
    for (unsigned long i = 0; i < n; ++i) {
      Float64 v = 0.0;
      if (e->getFloat64(v, i).bad() || !std::isfinite(v)) {
        fail(std::string(DcmTag(tag).getTagName()) + "[" + std::to_string(i) + "] is not a number");
      }
      out.push_back(v);
    }
    return out;
  }

 private:
  std::string where_;
};

/// Beam modifiers this product cannot deliver (the machine has none of them, and delivering the
/// beam without one gives another dose): a physical or dynamic wedge, a compensator, a block, an
/// applicator. The first found is refused naming the beam, the item and its ID.
void refuse_modifiers(const Reader& r, DcmItem* beam, const std::string& ctx) {
  struct Modifier {
    DcmTagKey number;  // NumberOf..., (0 when absent)
    DcmTagKey sequence;
    DcmTagKey id;
    const char* what;
  };
  static const Modifier kModifiers[] = {
      {DCM_NumberOfWedges, DCM_WedgeSequence, DCM_WedgeID, "wedge"},
      {DCM_NumberOfCompensators, DCM_CompensatorSequence, DCM_CompensatorID, "compensator"},
      {DCM_NumberOfBlocks, DCM_BlockSequence, DCM_BlockName, "block"},
      {DCM_NumberOfBlocks, DCM_ApplicatorSequence, DCM_ApplicatorID, "applicator"}};
  for (const auto& m : kModifiers) {
    DcmItem* item = nullptr;
    const bool listed = beam->findAndGetSequenceItem(m.sequence, item, 0).good() && item != nullptr;
    long count = 0;
    const bool counted =
        m.sequence != DCM_ApplicatorSequence && r.integer(beam, m.number, count) && count > 0;
    if (!listed && !counted) continue;
    std::string what = m.what;
    if (listed) {
      const std::string id = r.text(item, m.id);
      if (!id.empty()) what += " '" + id + "'";
      if (m.sequence == DCM_WedgeSequence) {
        const std::string type = r.text(item, DCM_WedgeType);
        if (!type.empty()) what += " (" + type + ")";
      }
    }
    const char* article = std::string(m.what) == "applicator" ? "an " : "a ";
    r.fail(ctx + ": has " + article + what + ", which this machine cannot deliver (" +
           DcmTag(m.sequence).getTagName() + "); the plan cannot be delivered as planned");
  }
}

RotationDirection direction(const std::string& s) {
  if (s == "CW") return RotationDirection::kClockwise;
  if (s == "CC") return RotationDirection::kCounterClockwise;
  return RotationDirection::kNone;
}

/// The fraction group: fractions planned (into `plan`) and each beam's meterset by number.
std::map<long, double> read_fraction_group(const Reader& r, DcmDataset* ds, Plan& plan) {
  DcmItem* fg = nullptr;
  if (ds->findAndGetSequenceItem(DCM_FractionGroupSequence, fg, 0).bad() || fg == nullptr) {
    r.fail("missing FractionGroupSequence (beam MU and fractions)");
  }
  long fractions = 0;
  if (!r.integer(fg, DCM_NumberOfFractionsPlanned, fractions) || fractions < 1) {
    r.fail("FractionGroupSequence[0]: missing or bad NumberOfFractionsPlanned");
  }
  plan.prescription.fractions = static_cast<unsigned>(fractions);
  std::map<long, double> beam_mu;
  for (unsigned long i = 0;; ++i) {
    DcmItem* rb = nullptr;
    if (fg->findAndGetSequenceItem(DCM_ReferencedBeamSequence, rb, static_cast<int>(i)).bad())
      break;
    long number = 0;
    double mu = 0.0;
    if (r.integer(rb, DCM_ReferencedBeamNumber, number) && r.number(rb, DCM_BeamMeterset, mu)) {
      beam_mu[number] = mu;
    }
  }
  return beam_mu;
}

/// The first dose reference's prescription dose and its description (the target), if any.
void read_prescription(const Reader& r, DcmDataset* ds, DicomPlanImport& out) {
  Plan& plan = out.plan;
  DcmItem* dr = nullptr;
  if (ds->findAndGetSequenceItem(DCM_DoseReferenceSequence, dr, 0).good() && dr != nullptr) {
    double dose = 0.0;
    if (r.number(dr, DCM_TargetPrescriptionDose, dose)) plan.prescription.dose_gy = dose;
    plan.prescription.target = r.text(dr, DCM_DoseReferenceDescription);
  }
  if (plan.prescription.dose_gy == 0.0)
    out.notes.push_back("no target prescription dose in the plan");
}

/// Whether the beam has an MLC (MLCX); its leaf boundaries into `beam`, its leaf pairs checked
/// against the machine's.
bool read_mlc_definition(const Reader& r, DcmItem* bi, int leaf_pairs, const std::string& ctx,
                         Beam& beam) {
  bool has_mlc = false;
  for (unsigned long d = 0;; ++d) {
    DcmItem* dev = nullptr;
    if (bi->findAndGetSequenceItem(DCM_BeamLimitingDeviceSequence, dev, static_cast<int>(d)).bad())
      break;
    if (r.text(dev, DCM_RTBeamLimitingDeviceType) != "MLCX") continue;
    has_mlc = true;
    beam.leaf_boundaries_mm = r.numbers(dev, DCM_LeafPositionBoundaries);
    double pairs = 0.0;
    if (r.number(dev, DCM_NumberOfLeafJawPairs, pairs) && static_cast<int>(pairs) != leaf_pairs) {
      r.fail(ctx + ": MLC has " + std::to_string(static_cast<int>(pairs)) +
             " leaf pairs, this machine's MLC has " + std::to_string(leaf_pairs));
    }
  }
  return has_mlc;
}

/// What a control point's beam-limiting device positions say: jaws (X / ASYMX, Y / ASYMY) and
/// leaves (MLCX, bank B first) into `cp`.
struct JawsSeen {
  bool x = false;
  bool y = false;
};
void read_device_positions(const Reader& r, DcmItem* ci, int leaf_pairs, const std::string& cctx,
                           ControlPoint& cp, JawsSeen& jaws) {
  for (unsigned long d = 0;; ++d) {
    DcmItem* pos = nullptr;
    if (ci->findAndGetSequenceItem(DCM_BeamLimitingDevicePositionSequence, pos, static_cast<int>(d))
            .bad()) {
      break;
    }
    const std::string type = r.text(pos, DCM_RTBeamLimitingDeviceType);
    const auto p = r.numbers(pos, DCM_LeafJawPositions);
    if (type == "X" || type == "ASYMX" || type == "Y" || type == "ASYMY") {
      if (p.size() != 2) r.fail(cctx + ": " + type + " needs 2 LeafJawPositions");
      if (type[type.size() - 1] == 'X') {
        cp.jaw_x1_mm = p[0], cp.jaw_x2_mm = p[1], jaws.x = true;
      } else {
        cp.jaw_y1_mm = p[0], cp.jaw_y2_mm = p[1], jaws.y = true;
      }
    } else if (type == "MLCX") {
      if (p.size() != 2 * static_cast<std::size_t>(leaf_pairs)) {
        r.fail(cctx + ": MLCX has " + std::to_string(p.size()) + " LeafJawPositions, " +
               std::to_string(2 * leaf_pairs) + " expected");
      }
      // DICOM lists bank B (X1 side) first, then bank A (X2 side).
      cp.leaf_b_mm.assign(p.begin(), p.begin() + leaf_pairs);
      cp.leaf_a_mm.assign(p.begin() + leaf_pairs, p.end());
    }
  }
}

/// The beam's control points, each inheriting what it omits from the one before; a beam
/// without an MLC has its leaves at the jaws.
void read_control_points(const Reader& r, DcmItem* bi, int leaf_pairs, bool has_mlc,
                         const std::string& ctx, Beam& beam) {
  ControlPoint prev;
  prev.leaf_a_mm.assign(static_cast<std::size_t>(leaf_pairs), 0.0);
  prev.leaf_b_mm.assign(static_cast<std::size_t>(leaf_pairs), 0.0);
  bool have_gantry = false;
  JawsSeen jaws;
  for (unsigned long c = 0;; ++c) {
    DcmItem* ci = nullptr;
    if (bi->findAndGetSequenceItem(DCM_ControlPointSequence, ci, static_cast<int>(c)).bad()) break;
    const std::string cctx = ctx + " control point " + std::to_string(c);
    ControlPoint cp = prev;  // omitted values are inherited
    double v = 0.0;
    if (r.number(ci, DCM_NominalBeamEnergy, v)) beam.nominal_energy_mv = v;
    if (r.number(ci, DCM_DoseRateSet, v)) cp.dose_rate_mu_per_min = v;
    if (r.number(ci, DCM_GantryAngle, v)) cp.gantry_deg = v, have_gantry = true;
    const std::string rot = r.text(ci, DCM_GantryRotationDirection);
    if (!rot.empty()) cp.gantry_direction = direction(rot);
    if (r.number(ci, DCM_BeamLimitingDeviceAngle, v)) cp.collimator_deg = v;
    cp.cumulative_meterset_weight = r.required(ci, DCM_CumulativeMetersetWeight, cctx);
    read_device_positions(r, ci, leaf_pairs, cctx, cp, jaws);
    if (!have_gantry) r.fail(cctx + ": missing GantryAngle");
    if (!jaws.x || !jaws.y) r.fail(cctx + ": missing jaw positions (X and Y)");
    if (!has_mlc) {
      cp.leaf_a_mm.assign(static_cast<std::size_t>(leaf_pairs), cp.jaw_x2_mm);
      cp.leaf_b_mm.assign(static_cast<std::size_t>(leaf_pairs), cp.jaw_x1_mm);
    }
    beam.control_points.push_back(cp);
    prev = cp;
  }
  if (beam.control_points.empty()) r.fail(ctx + ": no control points");
}

/// Arc when the first control point rotates the gantry, dynamic when the leaves move, else static.
BeamType beam_type(const Beam& beam) {
  const auto& first = beam.control_points.front();
  bool leaves_move = false;
  for (const auto& cp : beam.control_points) {
    leaves_move = leaves_move || cp.leaf_a_mm != first.leaf_a_mm || cp.leaf_b_mm != first.leaf_b_mm;
  }
  return first.gantry_direction != RotationDirection::kNone ? BeamType::kArc
         : leaves_move                                      ? BeamType::kDynamic
                                                            : BeamType::kStatic;
}

/// Beam `b` (0-based) of the BeamSequence, its meterset from the fraction group.
Beam read_beam(const Reader& r, DcmItem* bi, unsigned long b, int leaf_pairs,
               const std::map<long, double>& beam_mu, DicomPlanImport& out) {
  Beam beam;
  long beam_number = 0;
  if (!r.integer(bi, DCM_BeamNumber, beam_number)) {
    r.fail("beam " + std::to_string(b + 1) + ": missing BeamNumber");
  }
  beam.number = static_cast<unsigned>(beam_number);
  beam.name = r.text(bi, DCM_BeamName);
  const std::string ctx = "beam " + std::to_string(beam.number) + " '" + beam.name + "'";
  beam.radiation_type = r.text(bi, DCM_RadiationType);
  beam.treatment_machine_name = r.text(bi, DCM_TreatmentMachineName);
  refuse_modifiers(r, bi, ctx);
  const auto mu = beam_mu.find(static_cast<long>(beam.number));
  if (mu == beam_mu.end()) r.fail(ctx + ": no BeamMeterset in the fraction group");
  beam.meterset_mu = mu->second;
  const bool has_mlc = read_mlc_definition(r, bi, leaf_pairs, ctx, beam);
  if (!has_mlc) out.notes.push_back(ctx + ": no MLC; leaves opened to the jaws");
  read_control_points(r, bi, leaf_pairs, has_mlc, ctx, beam);
  beam.type = beam_type(beam);
  return beam;
}

}  // namespace

DicomPlanImport read_dicom_rtplan(const std::filesystem::path& path, int leaf_pairs) {
  const std::string where = path.string();
  if (!std::filesystem::exists(path)) throw InputError(where, "no such file");
  const Reader r(where);
  // DCMTK's own log lines would duplicate (in many lines) what the error below says in one.
  static const bool quiet = [] {
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
  DcmFileFormat file;
  const OFCondition status = file.loadFile(path.c_str());
  if (status.bad()) r.fail(std::string("not a readable DICOM file: ") + status.text());
  DcmDataset* ds = file.getDataset();
  if (r.text(ds, DCM_Modality) != "RTPLAN") {
    r.fail("Modality is '" + r.text(ds, DCM_Modality) + "', not RTPLAN");
  }
  DicomPlanImport out;
  Plan& plan = out.plan;
  plan.label = r.text(ds, DCM_RTPlanLabel);
  plan.patient_id = r.text(ds, DCM_PatientID);
  const std::map<long, double> beam_mu = read_fraction_group(r, ds, plan);
  read_prescription(r, ds, out);
  for (unsigned long b = 0;; ++b) {
    DcmItem* bi = nullptr;
    if (ds->findAndGetSequenceItem(DCM_BeamSequence, bi, static_cast<int>(b)).bad()) break;
    plan.beams.push_back(read_beam(r, bi, b, leaf_pairs, beam_mu, out));
  }
  if (plan.beams.empty()) r.fail("no beams in BeamSequence");
  plan.treatment_machine_name = plan.beams.front().treatment_machine_name;
  PlanReadOptions structure;
  structure.leaf_pairs = leaf_pairs;
  check_plan_structure(plan, where, structure);
  return out;
}

namespace {

using formats::detail::new_item;
using formats::detail::put;

std::string ds_list(const std::vector<double>& v) {
  std::string out;
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%.8g", v[i]);  // DS holds 16 characters
    if (i > 0) out += '\\';
    out += buf;
  }
  return out;
}

std::string ds(double v) {
  return ds_list({v});
}

std::string rotation(RotationDirection d) {
  switch (d) {
    case RotationDirection::kClockwise:
      return "CW";
    case RotationDirection::kCounterClockwise:
      return "CC";
    case RotationDirection::kNone:
      return "NONE";
  }
  return "NONE";
}

}  // namespace

std::string write_dicom_rtplan(const std::filesystem::path& path, const Plan& plan,
                               const std::vector<double>& leaf_boundaries_mm,
                               const DicomPlanReferences& references) {
  PlanReadOptions structure;
  structure.leaf_pairs = plan.beams.empty() || plan.beams[0].control_points.empty()
                             ? kMillennium120LeafPairs
                             : static_cast<int>(plan.beams[0].control_points[0].leaf_a_mm.size());
  check_plan_structure(plan, path.string(), structure);
  DcmFileFormat file;
  DcmDataset* ds_root = file.getDataset();
  char uid[100];
  put(ds_root, DCM_SOPClassUID, UID_RTPlanStorage);
  const std::string sop_instance_uid = dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  put(ds_root, DCM_SOPInstanceUID, sop_instance_uid);
  put(ds_root, DCM_StudyInstanceUID,
      references.study_instance_uid.empty()
          ? std::string(dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT))
          : references.study_instance_uid);
  put(ds_root, DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  put(ds_root, DCM_Modality, "RTPLAN");
  put(ds_root, DCM_Manufacturer, "linac");
  put(ds_root, DCM_PatientID, plan.patient_id);
  // Type 2 attributes of the Patient, General Study, RT Series and RT General Plan modules:
  // present, empty where the plan does not know them (a strict importer rejects the object without
  // them).
  put(ds_root, DCM_PatientName, references.patient_name);
  for (const DcmTagKey& empty : {DCM_PatientBirthDate, DCM_PatientSex, DCM_ReferringPhysicianName,
                                 DCM_AccessionNumber, DCM_OperatorsName}) {
    put(ds_root, empty, "");
  }
  put(ds_root, DCM_StudyID, "1");
  OFString date;
  OFString time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  for (const auto& [d, t] :
       {std::pair{DCM_StudyDate, DCM_StudyTime}, std::pair{DCM_RTPlanDate, DCM_RTPlanTime}}) {
    put(ds_root, d, date.c_str());
    put(ds_root, t, time.c_str());
  }
  put(ds_root, DCM_SeriesNumber, "1");
  put(ds_root, DCM_RTPlanLabel, plan.label);
  if (references.structure_set_sop_instance_uid.empty()) {
    put(ds_root, DCM_RTPlanGeometry, "TREATMENT_DEVICE");
  } else {
    put(ds_root, DCM_RTPlanGeometry, "PATIENT");
    DcmItem* rs = new_item(ds_root, DCM_ReferencedStructureSetSequence);
    put(rs, DCM_ReferencedSOPClassUID, UID_RTStructureSetStorage);
    put(rs, DCM_ReferencedSOPInstanceUID, references.structure_set_sop_instance_uid);
  }
  if (plan.prescription.dose_gy > 0.0) {
    DcmItem* ref = new_item(ds_root, DCM_DoseReferenceSequence);
    put(ref, DCM_DoseReferenceNumber, "1");
    put(ref, DCM_DoseReferenceStructureType, "SITE");
    put(ref, DCM_DoseReferenceType, "TARGET");
    put(ref, DCM_DoseReferenceDescription, plan.prescription.target);
    put(ref, DCM_TargetPrescriptionDose, ds(plan.prescription.dose_gy));
  }
  DcmItem* fg = new_item(ds_root, DCM_FractionGroupSequence);
  put(fg, DCM_FractionGroupNumber, "1");
  put(fg, DCM_NumberOfFractionsPlanned, std::to_string(plan.prescription.fractions));
  put(fg, DCM_NumberOfBeams, std::to_string(plan.beams.size()));
  put(fg, DCM_NumberOfBrachyApplicationSetups, "0");
  for (const Beam& beam : plan.beams) {
    DcmItem* rb = new_item(fg, DCM_ReferencedBeamSequence);
    put(rb, DCM_ReferencedBeamNumber, std::to_string(beam.number));
    put(rb, DCM_BeamMeterset, ds(beam.meterset_mu));
    DcmItem* b = new_item(ds_root, DCM_BeamSequence);
    put(b, DCM_BeamNumber, std::to_string(beam.number));
    put(b, DCM_BeamName, beam.name);
    put(b, DCM_BeamType, beam.type == BeamType::kStatic ? "STATIC" : "DYNAMIC");
    put(b, DCM_RadiationType, beam.radiation_type);
    put(b, DCM_TreatmentMachineName,
        beam.treatment_machine_name.empty() ? plan.treatment_machine_name
                                            : beam.treatment_machine_name);
    put(b, DCM_PrimaryDosimeterUnit, "MU");
    put(b, DCM_SourceAxisDistance, "1000");
    const int pairs = static_cast<int>(beam.control_points.front().leaf_a_mm.size());
    for (const char* type : {"ASYMX", "ASYMY", "MLCX"}) {
      DcmItem* d = new_item(b, DCM_BeamLimitingDeviceSequence);
      put(d, DCM_RTBeamLimitingDeviceType, type);
      const bool mlc = std::string(type) == "MLCX";
      put(d, DCM_NumberOfLeafJawPairs, mlc ? std::to_string(pairs) : "1");
      if (mlc) {
        put(d, DCM_LeafPositionBoundaries,
            ds_list(beam.leaf_boundaries_mm.empty() ? leaf_boundaries_mm
                                                    : beam.leaf_boundaries_mm));
      }
    }
    put(b, DCM_NumberOfWedges, "0");
    put(b, DCM_NumberOfCompensators, "0");
    put(b, DCM_NumberOfBoli, "0");
    put(b, DCM_NumberOfBlocks, "0");
    put(b, DCM_FinalCumulativeMetersetWeight, "1");
    put(b, DCM_NumberOfControlPoints, std::to_string(beam.control_points.size()));
    for (std::size_t i = 0; i < beam.control_points.size(); ++i) {
      const ControlPoint& cp = beam.control_points[i];
      DcmItem* c = new_item(b, DCM_ControlPointSequence);
      put(c, DCM_ControlPointIndex, std::to_string(i));
      put(c, DCM_NominalBeamEnergy, ds(beam.nominal_energy_mv));
      if (cp.dose_rate_mu_per_min) put(c, DCM_DoseRateSet, ds(*cp.dose_rate_mu_per_min));
      put(c, DCM_GantryAngle, ds(cp.gantry_deg));
      put(c, DCM_GantryRotationDirection, rotation(cp.gantry_direction));
      put(c, DCM_BeamLimitingDeviceAngle, ds(cp.collimator_deg));
      put(c, DCM_BeamLimitingDeviceRotationDirection, "NONE");
      put(c, DCM_CumulativeMetersetWeight, ds(cp.cumulative_meterset_weight));
      const std::vector<std::pair<const char*, std::vector<double>>> positions = {
          {"ASYMX", {cp.jaw_x1_mm, cp.jaw_x2_mm}}, {"ASYMY", {cp.jaw_y1_mm, cp.jaw_y2_mm}}};
      for (const auto& [type, values] : positions) {
        DcmItem* p = new_item(c, DCM_BeamLimitingDevicePositionSequence);
        put(p, DCM_RTBeamLimitingDeviceType, type);
        put(p, DCM_LeafJawPositions, ds_list(values));
      }
      std::vector<double> leaves(cp.leaf_b_mm);  // bank B first, as DICOM lists them
      leaves.insert(leaves.end(), cp.leaf_a_mm.begin(), cp.leaf_a_mm.end());
      DcmItem* p = new_item(c, DCM_BeamLimitingDevicePositionSequence);
      put(p, DCM_RTBeamLimitingDeviceType, "MLCX");
      put(p, DCM_LeafJawPositions, ds_list(leaves));
    }
  }
  const std::filesystem::path tmp = std::filesystem::path(path).concat(".tmp");
  const OFCondition st = file.saveFile(tmp.c_str(), EXS_LittleEndianExplicit);
  if (st.bad()) {
    std::filesystem::remove(tmp);
    throw std::runtime_error(path.string() + ": cannot write DICOM: " + st.text());
  }
  std::filesystem::rename(tmp, path);
  return sop_instance_uid;
}

}  // namespace linac
