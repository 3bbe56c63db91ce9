// Function plumbing: inputs, global loads and stores, constants.
#include <cmath>

#include "codegen/ref/kernels.h"

namespace sinter::ref {

namespace {

// The evaluator has already checked every input against its declared type and bound B.
Status input(const Call& c, Tensor& out) {
  out.data = c.env.inputs.at(c.node.attrs.s("name")).data;
  return ok();
}

Status load(const Call& c, Tensor& out) {
  const std::string& name = c.node.attrs.s("global");
  auto it = c.env.globals.find(name);
  if (it == c.env.globals.end()) return Error(fmt::format("global '{}' is missing", name));
  const Tensor& g = it->second;
  if (g.dtype != out.dtype || g.dims != out.dims || g.data.size() != out.data.size())
    return Error(fmt::format("global '{}' is {} with {} elements, expected {}", name, formatType({g.dtype, g.dims}),
                             g.data.size(), formatType({out.dtype, out.dims})));
  out.data = g.data;
  return ok();
}

Status store(const Call& c, Tensor&) {
  c.env.stores[c.node.attrs.s("global")] = *c.in[0];
  return ok();
}

Status constant(const Call& c, Tensor& out) {
  const double v = c.node.attrs.f("value");
  if (out.dtype == DType::I32 && !(v == std::trunc(v) && std::fabs(v) <= 2147483648.0))
    return Error(fmt::format("constant {} is not an i32 value", formatFloat(v)));
  out.data[0] = v;
  return ok();
}

const KernelEntry kKernels[] = {
    {OpKind::Input, input},
    {OpKind::Load, load},
    {OpKind::Store, store},
    {OpKind::Constant, constant},
};

}  // namespace

std::span<const KernelEntry> structuralKernels() { return kKernels; }

}  // namespace sinter::ref
