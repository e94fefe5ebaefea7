// `linac validate PLAN`: checks a plan against the machine profile. Exit 0 when deliverable,
// 3 when not, 2 when the file cannot be read.
#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "linac/delivery/validator.hpp"
#include "linac/formats/plan_io.hpp"

namespace linac::cli {

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string plan_path;
  std::string profile_path;
  opts.add_options()("plan", po::value(&plan_path)->required(), "plan file (.json or binary .pb)")(
      "profile", po::value(&profile_path), "machine profile (default: machines/clinac-ix.json)");
  po::positional_options_description pos;
  pos.add("plan", 1);
  po::variables_map vm;
  if (!parse("validate", "PLAN [--profile FILE] [--json]", opts, pos, args, vm)) return kOk;
  const MachineProfile profile =
      profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  std::vector<std::string> notes;
  const Plan plan = read_plan(plan_path, {profile.mlc.leaf_pairs, &notes});
  const auto report = delivery::validate_plan(plan, profile);
  if (vm.count("json") != 0) {
    auto j = nlohmann::json::parse(report.to_json());
    j["notes"] = notes;  // what reading the plan assumed
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%-12s %6s %10s %14s\n", "beam", "CPs", "MU", "beam-on (s)");
    for (const auto& b : report.beams) {
      std::printf("%-12s %6d %10.1f %14.1f\n", b.name.c_str(), b.control_points, b.mu,
                  b.predicted_beam_on_s);
    }
    for (const auto& v : report.violations) std::cout << "violation: " << v.message << "\n";
    for (const auto& v : report.warnings) std::cout << "warning: " << v.message << "\n";
    for (const auto& note : notes) std::cout << "note: " << note << "\n";
    for (const auto& line : delivery::summarise(report.adjustments)) {
      std::cout << "adjusted: " << line << "\n";
    }
    std::cout << (report.deliverable ? "deliverable on " : "NOT deliverable on ")
              << profile.machine_name << " (" << report.violations.size() << " violations, "
              << report.adjustments.size() << " leaf pairs adjusted)\n";
  }
  return report.deliverable ? kOk : kNotDeliverable;
}

}  // namespace linac::cli
