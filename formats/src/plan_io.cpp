#include "linac/formats/plan_io.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/sha.h>

#include <cmath>
#include <fstream>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"
#include "linac/formats/dicom_rtplan.hpp"
#include "linac/plan.pb.h"

namespace linac {
namespace fs = std::filesystem;

namespace {

class Checker {
 public:
  explicit Checker(std::string where) : where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& what) const { throw InputError(where_, what); }
  void finite(double v, const std::string& field) const {
    if (!std::isfinite(v)) fail(field + " = " + format_number(v) + " is not a finite number");
  }
  void range(double v, double lo, double hi, const std::string& field, bool hi_open = false) const {
    finite(v, field);
    if (v < lo || v > hi || (hi_open && v == hi)) {
      fail(field + " = " + format_number(v) + " is outside [" + format_number(lo) + ", " +
           format_number(hi) + (hi_open ? ")" : "]"));
    }
  }
  [[nodiscard]] Checker at(const std::string& sub) const { return Checker(where_ + ": " + sub); }

 private:
  std::string where_;
};

constexpr double kMaxPositionMm = 1000.0;  // sanity bound; machine limits are validated later
constexpr double kMaxMu = 1.0e5;

RotationDirection from_pb(pb::RotationDirection d) {
  switch (d) {
    case pb::ROTATION_CW:
      return RotationDirection::kClockwise;
    case pb::ROTATION_CCW:
      return RotationDirection::kCounterClockwise;
    default:
      return RotationDirection::kNone;
  }
}

pb::RotationDirection to_pb(RotationDirection d) {
  switch (d) {
    case RotationDirection::kClockwise:
      return pb::ROTATION_CW;
    case RotationDirection::kCounterClockwise:
      return pb::ROTATION_CCW;
    case RotationDirection::kNone:
      return pb::ROTATION_NONE;
  }
  return pb::ROTATION_NONE;
}

}  // namespace

void check_plan_structure(const Plan& plan, const std::string& where,
                          const PlanReadOptions& options) {
  const Checker top(where);
  if (plan.beams.empty()) top.fail("the plan has no beams");
  const Checker rx = top.at("prescription");
  rx.range(plan.prescription.dose_gy, 0.0, 200.0, "dose_gy");  // 0: not stated
  if (plan.prescription.fractions < 1 || plan.prescription.fractions > 100) {
    rx.fail("fractions = " + std::to_string(plan.prescription.fractions) + " is outside [1, 100]");
  }
  for (std::size_t b = 0; b < plan.beams.size(); ++b) {
    const Beam& beam = plan.beams[b];
    const Checker bc =
        top.at("beam " + std::to_string(b + 1) + (beam.name.empty() ? "" : " '" + beam.name + "'"));
    bc.range(beam.meterset_mu, 0.0, kMaxMu, "beam_meterset_mu");
    bc.range(beam.nominal_energy_mv, 0.0, 50.0, "nominal_energy_mv");
    if (beam.nominal_energy_mv <= 0.0) bc.fail("nominal_energy_mv must be positive");
    if (beam.control_points.size() < 2) {
      bc.fail("has " + std::to_string(beam.control_points.size()) +
              " control points, at least 2 are needed");
    }
    for (std::size_t i = 0; i < beam.control_points.size(); ++i) {
      const ControlPoint& cp = beam.control_points[i];
      const Checker cc = bc.at("control point " + std::to_string(i));
      cc.range(cp.gantry_deg, 0.0, 360.0, "gantry_angle_deg", true);
      cc.range(cp.collimator_deg, 0.0, 360.0, "collimator_angle_deg", true);
      cc.range(cp.cumulative_meterset_weight, 0.0, 1.0, "cumulative_meterset_weight");
      const auto pairs = static_cast<std::size_t>(options.leaf_pairs);
      for (const auto* bank : {&cp.leaf_a_mm, &cp.leaf_b_mm}) {
        const std::string name =
            bank == &cp.leaf_a_mm ? "leaf_positions_bank_a_mm" : "leaf_positions_bank_b_mm";
        if (bank->size() != pairs) {
          cc.fail(name + " has " + std::to_string(bank->size()) + " leaves, the MLC has " +
                  std::to_string(pairs) + " pairs");
        }
        for (std::size_t l = 0; l < bank->size(); ++l) {
          cc.range((*bank)[l], -kMaxPositionMm, kMaxPositionMm,
                   name + "[" + std::to_string(l) + "]");
        }
      }
      cc.range(cp.jaw_x1_mm, -kMaxPositionMm, kMaxPositionMm, "jaw_x1_mm");
      cc.range(cp.jaw_x2_mm, -kMaxPositionMm, kMaxPositionMm, "jaw_x2_mm");
      cc.range(cp.jaw_y1_mm, -kMaxPositionMm, kMaxPositionMm, "jaw_y1_mm");
      cc.range(cp.jaw_y2_mm, -kMaxPositionMm, kMaxPositionMm, "jaw_y2_mm");
      if (cp.jaw_x1_mm > cp.jaw_x2_mm) {
        cc.fail("jaw_x1_mm = " + format_number(cp.jaw_x1_mm) +
                " lies beyond jaw_x2_mm = " + format_number(cp.jaw_x2_mm));
      }
      if (cp.jaw_y1_mm > cp.jaw_y2_mm) {
        cc.fail("jaw_y1_mm = " + format_number(cp.jaw_y1_mm) +
                " lies beyond jaw_y2_mm = " + format_number(cp.jaw_y2_mm));
      }
      if (cp.dose_rate_mu_per_min) {
        cc.range(*cp.dose_rate_mu_per_min, 0.0, 10000.0, "dose_rate_mu_per_min");
      }
    }
  }
}

Plan plan_from_proto(const pb::Plan& msg, const std::string& where,
                     const PlanReadOptions& options) {
  const Checker top(where);
  if (msg.schema_version() != 1) {
    top.fail("schema_version = " + std::to_string(msg.schema_version()) + ", expected 1");
  }
  Plan plan;
  plan.label = msg.plan_label();
  plan.patient_id = msg.patient_id();
  plan.treatment_machine_name = msg.treatment_machine_name();
  const Checker rx = top.at("prescription");
  if (!msg.has_prescription()) top.fail("missing prescription");
  if (!msg.prescription().has_dose_gy()) rx.fail("missing dose_gy");
  if (!msg.prescription().has_fractions()) rx.fail("missing fractions");
  plan.prescription.target = msg.prescription().target();
  plan.prescription.dose_gy = msg.prescription().dose_gy();
  plan.prescription.fractions = msg.prescription().fractions();
  for (int b = 0; b < msg.beams_size(); ++b) {
    const pb::Beam& mb = msg.beams(b);
    const Checker bc =
        top.at("beam " + std::to_string(b + 1) + (mb.name().empty() ? "" : " '" + mb.name() + "'"));
    Beam beam;
    beam.number = mb.number();
    beam.name = mb.name();
    switch (mb.type()) {
      case pb::BEAM_STATIC:
        beam.type = BeamType::kStatic;
        break;
      case pb::BEAM_DYNAMIC:
        beam.type = BeamType::kDynamic;
        break;
      case pb::BEAM_ARC:
        beam.type = BeamType::kArc;
        break;
      default:
        bc.fail("missing or unknown beam type");
    }
    beam.radiation_type = mb.radiation_type().empty() ? "PHOTON" : mb.radiation_type();
    if (!mb.has_nominal_energy_mv()) bc.fail("missing nominal_energy_mv");
    if (!mb.has_beam_meterset_mu()) bc.fail("missing beam_meterset_mu");
    beam.nominal_energy_mv = mb.nominal_energy_mv();
    beam.meterset_mu = mb.beam_meterset_mu();
    beam.treatment_machine_name = mb.treatment_machine_name().empty() ? plan.treatment_machine_name
                                                                      : mb.treatment_machine_name();
    beam.leaf_boundaries_mm.assign(mb.leaf_boundaries_mm().begin(), mb.leaf_boundaries_mm().end());
    for (int i = 0; i < mb.control_points_size(); ++i) {
      const pb::ControlPoint& m = mb.control_points(i);
      const Checker cc = bc.at("control point " + std::to_string(i));
      if (!m.has_gantry_angle_deg()) cc.fail("missing gantry_angle_deg");
      if (!m.has_collimator_angle_deg()) cc.fail("missing collimator_angle_deg");
      if (!m.has_cumulative_meterset_weight()) cc.fail("missing cumulative_meterset_weight");
      if (!m.has_jaw_x1_mm() || !m.has_jaw_x2_mm() || !m.has_jaw_y1_mm() || !m.has_jaw_y2_mm()) {
        cc.fail("missing a jaw position (jaw_x1_mm, jaw_x2_mm, jaw_y1_mm, jaw_y2_mm)");
      }
      ControlPoint cp;
      cp.gantry_deg = m.gantry_angle_deg();
      cp.gantry_direction = from_pb(m.gantry_rotation_direction());
      cp.collimator_deg = m.collimator_angle_deg();
      cp.cumulative_meterset_weight = m.cumulative_meterset_weight();
      cp.leaf_a_mm.assign(m.leaf_positions_bank_a_mm().begin(), m.leaf_positions_bank_a_mm().end());
      cp.leaf_b_mm.assign(m.leaf_positions_bank_b_mm().begin(), m.leaf_positions_bank_b_mm().end());
      cp.jaw_x1_mm = m.jaw_x1_mm();
      cp.jaw_x2_mm = m.jaw_x2_mm();
      cp.jaw_y1_mm = m.jaw_y1_mm();
      cp.jaw_y2_mm = m.jaw_y2_mm();
      if (m.has_dose_rate_mu_per_min()) cp.dose_rate_mu_per_min = m.dose_rate_mu_per_min();
      beam.control_points.push_back(std::move(cp));
    }
    plan.beams.push_back(std::move(beam));
  }
  check_plan_structure(plan, where, options);
  return plan;
}

void plan_to_proto(const Plan& plan, pb::Plan* msg) {
  msg->Clear();
  msg->set_schema_version(1);
  msg->set_plan_label(plan.label);
  msg->set_patient_id(plan.patient_id);
  msg->set_treatment_machine_name(plan.treatment_machine_name);
  auto* rx = msg->mutable_prescription();
  rx->set_target(plan.prescription.target);
  rx->set_dose_gy(plan.prescription.dose_gy);
  rx->set_fractions(plan.prescription.fractions);
  for (const Beam& beam : plan.beams) {
    auto* mb = msg->add_beams();
    mb->set_number(beam.number);
    mb->set_name(beam.name);
    switch (beam.type) {
      case BeamType::kStatic:
        mb->set_type(pb::BEAM_STATIC);
        break;
      case BeamType::kDynamic:
        mb->set_type(pb::BEAM_DYNAMIC);
        break;
      case BeamType::kArc:
        mb->set_type(pb::BEAM_ARC);
        break;
    }
    mb->set_radiation_type(beam.radiation_type);
    mb->set_nominal_energy_mv(beam.nominal_energy_mv);
    mb->set_beam_meterset_mu(beam.meterset_mu);
    mb->set_treatment_machine_name(beam.treatment_machine_name);
    for (const double b : beam.leaf_boundaries_mm) mb->add_leaf_boundaries_mm(b);
    for (const ControlPoint& cp : beam.control_points) {
      auto* m = mb->add_control_points();
      m->set_gantry_angle_deg(cp.gantry_deg);
      m->set_gantry_rotation_direction(to_pb(cp.gantry_direction));
      m->set_collimator_angle_deg(cp.collimator_deg);
      m->set_cumulative_meterset_weight(cp.cumulative_meterset_weight);
      for (const double x : cp.leaf_a_mm) m->add_leaf_positions_bank_a_mm(x);
      for (const double x : cp.leaf_b_mm) m->add_leaf_positions_bank_b_mm(x);
      m->set_jaw_x1_mm(cp.jaw_x1_mm);
      m->set_jaw_x2_mm(cp.jaw_x2_mm);
      m->set_jaw_y1_mm(cp.jaw_y1_mm);
      m->set_jaw_y2_mm(cp.jaw_y2_mm);
      if (cp.dose_rate_mu_per_min) m->set_dose_rate_mu_per_min(*cp.dose_rate_mu_per_min);
    }
  }
}

Plan plan_from_json(const std::string& json, const std::string& where,
                    const PlanReadOptions& options) {
  pb::Plan msg;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &msg, opts);
  if (!status.ok()) {
    throw InputError(where, "bad plan JSON: " + std::string(status.message()));
  }
  return plan_from_proto(msg, where, options);
}

std::string plan_to_json(const Plan& plan) {
  pb::Plan msg;
  plan_to_proto(plan, &msg);
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  const auto status = google::protobuf::util::MessageToJsonString(msg, &out, opts);
  if (!status.ok()) throw std::runtime_error("plan to JSON: " + std::string(status.message()));
  return out;
}

namespace {
bool looks_like_dicom(const fs::path& path, const std::string& bytes) {
  return path.extension() == ".dcm" || (bytes.size() >= 132 && bytes.compare(128, 4, "DICM") == 0);
}
}  // namespace

std::string plan_checksum(const Plan& plan) {
  pb::Plan msg;
  plan_to_proto(plan, &msg);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    if (!msg.SerializeToCodedStream(&coded)) throw std::runtime_error("plan checksum: serialise");
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static const char* const kHex = "0123456789abcdef";
  std::string hex;
  for (const unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

Plan read_plan(const fs::path& path, const PlanReadOptions& options) {
  const std::string bytes = read_text_file(path);
  if (looks_like_dicom(path, bytes)) {
    auto imported = read_dicom_rtplan(path, options.leaf_pairs);
    if (options.notes != nullptr) {
      options.notes->insert(options.notes->end(), imported.notes.begin(), imported.notes.end());
    }
    return std::move(imported.plan);
  }
  if (path.extension() == ".json") return plan_from_json(bytes, path.string(), options);
  pb::Plan msg;
  if (!msg.ParseFromString(bytes)) {
    throw InputError(path.string(), "not a binary plan file (Protobuf parse failed after reading " +
                                        std::to_string(bytes.size()) +
                                        " bytes: truncated or corrupt)");
  }
  return plan_from_proto(msg, path.string(), options);
}

void write_plan(const fs::path& path, const Plan& plan) {
  check_plan_structure(plan, path.string());
  if (path.extension() == ".json") {
    const std::string text = plan_to_json(plan);
    write_file_atomically(path, {text});
    return;
  }
  pb::Plan msg;
  plan_to_proto(plan, &msg);
  std::string bytes;
  if (!msg.SerializeToString(&bytes)) throw std::runtime_error(path.string() + ": serialise");
  write_file_atomically(path, {bytes});
}

}  // namespace linac
