#include "linac/planning/structures.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

namespace {
std::int16_t to_hu(double v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -1024L, 3071L));
}
}  // namespace

ImageHU average_intensity_projection(const std::vector<ImageHU>& phases) {
  if (phases.empty()) throw InputError("AIP", "no phases");
  ImageHU out(phases[0].grid());
  for (const auto& p : phases) {
    if (!p.grid().same_as(out.grid())) throw InputError("AIP", "phases on different grids");
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < static_cast<std::int64_t>(out.size()); ++n) {
    double s = 0.0;
    for (const auto& p : phases) s += p[static_cast<std::size_t>(n)];
    out[static_cast<std::size_t>(n)] = to_hu(s / static_cast<double>(phases.size()));
  }
  return out;
}

ImageHU maximum_intensity_projection(const std::vector<ImageHU>& phases) {
  if (phases.empty()) throw InputError("MIP", "no phases");
  ImageHU out = phases[0];
  for (const auto& p : phases) {
    if (!p.grid().same_as(out.grid())) throw InputError("MIP", "phases on different grids");
    for (std::size_t n = 0; n < out.size(); ++n) out[n] = std::max(out[n], p[n]);
  }
  return out;
}

Mask mean_position_mask(const std::vector<Mask>& per_phase) {
  if (per_phase.empty()) throw InputError("mask", "no phases");
  // Shape averaging: the mean of the phases' signed distance maps, inside where it is negative.
  Volume<float> mean(per_phase[0].grid(), 0.0F);
  for (const auto& m : per_phase) {
    if (!m.grid().same_as(mean.grid())) throw InputError("mask", "phases on different grids");
    const Volume<float> d = signed_distance_map_mm(m);
    for (std::size_t n = 0; n < mean.size(); ++n) mean[n] += d[n];
  }
  return mean.map<std::uint8_t>([](float v) { return v < 0.0F ? 1 : 0; });
}

SpectFusion fuse_spect(const ImageHU& planning_ct, const Mask& body, const ImageHU& spect_ct,
                       const Volume<float>& spect, RegistrationOptions options) {
  if (!body.grid().same_as(planning_ct.grid())) {
    throw InputError("body", "is not on the planning CT's grid");
  }
  options.fixed_mask = &body;
  SpectFusion out;
  out.registration = register_rigid(to_float(planning_ct), to_float(spect_ct), options);
  out.spect_on_planning = resample(spect, planning_ct.grid(), Interpolation::kLinear, 0.0F,
                                   out.registration.fixed_to_moving);
  return out;
}

FunctionalStructures make_functional_structures(const Mask& liver, const Mask& body,
                                                const Volume<float>& spect,
                                                const StructureOptions& o) {
  if (!(o.threshold > 0.0 && o.threshold <= 1.0)) {
    throw InputError("threshold", format_number(o.threshold) + " is outside (0, 1]");
  }
  if (!(o.margin_mm >= 0.0) || !std::isfinite(o.margin_mm)) {
    throw InputError("margin_mm", format_number(o.margin_mm) + " must be 0 or more");
  }
  if (!liver.grid().same_as(spect.grid()) || !liver.grid().same_as(body.grid())) {
    throw InputError("structures", "liver, body and SPECT must share the planning grid");
  }
  if (count_voxels(liver) == 0) throw InputError("liver", "the liver mask is empty");
  FunctionalStructures s;
  for (std::size_t n = 0; n < liver.size(); ++n) {
    if (liver[n] != 0) s.spect_max = std::max(s.spect_max, static_cast<double>(spect[n]));
  }
  if (!(s.spect_max > 0.0)) {
    throw InputError("SPECT", "no uptake inside the liver (is the SPECT fused to this CT?)");
  }
  const double cut = o.threshold * s.spect_max;
  s.fls = Mask(liver.grid(), 0);
  for (std::size_t n = 0; n < liver.size(); ++n) {
    s.fls[n] = liver[n] != 0 && static_cast<double>(spect[n]) >= cut ? 1 : 0;
  }
  s.itv = mask_difference(liver, s.fls);
  s.ptv = mask_intersection(expand_mm(s.itv, o.margin_mm), body);
  return s;
}

}  // namespace linac::planning
