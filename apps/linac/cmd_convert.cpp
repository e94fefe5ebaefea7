// `linac convert IN OUT`: plan files between JSON and binary Protobuf, checked on the way in.
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/formats/dicom_rtplan.hpp"
#include "linac/formats/plan_io.hpp"

namespace linac::cli {

int cmd_convert(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string in;
  std::string out;
  opts.add_options()("input", po::value(&in)->required(),
                     "plan file (.json, binary .pb, or DICOM RT Plan .dcm)")(
      "output", po::value(&out)->required(), "plan file to write (.json, binary .pb, or .dcm)");
  po::positional_options_description pos;
  pos.add("input", 1).add("output", 1);
  po::variables_map vm;
  if (!parse("convert", "IN OUT [--json]", opts, pos, args, vm)) return kOk;
  const Plan plan = read_plan(in);
  if (std::filesystem::path(out).extension() == ".dcm") {
    write_dicom_rtplan(out, plan, default_machine_profile().mlc.leaf_boundaries_mm);
  } else {
    write_plan(out, plan);
  }
  std::size_t cps = 0;
  for (const auto& b : plan.beams) cps += b.control_points.size();
  if (vm.count("json") != 0) {
    nlohmann::json j = {{"input", in},
                        {"output", out},
                        {"plan_label", plan.label},
                        {"beams", plan.beams.size()},
                        {"control_points", cps},
                        {"total_mu", plan.total_mu()}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "converted " << in << " -> " << out << ": " << plan.beams.size() << " beams, "
              << cps << " control points, " << plan.total_mu() << " MU\n";
  }
  return kOk;
}

}  // namespace linac::cli
