#pragma once
// The dose engine's internal pieces (planning/src only): the ray traces (depth_field.hpp) and the
// fluence maps blurred by the beam model's kernels (kernel_maps.hpp).
#include "depth_field.hpp"  // IWYU pragma: export
#include "kernel_maps.hpp"  // IWYU pragma: export
