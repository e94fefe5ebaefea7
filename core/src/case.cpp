#include "linac/core/case.hpp"

#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"

namespace linac {

const Structure* Case::find(const std::string& structure_name) const {
  for (const auto& s : structures) {
    if (s.name == structure_name) return &s;
  }
  return nullptr;
}

const Structure& Case::get(const std::string& structure_name) const {
  if (const auto* s = find(structure_name)) return *s;
  std::string names;
  for (const auto& s : structures) names += (names.empty() ? "" : ", ") + s.name;
  throw InputError("case '" + this->name + "'",
                   "unknown structure '" + structure_name + "' (the case has: " + names + ")");
}

Eigen::Vector3d treatment_isocentre_mm(const Case& c) {
  for (const char* name : {"PTV", "liver"}) {
    if (const Structure* s = c.find(name)) {
      if (count_voxels(s->mask) > 0) return centroid_mm(s->mask);
    }
  }
  const Grid& g = c.ct.grid();
  return g.index_to_world_mm(0.5 * Eigen::Vector3d(static_cast<double>(g.dims[0] - 1),
                                                   static_cast<double>(g.dims[1] - 1),
                                                   static_cast<double>(g.dims[2] - 1)));
}

namespace {
template <typename T>
Volume<T> shifted(const Volume<T>& v, const Eigen::Vector3d& iso) {
  Grid g = v.grid();
  g.origin_mm -= iso;
  Volume<T> out(g);
  out.data() = v.data();
  return out;
}
}  // namespace

ImageHU centred_on(const ImageHU& image, const Eigen::Vector3d& iso) {
  return shifted(image, iso);
}
Mask centred_on(const Mask& mask, const Eigen::Vector3d& iso) {
  return shifted(mask, iso);
}

}  // namespace linac
