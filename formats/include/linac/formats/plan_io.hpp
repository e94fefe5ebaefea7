#pragma once
// The project's plan file (proto/linac/plan.proto) as binary Protobuf or JSON, converted to and
// from the plan model at this edge and checked on the way in: sizes, ranges, finite numbers.
// Machine limits (leaf travel, speeds, MU per degree) are the delivery validator's business.
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/plan.hpp"

namespace linac {

namespace pb {
class Plan;
}

struct PlanReadOptions {
  int leaf_pairs = kMillennium120LeafPairs;
  /// When given, what the reader assumed (a DICOM plan's beam without an MLC had its leaves
  /// opened to the jaws, a plan without a prescription, ...), one line each, is appended here.
  std::vector<std::string>* notes = nullptr;
};

/// Structural check of a plan; throws InputError naming `where`, beam, control point and field.
void check_plan_structure(const Plan& plan, const std::string& where,
                          const PlanReadOptions& options = {});

Plan plan_from_proto(const pb::Plan& msg, const std::string& where,
                     const PlanReadOptions& options = {});
void plan_to_proto(const Plan& plan, pb::Plan* msg);

Plan plan_from_json(const std::string& json, const std::string& where,
                    const PlanReadOptions& options = {});
std::string plan_to_json(const Plan& plan);

/// SHA-256 (hex) of the plan's deterministic Protobuf encoding: every value delivery depends on.
/// Recorded at validation and checked again at beam on; any edit in between changes it.
std::string plan_checksum(const Plan& plan);

/// `.json` is read as JSON, a DICOM file (`.dcm`, or "DICM" at byte 128) as a DICOM RT Plan,
/// anything else as binary Protobuf. Throws InputError.
Plan read_plan(const std::filesystem::path& path, const PlanReadOptions& options = {});
/// `.json` is written as JSON, anything else as binary Protobuf.
void write_plan(const std::filesystem::path& path, const Plan& plan);

}  // namespace linac
