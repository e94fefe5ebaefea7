// `linac case make`: writes the built-in patient as a case folder, with preview pictures.
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/image_png.hpp"
#include "linac/core/mask.hpp"
#include "linac/simulators/phantom.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

int cmd_case_make(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string out;
  sim::PhantomOptions phantom;
  opts.add_options()("out", po::value(&out)->required(), "case folder to write")(
      "seed", po::value(&phantom.seed)->default_value(sim::kDefaultPatientSeed),
      "variant of the built-in patient")(
      "spacing-mm", po::value(&phantom.spacing_mm)->default_value(2.5),
      "isotropic voxel size in mm, 0.5 to 10")("no-compress", "write uncompressed .mha files");
  po::variables_map vm;
  if (!parse("case make", "--out DIR [--seed N] [--spacing-mm S] [--json]", opts, {}, args, vm)) {
    return kOk;
  }
  if (!(phantom.spacing_mm >= 0.5 && phantom.spacing_mm <= 10.0)) {
    throw InputError("--spacing-mm", "must lie in [0.5, 10] mm");
  }
  const Case c = sim::make_builtin_patient(phantom);
  const fs::path dir(out);
  save_case(c, dir, vm.count("no-compress") == 0);

  // Previews through the liver's centroid with the main structures outlined.
  const Structure& liver = c.get("liver");
  const Eigen::Vector3d centre = c.ct.grid().world_mm_to_index(centroid_mm(liver.mask));
  const std::vector<Overlay> overlays = {
      {&c.get("body").mask, {255, 255, 0}},         {&liver.mask, {0, 160, 255}},
      {&c.get("GTV").mask, {255, 40, 40}},          {&c.get("kidney_left").mask, {0, 220, 0}},
      {&c.get("kidney_right").mask, {0, 220, 0}},   {&c.get("stomach").mask, {255, 140, 0}},
      {&c.get("duodenum").mask, {200, 0, 200}},     {&c.get("bowel").mask, {160, 100, 40}},
      {&c.get("spinal_cord").mask, {255, 255, 255}}};
  const struct {
    SliceAxis axis;
    int component;
    const char* name;
  } views[] = {{SliceAxis::kAxial, 2, "preview_axial.png"},
               {SliceAxis::kCoronal, 1, "preview_coronal.png"},
               {SliceAxis::kSagittal, 0, "preview_sagittal.png"}};
  std::vector<std::string> written = {(dir / "case.json").string()};
  for (const auto& v : views) {
    const auto index = static_cast<std::int64_t>(std::lround(centre[v.component]));
    write_slice_png(dir / v.name, c.ct, v.axis, index, 40.0, 400.0, overlays);
    written.push_back((dir / v.name).string());
  }

  if (vm.count("json") != 0) {
    auto j = case_summary_json(c);
    j["case_dir"] = dir.string();
    j["files"] = written;
    std::cout << j.dump(2) << "\n";
  } else {
    print_case_summary(c);
    std::cout << "wrote " << dir.string() << " (case.json, ct.mha, " << c.structures.size()
              << " masks, 3 previews)\n";
  }
  return kOk;
}

}  // namespace linac::cli
