// The plan runner's thread pool (see thread_pool.h).
#include "runtime/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sinter {

namespace {
inline void pause() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
constexpr int kSpins = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

// Takes tasks until none is left.
void ThreadPool::drain(int64_t count, Task task, void* context) {
  for (;;) {
    const int64_t i = next_.fetch_add(1, std::memory_order_acq_rel);
    if (i >= count) return;
    task(context, i);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n, Task task, void* context) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) task(context, i);
    return;
  }
  // A worker still holding the previous job (it found no task left) must let go before the shared
  // counter is reset, or it could take a task of this job with the old one's function.
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (active_.load(std::memory_order_acquire) != 0) {
      lock.unlock();
      pause();
      continue;
    }
    task_ = task;
    context_ = context;
    count_ = n;
    next_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    break;
  }
  wake_.notify_all();
  drain(n, task, context);
  while (done_.load(std::memory_order_acquire) < n) pause();
}

void ThreadPool::work() {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little for the next job, then sleep until one comes.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && ++spins < kSpins) pause();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    std::unique_lock<std::mutex> lock(mutex_);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    const int64_t count = count_;
    const Task task = task_;
    void* const context = context_;
    active_.fetch_add(1, std::memory_order_acq_rel);
    lock.unlock();
    drain(count, task, context);
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace sinter
