// Optimization and code generation of a kernel module on several threads.
//
// A module's kernels are independent functions (NAME, with its always-inlined NAME.body, and the
// shared helpers sinter.*), so they can be compiled apart: the module is cut into parts of about
// equal size by kernel, each part travels as bitcode into an LLVMContext of its own (a context is
// single-threaded), and each thread runs the same pipeline and emits an object file. Every global
// variable (the AOT plan tables) stays in part 0; kernels that other parts reference become
// external symbols. The code of each kernel is what a single-module compile gives: the passes that
// matter are per function.
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <map>
#include <thread>

#include "codegen/cpu/jit.h"

namespace sinter::cpu {

namespace {

// The kernel a function belongs to: its name up to the first '.'.
std::string kernelOf(const llvm::Function& f) { return f.getName().split('.').first.str(); }

// Each kernel's size in IR instructions.
std::map<std::string, size_t> kernelSizes(const llvm::Module& m) {
  std::map<std::string, size_t> size;
  for (const llvm::Function& f : m)
    if (!f.isDeclaration()) size[kernelOf(f)] += f.getInstructionCount();
  return size;
}

// Assigns each kernel to a part, largest first to the lightest part.
std::map<std::string, int> assignParts(const std::map<std::string, size_t>& size, int parts) {
  std::vector<std::pair<size_t, std::string>> bySize;
  for (const auto& [name, n] : size) bySize.emplace_back(n, name);
  std::sort(bySize.begin(), bySize.end(), std::greater<>());
  std::vector<size_t> load(parts, 0);
  std::map<std::string, int> part;
  for (const auto& [n, name] : bySize) {
    const int p = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    part[name] = p;
    load[p] += n;
  }
  return part;
}

// Part `p` of `m` as bitcode: its kernels' definitions (others become declarations) and, in part 0,
// every global variable.
std::string partBitcode(const llvm::Module& m, const std::map<std::string, int>& part, int p) {
  llvm::ValueToValueMapTy map;
  std::unique_ptr<llvm::Module> cut = llvm::CloneModule(m, map, [&](const llvm::GlobalValue* gv) {
    if (const auto* f = llvm::dyn_cast<llvm::Function>(gv)) return part.at(kernelOf(*f)) == p;
    return p == 0;
  });
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  llvm::WriteBitcodeToFile(*cut, os);
  return os.str();
}

// One module through the pipeline to an object file, with a target machine of its own (a target
// machine is not shared between threads).
Expected<std::string> compileModule(llvm::Module& m, const CodegenOptions& options) {
  Expected<std::unique_ptr<llvm::TargetMachine>> tm = makeTargetMachine(options);
  if (!tm) return tm.error();
  optimizeModule(m, **tm, options);
  return emitMachineCode(m, **tm, false);
}

Expected<std::string> compilePart(const std::string& bitcode, const CodegenOptions& options) {
  llvm::LLVMContext ctx;
  auto m = llvm::parseBitcodeFile(llvm::MemoryBufferRef(bitcode, "part"), ctx);
  if (!m) return Error("internal error: cannot read back a module part: " + llvm::toString(m.takeError()));
  return compileModule(**m, options);
}

}  // namespace

Expected<std::vector<std::string>> compileToObjects(llvm::Module& m, const CodegenOptions& options, int threads) {
  const std::map<std::string, size_t> sizes = kernelSizes(m);
  const int parts = std::max(1, std::min(threads, static_cast<int>(sizes.size())));
  if (parts == 1) {
    Expected<std::string> object = compileModule(m, options);
    if (!object) return object.error();
    return std::vector<std::string>{object.take()};
  }
  // Kernels and the helpers they share are referenced across parts (the plan in part 0 names every
  // kernel); only a kernel's NAME.body, inlined into it, stays local.
  for (llvm::Function& f : m)
    if (!f.isDeclaration() && f.hasLocalLinkage() && !f.getName().ends_with(".body"))
      f.setLinkage(llvm::GlobalValue::ExternalLinkage);
  const std::map<std::string, int> kernels = assignParts(sizes, parts);
  std::vector<std::string> bitcode;
  for (int p = 0; p < parts; ++p) bitcode.push_back(partBitcode(m, kernels, p));
  std::vector<Expected<std::string>> objects(parts, Error("not compiled"));
  std::vector<std::thread> workers;
  for (int p = 1; p < parts; ++p)
    workers.emplace_back([&, p] { objects[p] = compilePart(bitcode[p], options); });
  objects[0] = compilePart(bitcode[0], options);
  for (std::thread& w : workers) w.join();
  std::vector<std::string> out;
  for (Expected<std::string>& o : objects) {
    if (!o) return o.error();
    out.push_back(o.take());
  }
  return out;
}

}  // namespace sinter::cpu
