// A small persistent thread pool for the plan runner: the calling thread works too, workers spin
// briefly before sleeping so back-to-back kernels start fast, and nothing is allocated per job.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace sinter {

// What splits a kernel call's slices over threads: the host pool below, or OpenMP's team where a
// library (oneDNN) already runs on it, so that one set of threads serves both.
class Workers {
 public:
  virtual ~Workers() = default;
  virtual int size() const = 0;
  // Calls task(context, i) for i in [0, n), spread over the threads; returns when all are done.
  using Task = void (*)(void* context, int64_t i);
  virtual void run(int64_t n, Task task, void* context) = 0;
};

class ThreadPool final : public Workers {
 public:
  // `threads` counts the caller: 1 runs everything inline; 0 means all hardware threads.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const override { return static_cast<int>(workers_.size()) + 1; }
  void run(int64_t n, Task task, void* context) override;

 private:
  void work();
  void drain(int64_t count, Task task, void* context);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> active_{0};  // workers holding a copy of the current job
  int64_t count_ = 0;
  Task task_ = nullptr;
  void* context_ = nullptr;
  bool stop_ = false;
};

}  // namespace sinter
