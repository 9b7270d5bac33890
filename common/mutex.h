// Mutex, MutexLock, UniqueLock: std::mutex with clang's thread-safety annotations, so the lock
// rules written next to each lock are checked by the compiler, not only stated.
//
//   mutable Mutex mu_ ACQUIRED_AFTER(other_mu_);   // what it guards, written here
//   std::map<K, V> items_ GUARDED_BY(mu_);          // reading or writing needs mu_
//   void TrimLocked() REQUIRES(mu_);                // callers hold mu_
//   void Refresh() EXCLUDES(mu_);                   // callers must not (it takes mu_)
//
// `scripts/thread-safety` compiles the annotated sources with clang -Wthread-safety
// -Werror (a tier of scripts/test); with GCC the annotations expand to nothing. Mutex is
// exactly a std::mutex (same size, same cost) and works with std::condition_variable_any, or
// with std::condition_variable through UniqueLock::native().
#pragma once

#include <mutex>

#if defined(__clang__)
#define GF_TSA(x) __attribute__((x))
#else
#define GF_TSA(x)
#endif

#define CAPABILITY(x) GF_TSA(capability(x))
#define SCOPED_CAPABILITY GF_TSA(scoped_lockable)
#define GUARDED_BY(x) GF_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) GF_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) GF_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) GF_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) GF_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) GF_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) GF_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) GF_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) GF_TSA(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) GF_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS GF_TSA(no_thread_safety_analysis)

namespace gf {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // For std::condition_variable (through UniqueLock::native()).
  std::mutex& native() { return mu_; }
  // Tells the analysis that the caller holds this mutex (e.g. inside a wait predicate).
  void AssertHeld() const GF_TSA(assert_capability(this)) {}

 private:
  std::mutex mu_;
};

// lock_guard for Mutex.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// unique_lock for Mutex: can be released and re-taken, and waited on with a
// std::condition_variable (`cv.wait(lock.native(), ...)`).
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.native()) {}
  ~UniqueLock() RELEASE() {}
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;
  void lock() ACQUIRE() { lock_.lock(); }
  void unlock() RELEASE() { lock_.unlock(); }
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace gf
